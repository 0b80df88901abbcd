"""Apply Alembic migrations from code: no alembic.ini, the scripts ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(conn: Connection, revision: str = "head") -> None:
    """Upgrade in one transaction. On SQLite, foreign keys are off meanwhile: a migration that alters a table
    copies it, and dropping the old copy with foreign keys on would delete, by cascade, every row pointing at
    it. The keys are checked before the transaction commits, and are on again after it."""
    sqlite = conn.dialect.name == "sqlite"
    raw = conn.connection.dbapi_connection  # a pragma outside SQLAlchemy's transaction, which would begin one
    if sqlite and raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with conn.begin():
            command.upgrade(alembic_config(conn), revision)
            if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                raise RuntimeError("the migration left rows whose foreign keys point nowhere; rolled back")
    finally:
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def upgrade_to_head(db: Database) -> None:
    """Bring the database to the newest schema (idempotent), in one transaction."""
    await db.maintain(_upgrade)


async def upgrade_to(db: Database, revision: str) -> None:
    """Bring the database to ``revision`` (tests of one migration)."""
    await db.maintain(lambda conn: _upgrade(conn, revision))


async def current_revision(db: Database) -> str | None:
    return await db.read(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
