"""The bot as a real process: started with `python -m bot.cli run` (or `worker`), killed or stopped by signal;
and a throwaway PostgreSQL database for such processes to share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.emulator import BotAPIEmulator
from tests.conftest import POSTGRES_ENV, _admin


@dataclass
class BotProcess:
    emulator: BotAPIEmulator
    database_url: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    command: str = "run"  # or "worker": the pipeline only, and no Telegram settings at all
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LM_", "TELEGRAM_", "DATABASE_", "WEBHOOK"))}
        quiet = {"RENDER_VIDEO": "false"}  # the video's own tests turn it on: a render costs each job a process hop
        if self.command == "worker":
            return (
                base
                | quiet
                | {"DATABASE_URL": self.database_url, "OPS_PORT": "0", "LOG_LEVEL": "INFO"}
                | self.extra_env
            )
        return (
            base
            | quiet
            | {
                "TELEGRAM_BOT_TOKEN": self.emulator.token,
                "TELEGRAM_API_BASE_URL": self.emulator.base_url,
                "TELEGRAM_API_FILE_URL": self.emulator.file_url,
                "DATABASE_URL": self.database_url,
                "OPS_PORT": "0",
                "LOG_LEVEL": "INFO",
                "JOB_POLL_INTERVAL_S": "0.2",
            }
            | self.extra_env
        )

    async def start(self) -> None:
        assert self.process is None or self.process.returncode is not None
        self.starts += 1
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", self.command, env=self.env(), stdout=log, stderr=log
            )
        finally:
            log.close()

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a power cut or the OOM killer."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, *, timeout_s: float = 15.0) -> float:
        """SIGTERM, as Docker stops a container; returns how long the process took to exit."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), timeout_s)
        return loop.time() - started

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.asynccontextmanager
async def fresh_postgres(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database (the processes migrate it), dropped afterwards."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"the PostgreSQL case needs {POSTGRES_ENV}")
    name = f"{prefix}_{secrets.token_hex(5)}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def job_states(url: str) -> dict[str, tuple[str, int]]:
    """Each job of the database at ``url``: (status, attempts), read from outside the processes under test."""
    from sqlalchemy import select

    from storage.db import open_database
    from storage.tables import jobs

    db = await open_database(url)
    try:
        rows = await db.read(lambda conn: conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.attempts)).all())
    finally:
        await db.close()
    return {job_id: (status, attempts) for job_id, status, attempts in rows}
