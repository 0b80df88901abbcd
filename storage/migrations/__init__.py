"""Alembic migrations, applied by ``bhiv-bot migrate`` and at the bot's start."""
