from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

import storage.engine
from storage.engine import create_engine, read_only


async def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        writer_holds_lock = asyncio.Event()
        release = asyncio.Event()

        async def writer() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))
                writer_holds_lock.set()
                await release.wait()

        task = asyncio.create_task(writer())
        await writer_holds_lock.wait()
        async with asyncio.timeout(2), read_only(engine).connect() as conn:  # would wait 30 s for the lock
            seen = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
        release.set()
        await task
    finally:
        await engine.dispose()

    assert seen == 1  # the committed row, not the writer's uncommitted one


async def test_sqlite_pragmas_are_set_on_every_connection(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            values = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()

    assert values == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


async def test_sqlite_writers_in_one_process_take_turns_without_the_busy_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SQLite's busy timeout at 0, a writer that met the lock held would fail at once with "database is
    locked": none does, because writers to one file queue in the event loop, even across two engines."""
    monkeypatch.setattr(storage.engine, "SQLITE_BUSY_TIMEOUT_MS", 0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    engines = [create_engine(url), create_engine(url)]
    try:
        async with engines[0].begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))

        async def writer(n: int) -> None:
            async with engines[n % 2].begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                await asyncio.sleep(0)  # let the others try to begin while this one holds the lock
                await conn.execute(text("UPDATE t SET x = x + 1000 WHERE x = :n"), {"n": n})

        await asyncio.gather(*(writer(n) for n in range(60)))
        async with read_only(engines[0]).connect() as conn:
            rows = sorted((await conn.execute(text("SELECT x FROM t"))).scalars())
    finally:
        for engine in engines:
            await engine.dispose()

    assert rows == [n + 1000 for n in range(60)]
