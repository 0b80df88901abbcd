"""What the figures share: the bots under test (in-process and as a process), their settings, the database
helpers and the run context.

In-process bots run on the benchmark's event loop exactly as ``tests/e2e`` runs them (``create_application`` and
``running``), with settings built here rather than read from the environment's defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.app import create_application, running
from bot.settings import TelegramSettings
from core.services import CoreSettings, Services, create_services
from core.settings import AccessSettings, JobSettings, LMSettings, StorageSettings
from core.types import Author, ScriptSubmission
from storage.tables import outbox
from tests.bench.emulator_side import EmulatorSide

logger = logging.getLogger(__name__)

TOKEN = "424242:BENCH-token_0"
SCRIPT = (
    "INT. KITCHEN - NIGHT\n"
    "A kettle starts to whistle while the cat watches from the fridge.\n"
    "Maya pours two cups and slides one across the table.\n"
    "EXT. BALCONY - LATER\n"
    "They drink in silence as the city lights flicker below."
)
POSTGRES_URL_ENV = "BHIV_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def say(message: str) -> None:
    """Progress and diagnostics go to stderr; stdout carries only the figures."""
    print(f"# {message}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    """One benchmark run: its options, the emulator process, a scratch folder and fresh user ids."""

    quick: bool
    emulator: EmulatorSide
    workdir: Path
    _user_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_000_001))
    _db_count: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def users(self, n: int) -> list[int]:
        """``n`` users the emulator and the bots have never seen."""
        return [next(self._user_ids) for _ in range(n)]

    def sqlite_url(self, label: str) -> str:
        return f"sqlite+aiosqlite:///{self.workdir / f'{label}-{next(self._db_count)}.db'}"


@contextlib.asynccontextmanager
async def open_bench(*, quick: bool) -> AsyncIterator[Bench]:
    workdir = Path(tempfile.mkdtemp(prefix="bhiv-bench-"))
    try:
        async with EmulatorSide.start(TOKEN) as emulator:
            yield Bench(quick=quick, emulator=emulator, workdir=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- settings ---------------------------------------------------------------------------------------------------


def telegram_settings(emulator: EmulatorSide, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": emulator.base_url,
        "telegram_api_file_url": emulator.file_url,
        "ops_port": 0,
    }
    values.update(overrides)
    return TelegramSettings(**values)


def core_settings(database_url: str, *, lm_base_url: str | None = None, **jobs: Any) -> CoreSettings:
    """The shipped defaults (``WORKER_CONCURRENCY=4`` and all), on ``database_url``."""
    return CoreSettings(
        storage=StorageSettings(database_url=database_url),
        lm=LMSettings(lm_base_url=lm_base_url),
        jobs=JobSettings(**jobs),
        access=AccessSettings(),
    )


# --- bots in this process ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bhiv_bot(bench: Bench, database_url: str) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = create_application(telegram_settings(bench.emulator), core_settings(database_url))
    async with running(application) as app:
        yield app


async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


@contextlib.asynccontextmanager
async def echo_bot(bench: Bench) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The peer: python-telegram-bot with its default settings and one handler that echoes the text."""
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(bench.emulator.base_url)
        .base_file_url(bench.emulator.file_url)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    async with running(application) as app:
        yield app


# --- the database -----------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def core_services(database_url: str, *, lm_base_url: str | None = None, **jobs: Any) -> AsyncIterator[Services]:
    """The core services alone (no Telegram); the workers are not started."""
    services = await create_services(core_settings(database_url, lm_base_url=lm_base_url, **jobs), worker_name="bench")
    try:
        yield services
    finally:
        await services.aclose()


def submission(user_id: int, message_id: int = 1, text: str = SCRIPT) -> ScriptSubmission:
    return ScriptSubmission(
        author=Author(user_id=user_id, name=f"User {user_id}"), chat_id=user_id, message_id=message_id, text=text
    )


async def mark_acks_sent(services: Services) -> None:
    """As if every ack had gone out already (what was measured elsewhere stays out of the way)."""
    async with services.engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.kind == "ack").values(status="sent"))


def postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)


@contextlib.asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[str]:
    """A fresh PostgreSQL database on the server of ``BHIV_BENCH_POSTGRES_URL``, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(postgres_admin_url())
    plain = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bhiv_bench_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the bot as a process ---------------------------------------------------------------------------------------


def bot_command() -> list[str]:
    script = Path(sys.executable).with_name("bhiv-bot")
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "bot.cli", "run"]


@contextlib.asynccontextmanager
async def bot_process(bench: Bench, database_url: str, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``bhiv-bot run`` against the emulator; stopped with SIGTERM (as Docker does) on exit."""
    variables = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": bench.emulator.base_url,
        "TELEGRAM_API_FILE_URL": bench.emulator.file_url,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(bench.workdir),
        "OPS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    log = (bench.workdir / f"bot-{time.monotonic_ns()}.log").open("wb")
    process = subprocess.Popen(bot_command(), env=variables, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        yield process
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
        log.close()


def rss_mb(pid: int) -> float:
    """Resident set size from /proc/<pid>/status (VmRSS, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
