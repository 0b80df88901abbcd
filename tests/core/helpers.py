"""Builders shared by the core tests."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, func, select

from core.clock import Clock, SystemClock
from core.feedback import FeedbackService
from core.intake import Intake
from core.owners import Holder, this_process
from core.pipeline import Pipeline, PipelineResult
from core.queries import JobQueries
from core.queue import JobQueue
from core.settings import JobSettings
from core.types import Author, JobRecord, ScriptSubmission
from core.wakeups import Wakeups
from core.workers import WorkerPool
from storage.db import Database

_message_ids = itertools.count(1)


def job_settings(**overrides: object) -> JobSettings:
    defaults: dict[str, object] = {
        "worker_concurrency": 2,
        "job_lease_s": 30.0,
        "job_retry_backoff_s": 0.0,
        "job_poll_interval_s": 0.05,
        "shutdown_grace_s": 1.0,
        "max_active_jobs_per_user": 1000,
        "max_jobs_per_hour": 10_000,
    }
    defaults.update(overrides)
    return JobSettings(**defaults)  # type: ignore[arg-type]


def submission(
    user_id: int = 1, text: str = "Scene one\nScene two", *, message_id: int | None = None
) -> ScriptSubmission:
    return ScriptSubmission(
        author=Author(user_id=user_id, name=f"User {user_id}"),
        chat_id=user_id,
        message_id=message_id if message_id is not None else next(_message_ids),
        text=text,
    )


class CountingPipeline(Pipeline):
    """The real local pipeline, counting how often each script was generated; optionally slow or failing."""

    def __init__(self, *, delay_s: float = 0.0, failures: int = 0, gate: asyncio.Event | None = None) -> None:
        super().__init__(None)
        self.calls: Counter[str] = Counter()
        self.delay_s = delay_s
        self.failures = failures
        self.gate = gate
        self.started = asyncio.Event()

    async def generate(self, script: str, *, file_name: str | None = None, job_id: str = "-") -> PipelineResult:
        self.calls[job_id] += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("pipeline broke")
        return await super().generate(script, file_name=file_name, job_id=job_id)


BOT_ID = 4242
HOLDER = Holder(this_process(), lease_s=15.0)  # this process, as the composition root names it


@dataclass
class Kit:
    """The core's parts over one database, wired as the composition root wires them."""

    db: Database
    settings: JobSettings
    clock: Clock
    wakeups: Wakeups
    intake: Intake
    queue: JobQueue
    queries: JobQueries

    def workers(
        self, pipeline: Pipeline, settings: JobSettings | None = None, *, name: str | None = None
    ) -> WorkerPool:
        return WorkerPool(
            self.queue, self.queries, pipeline, settings or self.settings, wakeups=self.wakeups, name=name
        )

    async def cancel(self, job_id: str, user_id: int) -> JobRecord:
        """What /cancel does: the user's own job, cancelled."""
        job, _ = await self.queries.get_for_user(job_id, user_id)
        return await self.queue.cancel(job)

    def feedback(self) -> FeedbackService:
        return FeedbackService(self.db, self.intake, clock=self.clock)

    async def count(self, table: Table, *where: ColumnElement[bool]) -> int:
        return await self.db.read(
            lambda conn: int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
        )


def kit(db: Database, settings: JobSettings | None = None, *, clock: Clock | None = None, bot_id: int = BOT_ID) -> Kit:
    settings = settings or job_settings()
    clock = clock or SystemClock()
    wakeups = Wakeups()
    return Kit(
        db,
        settings,
        clock,
        wakeups,
        Intake(db, settings, bot_id=bot_id, clock=clock, holder=HOLDER, wakeups=wakeups),
        JobQueue(db, settings, clock=clock, wakeups=wakeups),
        JobQueries(db),
    )
