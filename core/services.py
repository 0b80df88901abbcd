"""Wiring, in one place, at start: the engine, the LM client, the pipeline, the job service and the workers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock
from core.jobs import JobService
from core.lm import LMClient
from core.pipeline import Pipeline
from core.settings import AccessSettings, JobSettings, LMSettings, StorageSettings
from core.workers import WorkerPool
from storage.engine import create_engine, redact_url
from storage.migrate import current_revision, upgrade_to_head

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreSettings:
    storage: StorageSettings = field(default_factory=StorageSettings)
    lm: LMSettings = field(default_factory=LMSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    access: AccessSettings = field(default_factory=AccessSettings)

    @classmethod
    def from_env(cls) -> CoreSettings:
        return cls(StorageSettings(), LMSettings(), JobSettings(), AccessSettings())


@dataclass
class Services:
    settings: CoreSettings
    engine: AsyncEngine
    jobs: JobService
    pipeline: Pipeline
    workers: WorkerPool
    lm: LMClient | None

    async def aclose(self) -> None:
        if self.lm is not None:
            await self.lm.aclose()
        await self.engine.dispose()


def create_pipeline(settings: LMSettings) -> tuple[Pipeline, LMClient | None]:
    lm = LMClient(settings) if settings.configured else None
    return Pipeline(lm), lm


async def create_services(
    settings: CoreSettings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    worker_name: str | None = None,
) -> Services:
    url = settings.storage.resolved_database_url()
    engine = create_engine(url)
    if migrate:
        await upgrade_to_head(engine)
    logger.info("database %s ready", redact_url(url))
    pipeline, lm = create_pipeline(settings.lm)
    logger.info("storyboards by %s", "the LM and the local fallback" if lm else "the local generator (no LM_BASE_URL)")
    jobs = JobService(engine, settings.jobs, clock=clock)
    workers = WorkerPool(jobs, pipeline, settings.jobs, name=worker_name)
    return Services(settings, engine, jobs, pipeline, workers, lm)


async def migrate_database(settings: StorageSettings) -> str:
    """Bring the database to the current schema; returns "<url without password> is at revision <rev>"."""
    url = settings.resolved_database_url()
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        return f"{redact_url(url)} is at revision {await current_revision(engine)}"
    finally:
        await engine.dispose()
