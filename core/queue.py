"""The queue protocol: claim, lease, heartbeat, complete, fail, release, reap; and a user's cancel.

A worker claims the oldest due job in one statement, holding it on a lease it renews while the pipeline runs.
Each step below is one transaction that moves the job through ``core.events.transition`` only if it is still
the worker's (so repeating a step whose commit landed changes nothing), and a result commits together with its
notifications. A worker that died leaves its lease to expire: the reaper puts its job back, or fails it after
``job_max_attempts``. Every time here is the database's clock (``core.clock.DatabaseClock``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from core import failpoints, owners
from core.clock import Clock
from core.errors import JobStateError
from core.events import JobEvent, transition, working_note
from core.metrics import JOB_FAILURES
from core.renderer import RenderedVideo
from core.revision import Revision
from core.settings import JobSettings
from core.storyboard import Storyboard
from core.types import JobRecord, VersionRecord
from core.wakeups import Wakeups
from storage import jobs as job_queries
from storage.db import Database
from storage.states import FailureCode, JobStatus

logger = logging.getLogger(__name__)


class JobQueue:
    def __init__(self, db: Database, settings: JobSettings, *, clock: Clock, wakeups: Wakeups) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.wakeups = wakeups

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.job_lease_s)

    async def claim(self, worker_id: str) -> JobRecord | None:
        now = self.clock.now()
        claimed = await self.db.write(
            transition,
            JobEvent.CLAIMED,
            job_queries.next_claimable(now),
            now=now,
            values={
                "attempts": job_queries.ATTEMPT_COUNTED,
                "worker_id": worker_id,
                "lease_expires_at": self._lease_until(now),
                "started_at": job_queries.STARTED_AT_FIRST_CLAIM,
                "stage": "starting",
            },
        )
        if not claimed:
            return None
        self.wakeups.outbox_changed()
        return claimed[0]

    async def heartbeat(self, job: JobRecord, worker_id: str, *, stage: str | None = None) -> bool:
        """Renew the lease; False when the job was cancelled or taken back, so the worker should stop."""
        now = self.clock.now()
        return await self.db.write(
            job_queries.extend_lease, job.id, worker_id, lease_until=self._lease_until(now), stage=stage, now=now
        )

    async def note_working(self, job: JobRecord, worker_id: str) -> None:
        """The job is taking a while: its ack is to say so."""
        if await self.db.write(working_note, job.id, worker_id, self.clock.now()):
            self.wakeups.outbox_changed()

    async def complete(
        self,
        job: JobRecord,
        worker_id: str,
        storyboard: Storyboard,
        *,
        pipeline_ms: int,
        video: RenderedVideo | None = None,
        revision: Revision | None = None,
    ) -> VersionRecord | None:
        """Write the version (with an improvement's revision), its video and its notifications in one
        transaction; None when the job is no longer ours."""
        version = await self.db.write(
            _complete, job, worker_id, storyboard, pipeline_ms, video, revision, self.clock.now()
        )
        failpoints.reached("job.completed")  # stored, nothing else done
        if version is None:
            logger.info("job %s finished but was no longer ours (cancelled or expired); result discarded", job.id)
            return None
        self.wakeups.outbox_changed()
        logger.info("job %s done: version %s (%s, %d ms)", job.id, version.id, version.generation_method, pipeline_ms)
        return version

    async def fail(
        self, job: JobRecord, worker_id: str, *, code: FailureCode, reason: str, retryable: bool
    ) -> JobStatus | None:
        """A failed attempt: back to the queue after a backoff while attempts remain, else failed for good.

        Returns the job's new status, or None when it was no longer ours.
        """
        now = self.clock.now()
        if retryable and job.attempts < self.settings.job_max_attempts:
            delay_s = self.settings.job_retry_backoff_s * 2 ** (job.attempts - 1)
            requeued = await self.db.write(
                transition,
                JobEvent.RETRYING,
                job_queries.owned_by(job.id, worker_id),
                now=now,
                values=_back_in_queue(now + timedelta(seconds=delay_s)),
            )
            if not requeued:
                return None
            JOB_FAILURES.labels("no").inc()
            self.wakeups.jobs_due_in(delay_s)
            logger.warning("job %s attempt %d failed (%s); retry in %.1f s", job.id, job.attempts, reason, delay_s)
            return JobStatus.QUEUED
        failed = await self.db.write(
            transition, JobEvent.FAILED, job_queries.owned_by(job.id, worker_id), now=now, values=_finished(now, code)
        )
        if not failed:
            return None
        self.wakeups.outbox_changed()
        JOB_FAILURES.labels("yes").inc()
        logger.error("job %s failed after %d attempts (%s): %s", job.id, job.attempts, code, reason)
        return JobStatus.FAILED

    async def release(self, job: JobRecord, worker_id: str) -> bool:
        """Give a job back at shutdown without counting the attempt."""
        now = self.clock.now()
        values = _back_in_queue(job.available_at) | {"attempts": job_queries.ATTEMPT_REFUNDED}
        released = await self.db.write(
            transition, JobEvent.RELEASED, job_queries.owned_by(job.id, worker_id), now=now, values=values
        )
        if released:
            logger.info("job %s released back to the queue", job.id)
            self.wakeups.jobs_added()
        return bool(released)

    async def reap(self, *, spare: str | None = None) -> tuple[list[str], list[str]]:
        """Jobs whose worker died go back to the queue: when their lease ran out, or at once when the worker was
        a process of this machine that is gone (``core.owners``); those that took a worker down
        ``job_max_attempts`` times fail. Run at start and periodically; ``spare`` names this process's own
        workers, alive (left out at start, when a job of that name is a previous life's). Returns (requeued
        ids, failed ids)."""
        requeued, failed = await self.db.write(_reap, self.clock.now(), self.settings.job_max_attempts, spare)
        if requeued:
            logger.warning(
                "requeued %d job(s) whose worker died (its lease ran out, or its process is gone): %s",
                len(requeued),
                ", ".join(requeued),
            )
            self.wakeups.jobs_added(len(requeued))
        if failed:
            logger.error("%d job(s) failed: their workers died on them: %s", len(failed), ", ".join(failed))
        if requeued or failed:
            self.wakeups.outbox_changed()
        return requeued, failed

    async def cancel(self, job: JobRecord) -> JobRecord:
        """Cancel a job that has not finished (the caller checked it is the user's)."""
        now = self.clock.now()
        cancelled = await self.db.write(
            _cancel, job.id, now, {"worker_id": None, "lease_expires_at": None, "finished_at": now}
        )
        self.wakeups.outbox_changed()
        logger.info("job %s cancelled by user %s", job.id, job.user_id)
        return cancelled


def _back_in_queue(available_at: datetime) -> dict[str, object]:
    return {"worker_id": None, "lease_expires_at": None, "available_at": available_at}


def _finished(now: datetime, code: FailureCode | None = None) -> dict[str, object]:
    return {"worker_id": None, "lease_expires_at": None, "finished_at": now, "error": code}


def _complete(
    conn: Connection,
    job: JobRecord,
    worker_id: str,
    storyboard: Storyboard,
    pipeline_ms: int,
    video: RenderedVideo | None,
    revision: Revision | None,
    now: datetime,
) -> VersionRecord | None:
    if not transition(
        conn, JobEvent.SUCCEEDED, job_queries.owned_by(job.id, worker_id), now=now, values=_finished(now)
    ):
        return None
    failpoints.reached("job.complete.uncommitted")  # mid-transaction: the result is not stored
    version = job_queries.insert_version(
        conn,
        job_id=job.id,
        script_id=job.script_id,
        storyboard_json=storyboard.to_json(),
        generation_method=storyboard.generation_method,
        title=storyboard.title[:255],
        scene_count=storyboard.scene_count,
        total_duration_s=storyboard.total_duration,
        pipeline_ms=pipeline_ms,
        created_at=now,
        revision=revision.to_json() if revision is not None else None,
    )
    if video is not None:
        job_queries.insert_video(
            conn,
            version_id=version.id,
            path=f"storyboard-{job.id}-v{version.version}.mp4",  # the name the chat sees, beside the .json
            duration_s=video.duration_s,
            size_bytes=video.size_bytes,
            codec=video.codec,
            width=video.width,
            height=video.height,
            data=video.data,
            thumbnail=video.thumbnail,
            created_at=now,
        )
    return version


def _reap(conn: Connection, now: datetime, max_attempts: int, spare: str | None) -> tuple[list[str], list[str]]:
    gone = owners.dead(job_queries.running_workers(conn), alive=spare)
    expired = job_queries.lease_expired(now)
    if gone:
        expired = expired.or_(job_queries.held_by(gone))
    failed = transition(
        conn,
        JobEvent.FAILED,
        expired.also(job_queries.attempts_at_least(max_attempts)),
        now=now,
        values=_finished(now, FailureCode.WORKER_CRASHES),
    )
    requeued = transition(
        conn, JobEvent.LEASE_EXPIRED, expired, now=now, values={"worker_id": None, "lease_expires_at": None}
    )
    return [job.id for job in requeued], [job.id for job in failed]


def _cancel(conn: Connection, job_id: str, now: datetime, values: dict[str, object]) -> JobRecord:
    moved = transition(conn, JobEvent.CANCELLED, job_queries.job_is(job_id), now=now, values=values)
    if moved:
        return moved[0]
    current = job_queries.get_job(conn, job_id)
    raise JobStateError(job_id, current.status if current else "gone")
