"""Intake: a script (or an improvement request) becomes a queued job and its ack, once, within the user's quotas.

``submit_many`` stores a batch in one transaction, one statement per table for the whole batch. Batches arrive
on their own: the updates of one getUpdates answer are handled at once, and submissions made while a batch is
being written join the next one (group commit: a submission alone waits for nobody). Within a batch:
- a request stored before, or repeated in the same batch, gets its first job and counts against no quota;
- quotas count the requests that come earlier in the batch; a refused request writes nothing;
- when the database refuses the batch (one request's bad row, or a request another process stored meanwhile),
  each request is stored alone, so an error reaches only its own caller and a duplicate gets the first job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from core import failpoints
from core.clock import Clock
from core.errors import Quota, QuotaExceededError
from core.events import ON_SUBMIT, JobEvent, notification
from core.ids import new_job_id
from core.metrics import JOBS_SUBMITTED
from core.owners import Holder
from core.scripts import clean_script
from core.settings import JobSettings
from core.types import Author, LeasedAck, ScriptSubmission, Submitted, VersionRecord
from core.wakeups import Wakeups
from storage import inbox as inbox_queries
from storage import jobs as job_queries
from storage import outbox as outbox_queries
from storage.db import Database
from storage.states import JobKind, JobStatus

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
MAX_BATCH = 64  # requests in one group commit


@dataclass(frozen=True, slots=True)
class Request:
    """One job to queue: a new script (``author`` and ``script`` set) or an improvement of a stored one."""

    bot_id: int
    user_id: int
    chat_id: int
    request_key: str
    reply_to: int | None
    take_ack: bool = False  # lease the ack to the caller, who sends it at once
    kind: JobKind = JobKind.GENERATE
    author: Author | None = None
    script: dict[str, object] | None = None  # the scripts row to insert, for a new script
    script_id: int | None = None  # the script to improve
    parent_version_id: int | None = None
    feedback_id: int | None = None
    update_ids: tuple[int, ...] = ()  # the inbox updates this request handles: marked in its transaction
    language: str | None = None  # the locale its job's messages are said in (None: English)


def message_key(bot_id: int, chat_id: int, message_id: int) -> str:
    """The idempotency key of a script sent as one message: a message id is unique in one chat of one bot."""
    return f"msg:{bot_id}:{chat_id}:{message_id}"


class Intake:
    """What one bot receives becomes jobs: ``bot_id`` (getMe's) scopes every key."""

    def __init__(
        self, db: Database, settings: JobSettings, *, bot_id: int, clock: Clock, holder: Holder, wakeups: Wakeups
    ) -> None:
        self.holder = holder  # the ack an intake takes is leased to this process, as its sender's are
        self.db = db
        self.bot_id = bot_id
        self._waiting: list[tuple[Request, asyncio.Future[Submitted | Exception]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.settings = settings
        self.clock = clock
        self.wakeups = wakeups

    def script_request(self, submission: ScriptSubmission, *, take_ack: bool = False) -> Request:
        """The request for a new script; raises ScriptRejectedError for text that cannot be one."""
        text = clean_script(
            submission.text,
            max_chars=self.settings.max_script_chars,
            max_scenes=self.settings.max_scenes,
            file_name=submission.file_name,
        )
        author = submission.author
        bot_id = self.bot_id
        return Request(
            bot_id=bot_id,
            user_id=author.user_id,
            chat_id=submission.chat_id,
            request_key=message_key(bot_id, submission.chat_id, submission.message_id),
            reply_to=submission.message_id,
            take_ack=take_ack,
            update_ids=submission.update_ids,
            language=submission.language,
            author=author,
            script={
                "bot_id": bot_id,
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

    async def submit(self, submission: ScriptSubmission, *, take_ack: bool = False) -> Submitted:
        """Store the script and its job; the same chat message submitted again returns the first job.

        With ``take_ack`` the caller promises to send the ack at once (Delivery.deliver_ack): it comes back
        leased, so the outbox loop leaves it alone and sending it needs no read.
        """
        outcome = await self._submit_one(self.script_request(submission, take_ack=take_ack))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def submit_improvement(
        self,
        *,
        user_id: int,
        feedback_id: int,
        version: VersionRecord,
        chat_id: int,
        request_key: str,
        reply_to: int | None,
        update_ids: tuple[int, ...] = (),
        language: str | None = None,
    ) -> Submitted:
        """Queue an improved version of ``version`` driven by the feedback row (rating and comment), once per
        ``request_key`` (two taps racing get the first one's job)."""
        request = Request(
            bot_id=self.bot_id,
            user_id=user_id,
            chat_id=chat_id,
            request_key=request_key,
            reply_to=reply_to,
            kind=JobKind.IMPROVE,
            script_id=version.script_id,
            parent_version_id=version.id,
            feedback_id=feedback_id,
            update_ids=update_ids,
            language=language,
        )
        outcome = await self._submit_one(request)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def submit_many(self, requests: Sequence[Request]) -> list[Submitted | Exception]:
        """Store a batch in one write transaction; one outcome per request, in order."""
        try:
            outcomes = await self.db.write(self._store, requests, self.clock.now(), self.settings, self.holder)
        except Exception as exc:  # rolled back: nothing of the batch was stored
            if len(requests) > 1:
                return [await self._submit_alone(request) for request in requests]
            existing = await self._find(requests[0].request_key) if isinstance(exc, IntegrityError) else None
            if existing is None:
                raise
            return [existing]
        created = 0
        for outcome in outcomes:
            if isinstance(outcome, Submitted) and outcome.created:
                created += 1
                JOBS_SUBMITTED.labels(outcome.job.kind).inc()
                logger.info("job %s (%s) queued for user %s", outcome.job.id, outcome.job.kind, outcome.job.user_id)
        self.wakeups.jobs_added(created)  # one new job needs one worker
        return outcomes

    async def _submit_one(self, request: Request) -> Submitted | Exception:
        """Group commit: a request joins the ones waiting while the previous batch is being written, and they go
        in one transaction (a request alone starts at once and waits for nobody). Its caller may go away: the
        write still happens, as a commit that landed just before a cancel would have, and an ack leased to that
        caller goes to the delivery loop instead."""
        future: asyncio.Future[Submitted | Exception] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="intake-group-commit")
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._hand_back_ack)
            raise

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                outcomes = await self.submit_many([request for request, _ in batch])
            except Exception as exc:  # the request alone failed (submit_many splits a failed batch)
                outcomes = [exc] * len(batch)
            except BaseException:  # cancelled with the loop: so is everyone waiting
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting.clear()
                raise
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                future.set_result(outcome)

    def _hand_back_ack(self, future: asyncio.Future[Submitted | Exception]) -> None:
        outcome = None if future.cancelled() else future.result()
        if isinstance(outcome, Submitted) and outcome.ack is not None and outcome.ack_outbox_id is not None:
            handed_back = asyncio.ensure_future(self.db.write(outbox_queries.release_lease, outcome.ack_outbox_id))
            handed_back.add_done_callback(self._handed_back)

    def _handed_back(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:  # the lease runs out instead (BOT_LEASE_S)
            logger.warning("could not hand back an ack: %r", task.exception())
        self.wakeups.outbox_changed()

    async def _submit_alone(self, request: Request) -> Submitted | Exception:
        try:
            return (await self.submit_many([request]))[0]
        except Exception as exc:  # this request's failure, not its batch's
            return exc

    async def _find(self, request_key: str) -> Submitted | None:
        existing = await self.db.read(job_queries.find_job_by_request, request_key)
        return Submitted(existing, False, None) if existing is not None else None

    @staticmethod
    def _store(
        conn: Connection, requests: Sequence[Request], now: datetime, settings: JobSettings, holder: Holder
    ) -> list[Submitted | Exception]:
        """Requests stored before return their first job; then quotas (a refused request writes nothing); then
        users, scripts, jobs and acks: one statement each for the whole batch. The inbox updates of every
        request that got its job (new or stored before) are marked handled with it."""
        outcomes = Intake._store_requests(conn, requests, now, settings, holder)
        for bot_id in {r.bot_id for r in requests}:
            handled = [
                update_id
                for r, outcome in zip(requests, outcomes, strict=True)
                if r.bot_id == bot_id and isinstance(outcome, Submitted)
                for update_id in r.update_ids
            ]
            inbox_queries.mark_handled(conn, bot_id, handled, now=now)
        failpoints.reached("intake.stored.uncommitted")
        return outcomes

    @staticmethod
    def _store_requests(
        conn: Connection, requests: Sequence[Request], now: datetime, settings: JobSettings, holder: Holder
    ) -> list[Submitted | Exception]:
        stored_before = job_queries.find_jobs_by_request(conn, {r.request_key for r in requests})
        first_of: dict[str, int] = {}  # request key -> the index of its first request in this batch
        fresh = [
            r
            for i, r in enumerate(requests)
            if r.request_key not in stored_before and first_of.setdefault(r.request_key, i) == i
        ]
        refusals = iter(_quota_checks(conn, fresh, now, settings))
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
        if accepted:
            for (i, _), submitted in zip(accepted, _insert(conn, [r for _, r in accepted], now, holder), strict=True):
                outcomes[i] = submitted
        return _repeats_answered(requests, outcomes, first_of)


def _insert(conn: Connection, requests: Sequence[Request], now: datetime, holder: Holder) -> list[Submitted]:
    users = {r.author.user_id: r.author for r in requests if r.author is not None}
    if users:
        job_queries.upsert_users(
            conn, [job_queries.UserRow(a.user_id, a.name, a.username, now) for a in users.values()]
        )
    new_scripts = [r.script | {"created_at": now} for r in requests if r.script is not None]
    script_ids = job_queries.insert_scripts(conn, new_scripts) if new_scripts else {}
    rows = [
        {
            "id": new_job_id(),
            "bot_id": r.bot_id,
            "user_id": r.user_id,
            "script_id": r.script_id if r.script is None else script_ids[(r.chat_id, r.reply_to)],
            "kind": r.kind,
            "parent_version_id": r.parent_version_id,
            "feedback_id": r.feedback_id,
            "request_key": r.request_key,
            "status": JobStatus.QUEUED,
            "attempts": 0,
            "stage": JobStatus.QUEUED,
            "available_at": now,
            "chat_id": r.chat_id,
            "created_at": now,
            "updated_at": now,
            "language": r.language,
        }
        for r in requests
    ]
    stored = job_queries.insert_jobs(conn, rows)
    jobs = [stored[str(row["id"])] for row in rows]
    positions = {job.id: job_queries.queue_position(conn, job) for job in jobs if job.status == JobStatus.QUEUED}
    # An ack goes out at once, leased to its caller, unless something waits before it in its chat.
    busy = {
        (bot_id, chat_id)
        for bot_id in {job.bot_id for job in jobs}
        for chat_id in outbox_queries.chats_with_pending(conn, bot_id, {j.chat_id for j in jobs if j.bot_id == bot_id})
    }
    lease_until = holder.until(now)  # the delivery loop's own lease
    acks = []
    for job, request in zip(jobs, requests, strict=True):
        leased = request.take_ack and (job.bot_id, job.chat_id) not in busy
        busy.add((job.bot_id, job.chat_id))
        ack = notification(job, ON_SUBMIT, JobEvent.SUBMITTED, now)
        acks.append(
            dataclasses.replace(
                ack,
                payload={"reply_to": request.reply_to},
                lease_until=lease_until if leased else None,
                lease_owner=holder.name,
            )
        )
    ack_ids = outbox_queries.enqueue_many(conn, acks)
    return [
        Submitted(
            job,
            True,
            ack_ids[str(note.dedupe_key)],
            LeasedAck(request.reply_to, positions.get(job.id)) if note.lease_until else None,
        )
        for job, note, request in zip(jobs, acks, requests, strict=True)
    ]


def _quota_checks(
    conn: Connection, requests: Sequence[Request], now: datetime, settings: JobSettings
) -> list[QuotaExceededError | None]:
    """None for each request within its user's limits (counting the ones before it in the batch), the refusal
    for the others."""
    if not requests:
        return []
    counts = job_queries.count_jobs_by_user(conn, {r.user_id for r in requests}, since=now - HOUR)
    outcomes: list[QuotaExceededError | None] = []
    for request in requests:
        active, last_hour = counts.get(request.user_id, (0, 0))
        if active >= settings.max_active_jobs_per_user:
            outcomes.append(
                QuotaExceededError(Quota.ACTIVE_JOBS, count=active, limit=settings.max_active_jobs_per_user)
            )
        elif last_hour >= settings.max_jobs_per_hour:
            oldest = job_queries.oldest_recent_job_time(conn, request.user_id, since=now - HOUR)
            wait_s = max(1.0, ((oldest or now) + HOUR - now).total_seconds())
            outcomes.append(
                QuotaExceededError(
                    Quota.JOBS_PER_HOUR, count=last_hour, limit=settings.max_jobs_per_hour, retry_after_s=wait_s
                )
            )
        else:
            counts[request.user_id] = (active + 1, last_hour + 1)
            outcomes.append(None)
    return outcomes


def _repeats_answered(
    requests: Sequence[Request], outcomes: list[Submitted | Exception | None], first_of: dict[str, int]
) -> list[Submitted | Exception]:
    """A request repeated within the batch gets what its first copy got: the same job (not created again), or
    the same refusal."""
    answered: list[Submitted | Exception] = []
    for i, request in enumerate(requests):
        outcome = outcomes[i]
        if outcome is None:
            first = outcomes[first_of[request.request_key]]
            assert first is not None
            outcome = Submitted(first.job, False, None) if isinstance(first, Submitted) else first
        answered.append(outcome)
    return answered
