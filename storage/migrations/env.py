"""Alembic environment: runs on the connection handed over by ``storage.migrate``."""

from __future__ import annotations

from alembic import context

from storage.models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `bhiv-bot migrate` (storage.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
