"""One call, one transaction: ``await db.write(fn, *args)`` runs ``fn(conn, *args)`` whole, then commits.

A transaction body is a plain synchronous function of a SQLAlchemy ``Connection``: it cannot await anything,
so no transaction ever stays open while the event loop does other work, and a write lock is held only for as
long as its statements take. The statements are SQLAlchemy Core, compiled once per dialect and cached by
SQLAlchemy; the body runs where the driver is:

- SQLite, through aiosqlite: the body runs on the thread of an aiosqlite connection, against a SQLAlchemy
  connection wrapped around aiosqlite's own ``sqlite3`` connection. A whole transaction is one crossing from
  the event loop to that thread and back, whatever its statement count (SQLAlchemy's async adapter made about
  four a statement). Writes share one connection, so writers of one process queue in its thread's queue, in
  order, without a lock; reads have their own connections and never wait for a writer (WAL). Other processes
  on the same file meet SQLite's busy timeout.
- PostgreSQL, through psycopg's async connection: the body runs in SQLAlchemy's ``run_sync`` on a pooled
  connection, each statement one round trip on the event loop, no thread involved.

aiosqlite has no public call for "run this function on your thread"; ``_execute`` is the one every public
method of it goes through, and ``tests/storage/test_db.py`` fails loudly should a release change it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import aiosqlite
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidatePoolError
from sqlalchemy.pool import StaticPool

from storage.errors import DatabaseUnavailableError, DatabaseUrlError, DriverMissingError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

Notice = tuple[str, str]  # (channel, payload)
P = ParamSpec("P")
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_READERS = 2
PING_IDLE_S = 10.0  # a pooled connection unused this long is pinged before it is handed out
LISTEN_PING_S = 30.0  # a silent listening connection is checked this often (a lost network says nothing)
LISTEN_PING_TIMEOUT_S = 10.0
POSTGRES_INSTALL_HINT = "pip install -e '.[postgres]'"


class Database(Protocol):
    """Where transactions run. ``write`` may write; ``read`` only reads (on SQLite: takes no write lock)."""

    @property
    def dialect(self) -> str: ...

    async def write(self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

    async def read(self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

    async def maintain(self, fn: Callable[[Connection], T], /) -> T:
        """Run ``fn`` on the writing connection outside any transaction: it begins and ends its own. For schema
        migrations, which on SQLite must switch foreign keys off (a pragma that a transaction ignores) while
        they copy a table, or dropping the old copy would cascade to the rows that point at it."""
        ...

    async def server_time(self) -> datetime:
        """The database's clock (the one that processes on several machines share)."""
        ...

    @property
    def can_listen(self) -> bool:
        """Whether ``listen`` hears other processes (PostgreSQL's LISTEN/NOTIFY; SQLite has none)."""
        ...

    def listen(self, channels: Sequence[str]) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Notice]]:
        """A connection of its own that listens on ``channels``: an iterator of (channel, payload), which ends or
        raises when the connection is lost."""
        ...

    def sync_engines(self) -> list[Engine]:
        """The engines statements run on (for instrumentation: statement counts in the benchmark)."""
        ...

    async def close(self) -> None: ...


def parse_url(url: str) -> str:
    """The backend of ``url`` ("sqlite" or "postgresql"), or DatabaseUrlError naming what is wrong."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise DatabaseUrlError(
            "DATABASE_URL does not parse as a database URL; use sqlite+aiosqlite:////abs/path/bot.db "
            "or postgresql+psycopg://user@host/db"
        ) from exc
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"DATABASE_URL names {backend!r}; bhiv-bot runs on sqlite or postgresql")
    return backend


def redact_url(url: str) -> str:
    """The URL with its password hidden, for log lines."""
    return make_url(url).render_as_string(hide_password=True)


async def open_database(url: str, *, pool_size: int = 10) -> Database:
    """Connect to ``url`` and check that it answers; DatabaseError subclasses say why not, in one line."""
    if parse_url(url) == "sqlite":
        return await SQLiteDatabase.open(url)
    return await PostgresDatabase.open(url, pool_size=pool_size)


# -- SQLite ----------------------------------------------------------------------------------------------------


class _Lane:
    """One aiosqlite connection (one thread) and the SQLAlchemy connection that runs on it."""

    def __init__(self, raw: aiosqlite.Connection, conn: Connection) -> None:
        self.raw = raw
        self.conn = conn
        self.crossings = 0

    @classmethod
    async def open(cls, path: str, *, begin: str) -> _Lane:
        raw = await aiosqlite.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn = await raw._execute(_wrap, raw._conn, begin)
        except BaseException:
            await raw.close()
            raise
        return cls(raw, conn)

    async def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self.crossings += 1
        return await self.raw._execute(_transaction, self.conn, fn, args, kwargs)

    async def close(self) -> None:
        try:
            await self.raw._execute(self.conn.close)
        finally:
            await self.raw.close()


def _wrap(raw: sqlite3.Connection, begin: str) -> Connection:
    """On the lane's thread: set the connection up and put a SQLAlchemy connection around it."""
    for pragma in (
        "PRAGMA journal_mode=WAL",  # readers never block the writer, nor it them
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",  # writers of other processes wait their turn
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",  # durable at each checkpoint, and no fsync per commit (WAL)
    ):
        raw.execute(pragma)
    engine = create_sync_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool, pool_reset_on_return=None)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock at BEGIN, so a transaction that reads and then writes is never refused
        # its upgrade half-way with "database is locked".
        connection.exec_driver_sql(begin)

    return engine.connect()


