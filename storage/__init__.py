"""How bhiv-bot keeps things: SQLModel tables, the engine, queries and Alembic migrations.

This package imports neither ``core`` nor ``bot``.
"""
