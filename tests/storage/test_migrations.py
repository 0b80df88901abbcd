from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import HEAD_REVISION, current_revision, head_revision, upgrade_to_head
from storage.models import metadata


def _tables_and_differences(conn: Connection) -> tuple[set[str], list[object]]:
    tables = set(inspect(conn).get_table_names())
    differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    return tables, differences


async def test_empty_database_migrates_to_head_and_matches_the_models(db: Database) -> None:
    await upgrade_to_head(db)  # a second run is a no-op

    assert await current_revision(db) == head_revision() == HEAD_REVISION
    tables, differences = await db.read(_tables_and_differences)
    assert {table.name for table in metadata.sorted_tables} <= tables
    assert differences == []
