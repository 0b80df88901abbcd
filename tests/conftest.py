"""Shared fixtures: a migrated database on each backend.

Every storage and job test that takes ``db`` runs twice: on a real SQLite file under ``tmp_path`` and on
the real PostgreSQL named by ``BHIV_TEST_POSTGRES_URL`` (an admin URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). Each test session creates its own throwaway
PostgreSQL database and drops it at the end; where the variable is unset the PostgreSQL cases are skipped with
that reason.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database, open_database
from storage.migrate import upgrade_to_head
from storage.models import metadata
from tests.fakes.fake_lm import FakeLM

# Property tests assert behaviour, never time: hypothesis's default 200 ms deadline per example fails them on a
# busy machine (a garbage collection or a neighbour's burst), which says nothing about the code.
settings.register_profile("bhiv", deadline=None)
settings.load_profile("bhiv")

POSTGRES_ENV = "BHIV_TEST_POSTGRES_URL"

# python-telegram-bot 22 warns (PTBDeprecationWarning) when it builds RetryAfter with an int; with
# filterwarnings=error that warning would replace the RetryAfter. The bot opts in the same way (bot/cli.py).
os.environ.setdefault("PTB_TIMEDELTA", "true")


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    db = await open_database(url)
    try:
        await upgrade_to_head(db)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"PostgreSQL cases need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/postgres)")
    name = f"bhiv_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bhiv-test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database on the backend of this parametrization."""
    db = await open_database(database_url)
    if db.dialect == "sqlite":
        await upgrade_to_head(db)
    else:
        tables = ", ".join(table.name for table in metadata.sorted_tables)
        await db.write(lambda conn: conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")))
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def fake_lm() -> AsyncIterator[FakeLM]:
    """A fake OpenAI-compatible server on loopback; script its replies with ``fake_lm.script([...])``."""
    async with FakeLM() as fake:
        yield fake