def _transaction(conn: Connection, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    with conn.begin():
        return fn(conn, *args, **kwargs)


def _outside_transaction(conn: Connection, fn: Callable[[Connection], T]) -> T:
    try:
        return fn(conn)
    finally:
        if conn.in_transaction():  # whatever fn left open, it must not hold the write lock for the next caller
            conn.rollback()


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, writer: _Lane, readers: list[_Lane]) -> None:
        self._writer = writer
        self._readers = readers
        self._next_reader = itertools.cycle(readers)

    @classmethod
    async def open(cls, url: str) -> SQLiteDatabase:
        path = make_url(url).database or ":memory:"
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise DatabaseUnavailableError(
                f"DATABASE_URL: cannot open the SQLite file {path} (its folder does not exist); create the folder"
            )
        try:
            writer = await _Lane.open(path, begin="BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"DATABASE_URL: cannot open the SQLite file {path} ({exc})") from exc
        readers: list[_Lane] = []
        try:
            if path != ":memory:":  # an in-memory database is private to its one connection
                for _ in range(SQLITE_READERS):
                    readers.append(await _Lane.open(path, begin="BEGIN"))
        except BaseException as exc:
            await asyncio.gather(*(lane.close() for lane in [writer, *readers]), return_exceptions=True)
            if isinstance(exc, sqlite3.Error):
                raise DatabaseUnavailableError(f"DATABASE_URL: cannot open the SQLite file {path} ({exc})") from exc
            raise
        return cls(writer, readers or [writer])

    @property
    def crossings(self) -> int:
        """Calls from the event loop to a driver thread so far (each one a whole transaction)."""
        return self._writer.crossings + sum(lane.crossings for lane in self._readers if lane is not self._writer)

    async def write(self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._writer.run(fn, args, kwargs)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await next(self._next_reader).run(fn, args, kwargs)

    async def maintain(self, fn: Callable[[Connection], T], /) -> T:
        return await self._writer.raw._execute(_outside_transaction, self._writer.conn, fn)

    async def server_time(self) -> datetime:
        return datetime.now(UTC)  # every process on one SQLite file runs on the one machine that holds it

    can_listen = False

    def listen(self, channels: Sequence[str]) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Notice]]:
        raise NotImplementedError("SQLite has no notifications: its processes poll")

    def sync_engines(self) -> list[Engine]:
        return list({id(lane.conn.engine): lane.conn.engine for lane in [self._writer, *self._readers]}.values())

    async def close(self) -> None:
        lanes = {id(lane): lane for lane in [self._writer, *self._readers]}.values()
        await asyncio.gather(*(lane.close() for lane in lanes), return_exceptions=True)


# -- PostgreSQL ------------------------------------------------------------------------------------------------


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._engine = engine
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    @classmethod
    async def open(cls, url: str, *, pool_size: int) -> PostgresDatabase:
        # SQLAlchemy's asyncio layer (and greenlet) is only for PostgreSQL: a SQLite bot saves its 8 MB.
        from sqlalchemy.ext.asyncio import create_async_engine

        try:
            engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=1800,
            )
        except ModuleNotFoundError as exc:
            raise DriverMissingError(
                f"DATABASE_URL is a PostgreSQL URL but psycopg is not installed: {POSTGRES_INSTALL_HINT}"
            ) from exc
        except ArgumentError as exc:
            raise DatabaseUrlError(f"DATABASE_URL: {exc}") from exc
        _ping_when_idle(engine.sync_engine)
        database = cls(engine, url)
        try:
            await database.server_time()
        except (DBAPIError, OSError) as exc:
            await engine.dispose()
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnavailableError(
                f"DATABASE_URL: cannot reach {redact_url(url)} ({reason}); is the server up and the database created?"
            ) from exc
        return database

    async def write(self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def maintain(self, fn: Callable[[Connection], T], /) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(fn)

    async def server_time(self) -> datetime:
        async with self._engine.connect() as conn:
            value = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
        return value.astimezone(UTC)

    can_listen = True

    @contextlib.asynccontextmanager
    async def listen(self, channels: Sequence[str]) -> AsyncIterator[AsyncIterator[Notice]]:
        import psycopg  # installed with the PostgreSQL extra, as the engine's driver
        from psycopg import sql

        # TCP keepalives: a connection cut off without a reset (a NAT's timeout, a failover) is noticed in about a
        # minute, not after the kernel's quarter of an hour of retransmissions.
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            for channel in channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            yield _notices(conn)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    def sync_engines(self) -> list[Engine]:
        return [self._engine.sync_engine]

    async def close(self) -> None:
        await self._engine.dispose()


def _ping_when_idle(engine: Engine) -> None:
    """A restarted server or a dropped network leaves dead connections in the pool: ping one before handing it out,
    but only when it has been idle for PING_IDLE_S (SQLAlchemy's pool_pre_ping pings at every checkout, a round trip
    and a server transaction on each of ours). A connection that dies while busy fails its transaction, which its
    caller tries again (storage.errors.is_transient), on a new connection: the pool drops the dead one."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # the server restarted, most likely: every pooled connection is as dead, so the pool drops them all
            raise InvalidatePoolError("a pooled connection did not answer its ping") from exc


async def _notices(conn: Any) -> AsyncIterator[Notice]:
    """The notifications ``conn`` hears, checking it with a query whenever it has heard nothing for a while."""
    while True:
        heard = False
        async for notice in conn.notifies(timeout=LISTEN_PING_S):
            heard = True
            yield notice.channel, notice.payload
        if not heard:
            async with asyncio.timeout(LISTEN_PING_TIMEOUT_S):
                await conn.execute("SELECT 1")
