"""The job service: the durable queue of script-to-storyboard work.

submit() is one short transaction (user, script, job and its ack notification) and nothing else. Workers
claim jobs with a lease in one atomic statement (storage.jobs.claim_next); a result is written together with
its notifications, so a job is either done and announced or not done at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.batching import Batcher
from core.clock import Clock, SystemClock
from core.delivery import LEASE_S as SEND_LEASE_S
from core.errors import JobNotFoundError, JobStateError, QuotaExceededError
from core.foreground import Foreground
from core.ids import new_job_id, normalize_job_id
from core.intake import clean_script
from core.metrics import JOB_FAILURES, JOBS_SUBMITTED
from core.settings import JobSettings
from core.storyboard import Storyboard, parse_storyboard
from core.types import Author, JobRecord, LeasedAck, ScriptSubmission, Submitted, VersionRecord
from core.wakeup import Wakeup
from storage import jobs as job_queries
from storage import outbox as outbox_queries
from storage import ratings as rating_queries
from storage import stats as stats_queries
from storage.engine import read_only

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class JobInputs:
    script_text: str
    parent: Storyboard | None = None
    rating: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class _Request:
    """One job to queue: a new script (``author`` and ``script`` set) or an improvement of a stored one."""

    user_id: int
    chat_id: int
    request_key: str
    reply_to: int | None
    take_ack: bool = False  # lease the ack to the caller, who sends it at once
    kind: str = "generate"
    author: Author | None = None
    script: dict[str, object] | None = None  # the scripts row to insert, for kind "generate"
    script_id: int | None = None  # the script to improve, for kind "improve"
    parent_version_id: int | None = None
    feedback_id: int | None = None


FAILED_FOR_USER = "Something went wrong on our side while making this storyboard. Please send the script again."
FAILED_IMPROVEMENT_FOR_USER = (
    "Something went wrong on our side while improving this storyboard. Rate it again to ask once more."
)


class JobService:
    def __init__(self, engine: AsyncEngine, settings: JobSettings, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.reader = read_only(engine)  # reads take no write lock on SQLite
        self.settings = settings
        self.clock = clock or SystemClock()
        self.jobs_waiting = Wakeup()  # nudged when a job may be claimable
        self.outbox_waiting = Wakeup()  # nudged when a notification was queued
        self.foreground = Foreground()  # acks go before the pipeline (see core.foreground)
        self._submitter = Batcher(self._submit_many, name="submit", abandoned=self._abandoned)

    # -- intake -------------------------------------------------------------------------------------------

    async def submit(self, submission: ScriptSubmission, *, take_ack: bool = False) -> Submitted:
        """Store the script and its job; the same chat message submitted again returns the first job.

        Concurrent submissions share one transaction (group commit, see core.batching): under load a submit
        costs a share of a few statements rather than a transaction of its own. With ``take_ack`` the caller
        promises to send the ack at once (Delivery.deliver_ack): it comes back leased, so the outbox loop leaves
        it alone and sending it needs no read.
        """
        text = clean_script(
            submission.text, max_chars=self.settings.max_script_chars, max_scenes=self.settings.max_scenes
        )
        author = submission.author
        return await self._submitter(
            _Request(
                user_id=author.user_id,
                chat_id=submission.chat_id,
                request_key=f"msg:{submission.chat_id}:{submission.message_id}",
                reply_to=submission.message_id,
                take_ack=take_ack,
                author=author,
                script={
                    "user_id": author.user_id,
                    "source": submission.source,
                    "file_name": submission.file_name[:255] if submission.file_name else None,
                    "sha256": hashlib.sha256(text.encode()).hexdigest(),
                    "text": text,
                    "char_count": len(text),
                    "chat_id": submission.chat_id,
                    "message_id": submission.message_id,
                },
            )
        )

    async def submit_improvement(
        self,
        *,
        user_id: int,
        feedback_id: int,
        version: VersionRecord,
        chat_id: int,
        request_key: str,
        reply_to: int | None,
    ) -> Submitted:
        """Queue an improved version of ``version`` driven by the feedback row (rating and comment), once per
        ``request_key`` (two taps racing get the first one's job)."""
        existing = await self._find_request(request_key)
        if existing is not None:
            return existing
        return await self._submitter(
            _Request(
                user_id=user_id,
                chat_id=chat_id,
                request_key=request_key,
                reply_to=reply_to,
                kind="improve",
                script_id=version.script_id,
                parent_version_id=version.id,
                feedback_id=feedback_id,
            )
        )

    async def _submit_many(self, requests: Sequence[_Request]) -> list[Submitted | Exception]:
        """Store a batch in one write transaction. When the database refuses it (one request's bad row, or a
        request stored meanwhile by another process, refused by a unique key), each request is stored on its
        own, so the error reaches only its own caller and a duplicate returns the first job."""
        try:
            async with self.engine.begin() as conn:
                outcomes = await self._store(conn, requests)
        except Exception as exc:  # rolled back: nothing of the batch was stored
            if len(requests) > 1:
                return [await self._submit_alone(request) for request in requests]
            existing = await self._find_request(requests[0].request_key) if isinstance(exc, IntegrityError) else None
            if existing is None:
                raise
            return [existing]
        for outcome in outcomes:
            if isinstance(outcome, Submitted):
                JOBS_SUBMITTED.labels(outcome.job.kind).inc()
                logger.info("job %s (%s) queued for user %s", outcome.job.id, outcome.job.kind, outcome.job.user_id)
                # One new job needs one worker. Its ack is delivered by the caller (Delivery.deliver_ack), and
                # the outbox loop finds it by polling should that fail, so the loop is not woken for it.
                self.jobs_waiting.notify_one()
        return outcomes

    async def _abandoned(self, submitted: Submitted) -> None:
        """A submitter went away before its job was stored: nobody will send the ack leased to it, so hand it
        to the outbox loop (otherwise its chat would wait for the lease to run out)."""
        if submitted.ack is not None and submitted.ack_outbox_id is not None:
            async with self.engine.begin() as conn:
                await outbox_queries.release_lease(conn, submitted.ack_outbox_id)
            self.outbox_waiting.notify()

    async def _submit_alone(self, request: _Request) -> Submitted | Exception:
        try:
            return (await self._submit_many([request]))[0]
        except Exception as exc:  # this request's failure, not its batch's
            return exc

    async def _store(self, conn: AsyncConnection, requests: Sequence[_Request]) -> list[Submitted | Exception]:
        """Requests stored before return their first job; then quotas (a refused request writes nothing); then
        users, scripts, jobs and acks: one statement each for the whole batch."""
        now = self.clock.now()
        stored_before = await job_queries.find_jobs_by_request(conn, {r.request_key for r in requests})
        first_of: dict[str, int] = {}  # request key -> the index of its first request in this batch
        fresh = []
        for i, request in enumerate(requests):
            if request.request_key not in stored_before and first_of.setdefault(request.request_key, i) == i:
                fresh.append(request)
        refusals = iter(await self._quota_checks(conn, fresh, now))
        outcomes: list[Submitted | Exception | None] = [
            Submitted(stored_before[r.request_key], False, None)
            if r.request_key in stored_before
            else (next(refusals) if first_of[r.request_key] == i else None)
            for i, r in enumerate(requests)
        ]
        accepted = [
            (i, r)
            for i, r in enumerate(requests)
            if outcomes[i] is None and r.request_key not in stored_before and first_of[r.request_key] == i
        ]
        users = {r.author.user_id: r.author for _, r in accepted if r.author is not None}
        if users:
            await job_queries.upsert_users(
                conn, [job_queries.UserRow(a.user_id, a.name, a.username, now) for a in users.values()]
            )
        new_scripts = [r.script | {"created_at": now} for _, r in accepted if r.script is not None]
        script_ids = await job_queries.insert_scripts(conn, new_scripts) if new_scripts else {}
        rows = [
            {
                "id": new_job_id(),
                "user_id": r.user_id,
                "script_id": r.script_id if r.script is None else script_ids[(r.chat_id, r.reply_to)],
                "kind": r.kind,
                "parent_version_id": r.parent_version_id,
                "feedback_id": r.feedback_id,
                "request_key": r.request_key,
                "status": "queued",
                "attempts": 0,
                "stage": "queued",
                "available_at": now,
                "chat_id": r.chat_id,
                "created_at": now,
                "updated_at": now,
            }
            for _, r in accepted
        ]
        if not rows:
            return self._repeats_answered(requests, outcomes, first_of)
        stored = await job_queries.insert_jobs(conn, rows)
        jobs = [stored[str(row["id"])] for row in rows]
        positions = await job_queries.queue_positions(conn, [job.id for job in jobs])
        # An ack goes out at once, leased to its caller, unless something waits before it in its chat.
        busy = await outbox_queries.chats_with_pending(conn, {job.chat_id for job in jobs})
        lease_until = now + timedelta(seconds=SEND_LEASE_S)
        notes = []
        for job, (_, request) in zip(jobs, accepted, strict=True):
            leased = request.take_ack and job.chat_id not in busy
            busy.add(job.chat_id)
            notes.append(
                outbox_queries.NewNotification(
                    chat_id=job.chat_id,
                    kind="ack",
                    payload={"reply_to": request.reply_to},
                    now=now,
                    job_id=job.id,
                    dedupe_key=f"ack:{job.id}",
                    lease_until=lease_until if leased else None,
                )
            )
        ack_ids = await outbox_queries.enqueue_many(conn, notes)
        for job, note, (i, request) in zip(jobs, notes, accepted, strict=True):
            ack = LeasedAck(request.reply_to, positions.get(job.id)) if note.lease_until else None
            outcomes[i] = Submitted(job, True, ack_ids[note.dedupe_key], ack)
        return self._repeats_answered(requests, outcomes, first_of)

    @staticmethod
    def _repeats_answered(
        requests: Sequence[_Request], outcomes: list[Submitted | Exception | None], first_of: dict[str, int]
    ) -> list[Submitted | Exception]:
        """A request repeated within the batch gets what its first copy got: the same job (not created again),
        or the same refusal."""
        answered: list[Submitted | Exception] = []
        for i, request in enumerate(requests):
            outcome = outcomes[i]
            if outcome is None:
                first = outcomes[first_of[request.request_key]]
                assert first is not None
                outcome = Submitted(first.job, False, None) if isinstance(first, Submitted) else first
            answered.append(outcome)
        return answered

    async def _quota_checks(
        self, conn: AsyncConnection, requests: Sequence[_Request], now: datetime
    ) -> list[QuotaExceededError | None]:
        """None for each request within its user's limits (counting the ones before it in the batch), the
        error to show for the others."""
        counts = await job_queries.count_jobs_by_user(conn, {r.user_id for r in requests}, since=now - HOUR)
        outcomes: list[QuotaExceededError | None] = []
        for request in requests:
            active, last_hour = counts.get(request.user_id, (0, 0))
            if active >= self.settings.max_active_jobs_per_user:
                outcomes.append(
                    QuotaExceededError(
                        f"You already have {active} storyboards in the works; the limit is "
                        f"{self.settings.max_active_jobs_per_user}. Please wait for one to finish (see /jobs)."
                    )
                )
            elif last_hour >= self.settings.max_jobs_per_hour:
                oldest = await job_queries.oldest_recent_job_time(conn, request.user_id, since=now - HOUR)
                wait_s = max(1.0, ((oldest or now) + HOUR - now).total_seconds())
                outcomes.append(
                    QuotaExceededError(
                        f"You have sent {last_hour} scripts in the last hour; the limit is "
                        f"{self.settings.max_jobs_per_hour}. Please try again in {_minutes(wait_s)}.",
                        retry_after_s=wait_s,
                    )
                )
            else:
                counts[request.user_id] = (active + 1, last_hour + 1)
                outcomes.append(None)
        return outcomes

    async def _find_request(self, request_key: str) -> Submitted | None:
        async with self.reader.connect() as conn:
            existing = await job_queries.find_job_by_request(conn, request_key)
        return Submitted(existing, False, None) if existing is not None else None

    async def queue_position(self, job: JobRecord) -> int | None:
        """1 for the next job to be claimed; None unless the job is queued."""
        if job.status != "queued":
            return None
        async with self.reader.connect() as conn:
            return await job_queries.queue_position(conn, job)

    # -- questions users ask ------------------------------------------------------------------------------

    async def get_for_user(self, job_id: str, user_id: int) -> tuple[JobRecord, int | None]:
        """The user's own job and its queue position (None unless queued); anyone else's is "not found"."""
        canonical = normalize_job_id(job_id)
        async with self.reader.connect() as conn:
            job = await job_queries.get_job(conn, canonical) if canonical else None
            if job is None or job.user_id != user_id:
                raise JobNotFoundError(job_id)
            position = await job_queries.queue_position(conn, job) if job.status == "queued" else None
        return job, position

    async def recent(self, user_id: int, *, limit: int = 10) -> list[JobRecord]:
        async with self.reader.connect() as conn:
            return await job_queries.recent_jobs(conn, user_id, limit=limit)

    async def cancel(self, job_id: str, user_id: int) -> JobRecord:
        job, _ = await self.get_for_user(job_id, user_id)
        now = self.clock.now()
        async with self.engine.begin() as conn:
            if not await job_queries.cancel_job(conn, job.id, now=now):
                current = await job_queries.get_job(conn, job.id)
                raise JobStateError(f"Job {job.id} is already {current.status if current else job.status}.")
            await self._status_changed(conn, job, "cancelled", now)
            cancelled = await job_queries.get_job(conn, job.id)
        self.outbox_waiting.notify()
        logger.info("job %s cancelled by user %s", job.id, user_id)
        assert cancelled is not None
        return cancelled

    async def backlog(self) -> tuple[int, int]:
        """(jobs queued or running, notifications not yet delivered): (0, 0) means all is settled."""
        async with self.reader.connect() as conn:
            by_status = await stats_queries.jobs_by_status(conn)
            pending, _ = await stats_queries.outbox_backlog(conn)
        return by_status.get("queued", 0) + by_status.get("running", 0), pending

    async def version_for_job(self, job_id: str) -> VersionRecord | None:
        async with self.reader.connect() as conn:
            return await job_queries.version_for_job(conn, job_id)

    async def inputs(self, job: JobRecord) -> JobInputs:
        """What the pipeline needs for this job: the script, and for an improvement the version and feedback."""
        async with self.reader.connect() as conn:
            script = await job_queries.get_script(conn, job.script_id)
            if job.kind != "improve" or job.parent_version_id is None:
                return JobInputs(script.text)
            parent = await job_queries.get_version(conn, job.parent_version_id)
            rated = await rating_queries.get_feedback(conn, job.feedback_id) if job.feedback_id else None
        if parent is None:
            raise JobStateError(f"job {job.id}: version {job.parent_version_id} is gone")
        return JobInputs(
            script.text,
            parent=parse_storyboard(parent.storyboard_json),
            rating=rated.rating if rated else None,
            comment=rated.comment if rated else None,
        )

    # -- the worker's side --------------------------------------------------------------------------------

    async def claim(self, worker_id: str) -> JobRecord | None:
        now = self.clock.now()
        async with self.engine.begin() as conn:
            job = await job_queries.claim_next(
                conn,
                worker_id=worker_id,
                now=now,
                lease_until=now + timedelta(seconds=self.settings.job_lease_s),
            )
            if job is not None:
                await self._status_changed(conn, job, f"running:{job.attempts}", now)
        if job is not None:
            self.outbox_waiting.notify()
        return job

    async def heartbeat(self, job: JobRecord, worker_id: str, *, stage: str | None = None) -> bool:
        """Renew the lease; False when the job was cancelled or taken back, so the worker should stop."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            return await job_queries.extend_lease(
                conn,
                job.id,
                worker_id,
                lease_until=now + timedelta(seconds=self.settings.job_lease_s),
                stage=stage,
                now=now,
            )

    async def complete(
        self, job: JobRecord, worker_id: str, storyboard: Storyboard, *, pipeline_ms: int
    ) -> VersionRecord | None:
        """Write the version and its notifications in one transaction; None when the job is no longer ours."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            if not await job_queries.finish_owned(conn, job.id, worker_id, status="done", now=now):
                await conn.rollback()
                logger.info("job %s finished but was no longer ours (cancelled or expired); result discarded", job.id)
                return None
            version = await job_queries.insert_version(
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
            )
            await self._status_changed(conn, job, "done", now)
            for kind in ("result", "result_file"):
                await outbox_queries.enqueue(
                    conn,
                    chat_id=job.chat_id,
                    kind=kind,
                    payload={"version_id": version.id},
                    now=now,
                    job_id=job.id,
                    dedupe_key=f"{kind}:{job.id}",
                )
        self.outbox_waiting.notify()
        logger.info("job %s done: version %s (%s, %d ms)", job.id, version.id, version.generation_method, pipeline_ms)
        return version

    async def fail(self, job: JobRecord, worker_id: str, *, reason: str, retryable: bool) -> str:
        """A failed attempt: back to the queue after a backoff while attempts remain, else failed for good.

        Returns the job's new status ("queued", "failed", or "lost" when it was no longer ours).
        """
        now = self.clock.now()
        async with self.engine.begin() as conn:
            if retryable and job.attempts < self.settings.job_max_attempts:
                delay_s = self.settings.job_retry_backoff_s * 2 ** (job.attempts - 1)
                requeued = await job_queries.requeue_owned(
                    conn, job.id, worker_id, available_at=now + timedelta(seconds=delay_s), now=now
                )
                if requeued:
                    JOB_FAILURES.labels("no").inc()
                    await self._status_changed(conn, job, f"queued:{job.attempts}", now)
                    logger.warning(
                        "job %s attempt %d failed (%s); retry in %.1f s",
                        job.id,
                        job.attempts,
                        reason,
                        delay_s,
                    )
                return "queued" if requeued else "lost"
            message = FAILED_IMPROVEMENT_FOR_USER if job.kind == "improve" else FAILED_FOR_USER
            if not await job_queries.finish_owned(conn, job.id, worker_id, status="failed", now=now, error=message):
                return "lost"
            await self._status_changed(conn, job, "failed", now)
        self.outbox_waiting.notify()
        JOB_FAILURES.labels("yes").inc()
        logger.error("job %s failed after %d attempts: %s", job.id, job.attempts, reason)
        return "failed"

    async def release(self, job: JobRecord, worker_id: str) -> bool:
        """Give a job back at shutdown without counting the attempt."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            released = await job_queries.requeue_owned(
                conn, job.id, worker_id, available_at=job.available_at, now=now, refund_attempt=True
            )
        if released:
            logger.info("job %s released back to the queue", job.id)
        return released

    async def requeue_expired(self) -> tuple[list[str], list[str]]:
        """Jobs whose worker died (lease expired) go back to the queue; poison jobs fail. Run at start and
        periodically."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            requeued, failed = await job_queries.expire_leases(
                conn, now=now, max_attempts=self.settings.job_max_attempts
            )
            for job_id in requeued:
                await self._status_changed_id(conn, job_id, f"requeued:{now.timestamp()}", now)
            for job_id in failed:
                await self._status_changed_id(conn, job_id, "failed", now)
        if requeued:
            logger.warning("requeued %d job(s) whose lease expired: %s", len(requeued), ", ".join(requeued))
            self.jobs_waiting.notify()
        if failed:
            self.outbox_waiting.notify()
        return requeued, failed

    # -- helpers ------------------------------------------------------------------------------------------

    async def _status_changed(self, conn: AsyncConnection, job: JobRecord, tag: str, now: datetime) -> None:
        await self._status_changed_id(conn, job.id, tag, now, chat_id=job.chat_id)

    async def _status_changed_id(
        self, conn: AsyncConnection, job_id: str, tag: str, now: datetime, *, chat_id: int | None = None
    ) -> None:
        """Queue an edit of the job's ack; the sender renders the job as it is at delivery time."""
        if chat_id is None:
            job = await job_queries.get_job(conn, job_id)
            if job is None:
                return
            chat_id = job.chat_id
        await outbox_queries.enqueue(
            conn,
            chat_id=chat_id,
            kind="job_status",
            payload={},
            now=now,
            job_id=job_id,
            dedupe_key=f"status:{job_id}:{tag}",
        )
        if tag == "failed":  # an edit makes no sound: say it in a message of its own too
            await outbox_queries.enqueue(
                conn,
                chat_id=chat_id,
                kind="job_failed",
                payload={},
                now=now,
                job_id=job_id,
                dedupe_key=f"failed:{job_id}",
            )


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute" + ("" if minutes == 1 else "s")
