"""What the figures share: the bots under test (in-process and as a process), their settings, the database
helpers and the run context.

In-process bots run on the benchmark's event loop exactly as ``tests/e2e`` runs them (``create_application`` and
``running``). Their settings are the shipped defaults plus what a figure names, whatever the environment says
(``model_construct`` reads no environment variables); a bot process gets the same: the bot's own variables are
dropped from the environment it inherits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import event, insert, update
from sqlalchemy.engine import Connection, Engine
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.app import create_application, running
from bot.settings import TelegramSettings
from core.ids import new_job_id
from core.intake import Intake, message_key
from core.services import Core, CoreSettings, open_core
from core.settings import AccessSettings, JobSettings, LMSettings, RenderSettings, StorageSettings
from core.types import Author, ScriptSubmission
from storage.tables import jobs, outbox, scripts, users
from tests.bench.emulator_side import EmulatorSide

logger = logging.getLogger(__name__)

TOKEN = "424242:BENCH-token_0"
BOT_ID = int(TOKEN.split(":")[0])  # what getMe tells the bots under test: their rows carry it
SCRIPT = (
    "INT. KITCHEN - NIGHT\n"
    "A kettle starts to whistle while the cat watches from the fridge.\n"
    "Maya pours two cups and slides one across the table.\n"
    "EXT. BALCONY - LATER\n"
    "They drink in silence as the city lights flicker below."
)
POSTGRES_URL_ENV = "BHIV_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def cpu_s() -> float:
    """CPU seconds this process (the in-process bot, all its threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds per thread of this process, by native thread id (from /proc/self/task)."""
    usage: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            usage[int(task.name)] = _stat_cpu_s(task / "stat")
    return usage


@contextlib.contextmanager
def counting_statements(engines: list[Engine]) -> Iterator[dict[str, int]]:
    """Counts every statement the engines send to their driver while the block runs."""
    counter = {"n": 0}

    def count(*_args: object) -> None:
        counter["n"] += 1

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


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


SETTINGS_CLASSES = (TelegramSettings, StorageSettings, LMSettings, JobSettings, AccessSettings, RenderSettings)


def telegram_settings(emulator: EmulatorSide, *, paced: bool = True) -> TelegramSettings:
    """The shipped defaults; ``paced=False`` turns off the bot's 29 msg/s pacing, for runs where the emulator
    enforces no flood ceiling either, so that a figure measures the bot and not the ceiling."""
    extra = {} if paced else {"telegram_max_sends_per_s": 0.0}
    return TelegramSettings.model_construct(
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_base_url=emulator.base_url,
        telegram_api_file_url=emulator.file_url,
        ops_port=0,
        **extra,
    )


def core_settings(database_url: str, *, lm_base_url: str | None = None, video: bool = True) -> CoreSettings:
    """The shipped defaults (``WORKER_CONCURRENCY=4``, the video on, and all), on ``database_url``; ``video=False``
    for a figure of the queue alone."""
    return CoreSettings(
        storage=StorageSettings.model_construct(database_url=database_url),
        lm=LMSettings.model_construct(lm_base_url=lm_base_url),
        jobs=JobSettings.model_construct(),
        access=AccessSettings.model_construct(),
        render=RenderSettings.model_construct(render_video=video),
    )


def bot_environment(**values: str) -> dict[str, str]:
    """This process's environment without any of the bot's settings, plus ``values``."""
    names = {name.upper() for settings in SETTINGS_CLASSES for name in settings.model_fields}
    names |= {"LOG_LEVEL", "LOG_FORMAT"}
    return {key: value for key, value in os.environ.items() if key.upper() not in names} | values


# --- bots in this process ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bhiv_bot(bench: Bench, database_url: str, *, paced: bool = True) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = create_application(telegram_settings(bench.emulator, paced=paced), core_settings(database_url))
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
async def core_services(
    database_url: str, *, lm_base_url: str | None = None, video: bool = True
) -> AsyncIterator[Core]:
    """The core alone (no Telegram), as the composition root builds it; the workers are not started."""
    core = await open_core(core_settings(database_url, lm_base_url=lm_base_url, video=video), worker_name="bench")
    try:
        yield core
    finally:
        await core.aclose()


def bench_intake(core: Core) -> Intake:
    """The intake of the bot under test (its bot id), as its handlers use it."""
    return core.intake(BOT_ID)


def submission(user_id: int, message_id: int = 1, text: str = SCRIPT) -> ScriptSubmission:
    return ScriptSubmission(
        author=Author(user_id=user_id, name=f"User {user_id}"), chat_id=user_id, message_id=message_id, text=text
    )


async def mark_sent(core: Core, kinds: tuple[str, ...]) -> None:
    """As if every notification of these kinds had gone out already."""
    await core.db.write(lambda conn: conn.execute(update(outbox).where(outbox.c.kind.in_(kinds)).values(status="sent")))


@dataclass(frozen=True, slots=True)
class _Queued:
    """One job waiting in the queue, and what it hangs on."""

    number: int  # the script's id
    user: int
    job: str
    text: str
    now: datetime

    def user_row(self) -> dict[str, object]:
        return {"id": self.user, "name": f"User {self.user}", "first_seen_at": self.now, "last_seen_at": self.now}

    def script_row(self) -> dict[str, object]:
        sha256 = hashlib.sha256(self.text.encode()).hexdigest()
        return {
            "id": self.number,
            "bot_id": BOT_ID,
            "user_id": self.user,
            "source": "text",
            "sha256": sha256,
            "text": self.text,
            "char_count": len(self.text),
            "chat_id": self.user,
            "message_id": 1,
            "created_at": self.now,
        }

    def job_row(self) -> dict[str, object]:
        return {
            "id": self.job,
            "bot_id": BOT_ID,
            "user_id": self.user,
            "script_id": self.number,
            "kind": "generate",
            "request_key": message_key(BOT_ID, self.user, 1),
            "status": "queued",
            "stage": "queued",
            "available_at": self.now,
            "chat_id": self.user,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def ack_row(self) -> dict[str, object]:
        return {
            "bot_id": BOT_ID,
            "chat_id": self.user,
            "kind": "ack",
            "payload": '{"reply_to": 1}',
            "job_id": self.job,
            "dedupe_key": f"ack:{self.job}",
            "status": "sent",
            "attempts": 1,
            "next_try_at": self.now,
            "created_at": self.now,
            "sent_at": self.now,
        }


async def queue_in_bulk(database_url: str, user_ids: list[int], text: str = SCRIPT) -> None:
    """One queued job per user, its ack already sent: what Intake.submit leaves behind, written with four
    multi-row INSERTs per chunk of 10 000."""
    now = datetime.now(UTC)
    rows = [_Queued(n, user, new_job_id(), text, now) for n, user in enumerate(user_ids, start=1)]

    def insert_all(conn: Connection, chunk: list[_Queued]) -> None:
        conn.execute(insert(users), [row.user_row() for row in chunk])
        conn.execute(insert(scripts), [row.script_row() for row in chunk])
        conn.execute(insert(jobs), [row.job_row() for row in chunk])
        conn.execute(insert(outbox), [row.ack_row() for row in chunk])

    async with core_services(database_url) as core:
        for start in range(0, len(rows), 10_000):
            await core.db.write(insert_all, rows[start : start + 10_000])


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


def bot_command(command: str = "run") -> list[str]:
    script = Path(sys.executable).with_name("bhiv-bot")
    return [str(script), command] if script.exists() else [sys.executable, "-m", "bot.cli", command]


@contextlib.asynccontextmanager
async def bot_process(bench: Bench, database_url: str, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``bhiv-bot run`` against the emulator; stopped with SIGTERM (as Docker does) on exit."""
    variables = bot_environment(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=bench.emulator.base_url,
        TELEGRAM_API_FILE_URL=bench.emulator.file_url,
        DATABASE_URL=database_url,
        DATA_DIR=str(bench.workdir),
        OPS_PORT="0",
        LOG_LEVEL="WARNING",
        **env,
    )
    log = (bench.workdir / f"bot-{time.monotonic_ns()}.log").open("wb")
    process = subprocess.Popen(bot_command(), env=variables, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        yield process
    finally:
        await _stop([process])
        log.close()


async def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all (as Docker stops containers), then SIGKILL to any still running after 15 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


@contextlib.asynccontextmanager
async def worker_processes(bench: Bench, database_url: str, n: int, **env: str) -> AsyncIterator[list[int]]:
    """``n`` ``bhiv-bot worker`` processes, up (each has logged that it is); their pids. SIGTERM on exit."""
    variables = bot_environment(DATABASE_URL=database_url, OPS_PORT="0", LOG_LEVEL="INFO", **env)
    logs = [bench.workdir / f"worker-{time.monotonic_ns()}-{k}.log" for k in range(n)]
    processes = []
    try:
        for path in logs:
            with path.open("wb") as log:
                processes.append(
                    subprocess.Popen(bot_command("worker"), env=variables, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
                )
        deadline = time.monotonic() + 60
        while not all(" is up" in path.read_text(errors="replace") for path in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker did not start: " + " | ".join(p.read_text()[-300:] for p in logs))
            await asyncio.sleep(0.05)
        yield [process.pid for process in processes]
    finally:
        await _stop(processes)


def _stat_cpu_s(stat: Path) -> float:
    """User + system CPU seconds from a /proc ``stat`` file (a process's or a thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc/<pid>/stat."""
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def rss_mb(pid: int) -> float:
    """Resident set size from /proc/<pid>/status (VmRSS, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
