"""The questions asked of jobs: a user's own job and its place in the queue, their recent jobs, what a worker
needs to run one, and whether everything is settled. Reads only: on SQLite they never wait for a writer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from core.errors import JobInputGoneError, JobNotFoundError
from core.ids import normalize_job_id
from core.storyboard import Storyboard, parse_storyboard
from core.types import JobRecord, JobSummary, VersionRecord, VideoRecord
from storage import jobs as job_queries
from storage import ratings as rating_queries
from storage import stats as stats_queries
from storage.db import Database
from storage.states import JobKind, JobStatus


@dataclass(frozen=True, slots=True)
class JobInputs:
    script_text: str
    file_name: str | None = None  # the document's name, which says the script's format (core.formats)
    parent: Storyboard | None = None
    rating: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptHistory:
    """The storyboard versions of the script a user's job belongs to, oldest first (numbered from 1)."""

    job: JobRecord  # the job the user named
    versions: list[VersionRecord]

    def numbered(self, number: int) -> VersionRecord | None:
        return next((version for version in self.versions if version.version == number), None)


class JobQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_for_user(
        self, job_id: str, user_id: int, *, bot_id: int | None = None
    ) -> tuple[JobRecord, int | None]:
        """The user's own job (with ``bot_id``: made through that bot) and its queue position (None unless
        queued); anyone else's, or another bot's, is "not found"."""
        canonical = normalize_job_id(job_id)
        found = await self.db.read(_job_and_position, canonical, user_id, bot_id) if canonical else None
        if found is None:
            raise JobNotFoundError(job_id)
        return found

    async def queue_position(self, job: JobRecord) -> int | None:
        """1 for the next job to be claimed; None unless the job is queued."""
        if job.status != JobStatus.QUEUED:
            return None
        return await self.db.read(job_queries.queue_position, job)

    async def recent(self, bot_id: int, user_id: int, *, limit: int = 10) -> list[JobRecord]:
        """The user's newest jobs with this bot."""
        return await self.db.read(job_queries.recent_jobs, bot_id, user_id, limit=limit)

    async def recent_summaries(self, bot_id: int, user_id: int, *, limit: int = 10) -> list[JobSummary]:
        """The user's newest jobs with this bot, each with the name of its script."""
        return await self.db.read(job_queries.recent_job_summaries, bot_id, user_id, limit=limit)

    async def script_history(self, job_id: str, user_id: int, *, bot_id: int) -> ScriptHistory:
        """The versions of the script of the user's job ``job_id`` (made through ``bot_id``); anyone else's, or
        another bot's, is JobNotFoundError, as for ``get_for_user``."""
        canonical = normalize_job_id(job_id)
        found = await self.db.read(_script_history, canonical, user_id, bot_id) if canonical else None
        if found is None:
            raise JobNotFoundError(job_id)
        return found

    async def result_of(self, version: VersionRecord) -> tuple[JobRecord, VideoRecord | None]:
        """The job that made ``version``, and its video if one is stored: what its result showed."""
        return await self.db.read(_result_of, version)

    async def video_for_job(self, job_id: str) -> VideoRecord | None:
        return await self.db.read(job_queries.video_for_job, job_id)

    async def version_for_job(self, job_id: str) -> VersionRecord | None:
        return await self.db.read(job_queries.version_for_job, job_id)

    async def inputs(self, job: JobRecord) -> JobInputs:
        """What the pipeline needs for this job: the script, and for an improvement the version and feedback."""
        return await self.db.read(_inputs, job)

    async def backlog(self) -> tuple[int, int]:
        """(jobs queued or running, notifications not yet delivered): (0, 0) means all is settled."""
        return await self.db.read(_backlog)


def _job_and_position(
    conn: Connection, job_id: str, user_id: int, bot_id: int | None
) -> tuple[JobRecord, int | None] | None:
    job = job_queries.get_job(conn, job_id)
    if job is None or job.user_id != user_id or (bot_id is not None and job.bot_id != bot_id):
        return None
    return job, job_queries.queue_position(conn, job)


def _script_history(conn: Connection, job_id: str, user_id: int, bot_id: int) -> ScriptHistory | None:
    found = _job_and_position(conn, job_id, user_id, bot_id)
    if found is None:
        return None
    job = found[0]
    return ScriptHistory(job, job_queries.script_versions(conn, job.script_id))


def _result_of(conn: Connection, version: VersionRecord) -> tuple[JobRecord, VideoRecord | None]:
    job = job_queries.get_job(conn, version.job_id)
    if job is None:  # a version's job is kept as long as the version is (a foreign key)
        raise JobNotFoundError(version.job_id)
    return job, job_queries.video_for_job(conn, version.job_id)


def _inputs(conn: Connection, job: JobRecord) -> JobInputs:
    script = job_queries.get_script(conn, job.script_id)
    if script is None:  # the user erased their data (/delete) after the job was claimed
        raise JobInputGoneError(job.id, job.status, f"script {job.script_id} is gone")
    if job.kind != JobKind.IMPROVE or job.parent_version_id is None:
        return JobInputs(script.text, script.file_name)
    parent = job_queries.get_version(conn, job.parent_version_id)
    if parent is None:
        raise JobInputGoneError(job.id, job.status, f"version {job.parent_version_id} is gone")
    rated = rating_queries.get_feedback(conn, job.feedback_id) if job.feedback_id else None
    return JobInputs(
        script.text,
        script.file_name,
        parent=parse_storyboard(parent.storyboard_json),
        rating=rated.rating if rated else None,
        comment=rated.comment if rated else None,
    )


def _backlog(conn: Connection) -> tuple[int, int]:
    by_status = stats_queries.jobs_by_status(conn)
    pending, _ = stats_queries.outbox_backlog(conn)
    return by_status.get(JobStatus.QUEUED, 0) + by_status.get(JobStatus.RUNNING, 0), pending
