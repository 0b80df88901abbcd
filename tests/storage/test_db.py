"""storage.db: one call, one transaction, on the driver's thread (SQLite) or psycopg's async connection."""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

import storage.db
from storage.db import Database, SQLiteDatabase, open_database
from storage.errors import DatabaseUnavailableError, DatabaseUrlError


def test_aiosqlite_still_runs_a_function_on_its_thread() -> None:
    """storage.db relies on aiosqlite's one internal call, ``Connection._execute(fn, *args)``: a release that
    renames or changes it must fail here, not in production."""
    execute = getattr(aiosqlite.Connection, "_execute", None)
    assert execute is not None and inspect.iscoroutinefunction(execute)
    assert list(inspect.signature(execute).parameters) == ["self", "fn", "args", "kwargs"]


async def _sqlite(tmp_path: Path, name: str = "t.db") -> SQLiteDatabase:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / name}")
    assert isinstance(db, SQLiteDatabase)
    await db.write(lambda conn: conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)")))
    return db


async def test_a_whole_transaction_is_one_crossing_to_the_driver_thread(tmp_path: Path) -> None:
    db = await _sqlite(tmp_path)
    try:
        before = db.crossings

        def nine_statements(conn: Connection) -> int:
            for n in range(8):
                conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())

        counted = await db.write(nine_statements)
        assert counted == 8
        assert db.crossings - before == 1
    finally:
        await db.close()


async def test_a_failing_body_rolls_its_whole_transaction_back(tmp_path: Path) -> None:
    db = await _sqlite(tmp_path)
    try:

        def half_then_fail(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("the body broke")

        with pytest.raises(RuntimeError, match="the body broke"):
            await db.write(half_then_fail)
        rows = await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar_one())
    finally:
        await db.close()
    assert rows == 0


async def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = await _sqlite(tmp_path)
    await db.write(lambda conn: conn.execute(text("INSERT INTO t VALUES (1)")))
    holding, release = threading.Event(), threading.Event()

    def slow_writer(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        holding.set()
        release.wait(10)  # the write lock stays held on the writer's thread

    try:
        writer = asyncio.ensure_future(db.write(slow_writer))
        await asyncio.to_thread(holding.wait, 5)
        async with asyncio.timeout(2):  # would wait for the writer's 30 s busy timeout
            seen = await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar_one())
        release.set()
        await writer
    finally:
        release.set()
        await db.close()
    assert seen == 1  # the committed row, not the writer's uncommitted one


async def test_sqlite_pragmas_are_set_on_the_writer_and_on_every_reader(tmp_path: Path) -> None:
    db = await _sqlite(tmp_path)

    def pragmas(conn: Connection) -> dict[str, object]:
        names = ("journal_mode", "foreign_keys", "busy_timeout")
        return {name: conn.execute(text(f"PRAGMA {name}")).scalar_one() for name in names}

    try:
        seen = [await db.write(pragmas)] + [await db.read(pragmas) for _ in range(storage.db.SQLITE_READERS)]
    finally:
        await db.close()
    assert seen == [{"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}] * len(seen)


async def test_sqlite_writers_of_one_process_take_turns_without_the_busy_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SQLite's busy timeout at 0, a writer that met the lock held would fail at once with "database is
    locked": none does, because one process's writes share one connection and queue on its thread."""
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 0)
    db = await _sqlite(tmp_path)

    def writer(conn: Connection, n: int) -> None:
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        conn.execute(text("UPDATE t SET x = x + 1000 WHERE x = :n"), {"n": n})

    try:
        await asyncio.gather(*(db.write(writer, n) for n in range(60)))
        rows = await db.read(lambda conn: sorted(conn.execute(text("SELECT x FROM t")).scalars()))
    finally:
        await db.close()
    assert rows == [n + 1000 for n in range(60)]


async def test_two_databases_on_one_file_wait_for_each_other_as_two_processes_do(tmp_path: Path) -> None:
    first, second = await _sqlite(tmp_path), await _sqlite(tmp_path)

    def writer(conn: Connection, n: int) -> None:
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    try:
        await asyncio.gather(*(((first, second)[n % 2]).write(writer, n) for n in range(40)))
        rows = await first.read(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar_one())
    finally:
        await first.close()
        await second.close()
    assert rows == 40


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("not a url", "does not parse"),
        ("mysql://root@127.0.0.1/test", "'mysql'"),
    ],
)
async def test_a_database_url_that_cannot_be_used_is_refused_in_one_line(url: str, names: str) -> None:
    with pytest.raises(DatabaseUrlError, match=names) as refused:
        await open_database(url)
    assert "DATABASE_URL" in str(refused.value) and "\n" not in str(refused.value)


async def test_a_sqlite_file_in_a_missing_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError, match="DATABASE_URL: cannot open the SQLite file") as refused:
        await open_database(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    assert "\n" not in str(refused.value)


@pytest.mark.postgres
async def test_a_postgres_database_that_does_not_exist_is_refused_in_one_line(postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="bhiv_no_such_database").render_as_string(hide_password=False)
    with pytest.raises(DatabaseUnavailableError, match="is the server up and the database created") as refused:
        await open_database(url)
    assert "bhiv_no_such_database" in str(refused.value) and "\n" not in str(refused.value)


async def test_the_database_clock_is_aware_utc(db: Database) -> None:
    now = await db.server_time()
    assert now.utcoffset() is not None and now.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced_before_use(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def select_one(conn: Connection) -> int:
        return int(conn.execute(text("SELECT 1")).scalar_one())

    await db.read(select_one)  # a connection in the pool now
    admin = await open_database(database_url)
    try:
        killed = await admin.write(
            lambda conn: conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).scalar_one()
        )
    finally:
        await admin.close()
    monkeypatch.setattr(storage.db, "PING_IDLE_S", 0.0)  # as if it had been idle for longer than the threshold

    assert killed >= 1
    assert await db.read(select_one) == 1  # pinged, found dead, replaced: the caller never sees it
