"""Core's part of the composition root: the database, its clock, the queue and the read side, and the pieces
each role adds. Built once at start (never at import) and passed in; nothing reaches for a global.

Roles: ``receive`` (intake and feedback, for one bot), ``send`` (that bot's outbox delivery), ``work`` (the
worker pool and the pipeline). ``bhiv-bot run`` starts all three (``work`` unless WORKER_CONCURRENCY=0); the
roles are apart, so a process may start any subset (``bot.app`` wires the Telegram side).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from core import owners
from core.clock import Clock, DatabaseClock
from core.delivery import Delivery, Sender
from core.errors import StartupError
from core.feedback import FeedbackService
from core.inbox import Describe, Inbox
from core.intake import Intake
from core.languages import Languages
from core.lm import LMClient
from core.owners import Holder
from core.pipeline import Pipeline
from core.queries import JobQueries
from core.queue import JobQueue
from core.renderer import Renderer
from core.settings import AccessSettings, JobSettings, LMSettings, RenderSettings, StorageSettings
from core.wakeups import Wakeups
from core.workers import WorkerPool
from storage import jobs as job_queries
from storage.db import Database, open_database, redact_url
from storage.errors import DatabaseError
from storage.migrate import current_revision, upgrade_to_head

logger = logging.getLogger(__name__)


class Role(StrEnum):
    RECEIVE = "receive"
    SEND = "send"
    WORK = "work"


@dataclass(frozen=True)
class CoreSettings:
    storage: StorageSettings = field(default_factory=StorageSettings)
    lm: LMSettings = field(default_factory=LMSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    render: RenderSettings = field(default_factory=RenderSettings)

    @classmethod
    def from_env(cls) -> CoreSettings:
        return cls(StorageSettings(), LMSettings(), JobSettings(), AccessSettings(), RenderSettings())


@dataclass
class Core:
    settings: CoreSettings
    db: Database
    clock: Clock
    wakeups: Wakeups
    queue: JobQueue
    queries: JobQueries
    holder: Holder
    workers: WorkerPool | None = None
    lm: LMClient | None = None
    _clock_task: asyncio.Task[None] | None = None
    _listener: asyncio.Task[None] | None = None

    def listen(self, *, bot_id: int | None) -> None:
        """Follow other processes' wake-ups (PostgreSQL) for this process's workers and ``bot_id``'s sender
        (None: it sends nothing); until ``aclose``."""
        workers = self.settings.jobs.worker_concurrency if self.workers is not None else 0
        if self._listener is None and self.db.can_listen and (workers or bot_id is not None):
            self._listener = asyncio.create_task(
                self.wakeups.listen(self.db, workers=workers, bot_id=bot_id), name="wakeups-listener"
            )

    async def adopt_rows_of_no_bot(self, bot_id: int) -> None:
        """Rows from before keys were scoped to the bot belong to the bot that served the database then: the
        first bot to start on it after the upgrade (its pending messages and queued jobs go on)."""
        adopted = await self.db.write(job_queries.adopt_rows_of_no_bot, bot_id)
        if adopted:
            logger.warning("%d row(s) from before keys named their bot now belong to bot %s", adopted, bot_id)

    def intake(self, bot_id: int) -> Intake:
        return Intake(
            self.db, self.settings.jobs, bot_id=bot_id, clock=self.clock, holder=self.holder, wakeups=self.wakeups
        )

    def inbox(self, bot_id: int, describe: Describe) -> Inbox:
        return Inbox(
            self.db,
            bot_id=bot_id,
            clock=self.clock,
            holder=self.holder,
            describe=describe,
            retention_days=self.settings.storage.inbox_retention_days,
        )

    def languages(self) -> Languages:
        """The users' chosen languages, with this process's cache of them: build one per process."""
        return Languages(self.db, clock=self.clock)

    def feedback(self, intake: Intake) -> FeedbackService:
        return FeedbackService(self.db, intake, clock=self.clock)

    def delivery(self, sender: Sender, *, bot_id: int) -> Delivery:
        return Delivery(
            self.db,
            sender,
            self.settings.jobs,
            bot_id=bot_id,
            clock=self.clock,
            holder=self.holder,
            wakeups=self.wakeups,
        )

    async def aclose(self) -> None:
        if self.workers is not None and self.workers.renderer is not None:
            self.workers.renderer.close()
        for task in (self._listener, self._clock_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.lm is not None:
            await self.lm.aclose()
        await self.db.close()


def create_pipeline(settings: LMSettings) -> tuple[Pipeline, LMClient | None]:
    lm = LMClient(settings) if settings.configured else None
    return Pipeline(lm), lm


async def connect(settings: StorageSettings) -> Database:
    """The database of ``DATABASE_URL``; a StartupError in one line when it cannot be reached or parsed."""
    url = settings.resolved_database_url()
    try:
        return await open_database(url)
    except DatabaseError as exc:
        raise StartupError(str(exc)) from exc


async def open_core(
    settings: CoreSettings,
    *,
    roles: frozenset[Role] = frozenset(Role),
    clock: Clock | None = None,
    migrate: bool = True,
    worker_name: str | None = None,
) -> Core:
    """Connect, migrate, read the database's clock and build what ``roles`` need. Nothing runs yet: the
    workers start with ``core.workers.start()``."""
    db = await connect(settings.storage)
    clock_task: asyncio.Task[None] | None = None
    try:
        if migrate:
            try:
                await upgrade_to_head(db)
            except Exception as exc:
                reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                raise StartupError(
                    f"DATABASE_URL: the schema migration failed ({reason}); nothing was changed"
                ) from exc
        logger.info("database %s ready", redact_url(settings.storage.resolved_database_url()))
        if clock is None:
            database_clock = DatabaseClock(db.server_time)
            await database_clock.sync()
            clock_task = asyncio.create_task(database_clock.keep_in_sync(), name="database-clock")
            clock = database_clock
        wakeups = Wakeups()
        queue = JobQueue(db, settings.jobs, clock=clock, wakeups=wakeups)
        queries = JobQueries(db)
        holder = Holder(owners.this_process(), settings.jobs.bot_lease_s)
        core = Core(settings, db, clock, wakeups, queue, queries, holder, _clock_task=clock_task)
        if Role.WORK in roles and settings.jobs.worker_concurrency > 0:
            pipeline, core.lm = create_pipeline(settings.lm)
            logger.info(
                "storyboards by %s",
                "the LM and the local fallback" if core.lm else "the local generator (no LM_BASE_URL)",
            )
            renderer = Renderer.create(settings.render) if settings.render.render_video else None
            core.workers = WorkerPool(
                queue, queries, pipeline, settings.jobs, wakeups=wakeups, name=worker_name, renderer=renderer
            )
        return core
    except BaseException:
        if clock_task is not None:
            clock_task.cancel()
        with contextlib.suppress(Exception):
            await db.close()
        raise


async def migrate_database(settings: StorageSettings) -> str:
    """Bring the database to the current schema; returns "<url without password> is at revision <rev>"."""
    db = await connect(settings)
    try:
        await upgrade_to_head(db)
        return f"{redact_url(settings.resolved_database_url())} is at revision {await current_revision(db)}"
    finally:
        await db.close()
