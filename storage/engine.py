"""The async engine: a SQLite file through aiosqlite by default, PostgreSQL through psycopg.

SQLite is tuned for one writer at a time without surprises: WAL (readers never block the writer), a busy
timeout (a writer waits for the lock instead of failing), foreign keys on, and ``BEGIN IMMEDIATE`` for every
transaction that may write, so one that reads and then writes can never be refused its upgrade mid-way with
"database is locked". Reads go through ``read_only(engine)`` and take no write lock.

Within one process, writers to one SQLite file queue for the lock in the event loop (``SQLiteEngine.begin``)
rather than in SQLite's busy handler: that handler polls with sleeps of up to 100 ms, so under contention a
write transaction of a millisecond waited a hundred. The busy timeout still covers other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "bhiv_read_only"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Build the engine for ``url``; nothing connects until first use."""
    if is_sqlite(url):
        return _create_sqlite_engine(url, echo=echo)
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a restarted server leaves dead connections in the pool
        pool_recycle=1800,
    )


# One write lock per event loop and database file: engines on the same file share it. Held weakly on both
# levels: a lock nobody holds or waits for is as good as a new one, and a lock that was waited on refers to its
# loop, so a strong reference here would keep every closed loop alive.
_WRITE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakValueDictionary[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(database: str) -> asyncio.Lock:
    locks = _WRITE_LOCKS.setdefault(asyncio.get_running_loop(), weakref.WeakValueDictionary())
    lock = locks.get(database)
    if lock is None:
        lock = locks[database] = asyncio.Lock()
    return lock


class SQLiteEngine(AsyncEngine):
    """An AsyncEngine whose write transactions (``begin()``) take turns in the event loop. A transaction must
    not open another one on the same file (none does: each is a handful of statements)."""

    __slots__ = ()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with _write_lock(self.sync_engine.url.database or ":memory:"), super().begin() as conn:
            yield conn


def _create_sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    engine = SQLiteEngine(
        create_async_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}).sync_engine
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so "begin" below decides how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for transactions that only read (on SQLite: a plain deferred BEGIN)."""
    return engine.execution_options(**{READ_ONLY: True})


def redact_url(url: str) -> str:
    """The URL with its password hidden, for log lines."""
    return make_url(url).render_as_string(hide_password=True)
