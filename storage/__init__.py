"""How bhiv-bot keeps things: SQLModel tables, storage.db (one call, one transaction), queries per table and
Alembic migrations.

This package imports neither ``core`` nor ``bot``.
"""
