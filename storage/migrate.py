"""Apply Alembic migrations from code: no alembic.ini, the scripts ship inside the package.

A database already at ``HEAD_REVISION`` is told so by one query, without loading Alembic (10 MB a process
keeps for good once imported); ``tests/storage/test_migrations.py`` holds the constant to Alembic's head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD_REVISION = "0007"
MIGRATION_LOCK = 0x6268_6976  # "bhiv": the advisory lock key that serialises migrations


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(conn: Connection, revision: str = "head") -> None:
    from alembic import command

    """Upgrade in one transaction, one process at a time: processes that start together (the bot and its
    workers) wait for the first, then find the schema current (PostgreSQL: an advisory lock held until the
    commit; SQLite: the write lock its transactions take at BEGIN). On SQLite, foreign keys are off meanwhile:
    a migration that alters a table copies it, and dropping the old copy with foreign keys on would delete,
    by cascade, every row pointing at it. The keys are checked before the transaction commits, and are on
    again after it."""
    sqlite = conn.dialect.name == "sqlite"
    raw = conn.connection.dbapi_connection  # a pragma outside SQLAlchemy's transaction, which would begin one
    if sqlite and raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with conn.begin():
            if not sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            command.upgrade(alembic_config(conn), revision)
            if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                raise RuntimeError("the migration left rows whose foreign keys point nowhere; rolled back")
    finally:
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")


def _current(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    except DBAPIError:  # no alembic_version table: a new database
        return None


async def upgrade_to_head(db: Database) -> None:
    """Bring the database to the newest schema (idempotent), in one transaction."""
    if await current_revision(db) != HEAD_REVISION:
        await db.maintain(_upgrade)


async def upgrade_to(db: Database, revision: str) -> None:
    """Bring the database to ``revision`` (tests of one migration)."""
    await db.maintain(lambda conn: _upgrade(conn, revision))


async def current_revision(db: Database) -> str | None:
    return await db.read(_current)


def head_revision() -> str | None:
    """Alembic's own idea of the head (HEAD_REVISION must agree)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
