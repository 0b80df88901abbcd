from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import current_revision, head_revision, upgrade_to_head
from storage.models import metadata


async def test_empty_database_migrates_to_head_and_matches_the_models(engine: AsyncEngine) -> None:
    await upgrade_to_head(engine)  # a second run is a no-op

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        differences = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
        )
    assert {table.name for table in metadata.sorted_tables} <= tables
    assert differences == []
