"""The outbox delivery loop: notifications leave here, in order per chat, at least once.

A notification is marked sent the moment the sender returns, in its own short transaction, so a crash can
repeat at most the one message that was in flight. The retry policy sits with the loop:
- DeliveryRetryLaterError (flood control): wait exactly what the platform asked, then try again;
- DeliveryTransientError or anything unexpected: exponential backoff (1 s, 2 s, ... 5 min); a status edit or
  failure note is dropped (and logged) after ``outbox_max_attempts``, an ack or a result after a day;
- RecipientGoneError (the user blocked the bot): drop everything pending for that chat, mark the user blocked,
  and cancel the chat's jobs that have not started;
- DeliveryRejectedError (the platform refused the payload): drop it and log an error (a bug to fix).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Connection

from core import failpoints, owners
from core.clock import Clock
from core.errors import (
    DeliveryRejectedError,
    DeliveryRetryLaterError,
    RecipientGoneError,
    retrying_db_errors,
)
from core.events import JobEvent, transition
from core.events import notification as notification_of
from core.metrics import NOTIFICATIONS
from core.owners import Holder
from core.settings import JobSettings
from core.types import JobRecord, OutboxRecord, Submitted, VersionRecord, VideoRecord
from core.wakeups import Wakeups
from storage import jobs as job_queries
from storage import outbox as outbox_queries
from storage.db import Database
from storage.states import FailureCode, JobStatus, NotificationKind

logger = logging.getLogger(__name__)

ACK_ORDER_WAIT_S = 10.0  # how long a chat's next reply waits for an ack queued behind other notifications
ACK_IDLE_S = 0.25  # ... while nothing of its chat is being sent (the loop starts the next one within this)
RECORD_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0)
KEEP_TRYING_S = 24 * 3600.0  # results and acks are retried through transient errors for this long
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell a chat, with the current state it is about (rendered at delivery time)."""

    id: int
    chat_id: int
    kind: NotificationKind
    attempts: int
    created_at: datetime
    job: JobRecord | None = None
    version: VersionRecord | None = None
    queue_position: int | None = None
    payload: dict[str, object] = field(default_factory=dict)
    video: VideoRecord | None = None  # a result's video, when one was made

    @property
    def reply_to(self) -> int | None:
        value = self.payload.get("reply_to")
        return value if isinstance(value, int) else None


class Sender(Protocol):
    """Delivers one notification; returns the platform's message id (or None), raises DeliveryError."""

    async def deliver(self, notification: Notification) -> int | None: ...


class Delivery:
    def __init__(
        self,
        db: Database,
        sender: Sender,
        settings: JobSettings,
        *,
        bot_id: int,
        clock: Clock,
        holder: Holder,
        wakeups: Wakeups,
        concurrency: int = 16,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.bot_id = bot_id  # this sender delivers this bot's notifications only
        self.clock = clock
        self.holder = holder  # a lease is this process's while it renews it (core.owners)
        self.wakeups = wakeups
        self.poll_interval_s = poll_interval_s
        self.concurrency = concurrency
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._held: set[int] = set()  # outbox ids leased here and not yet recorded
        self._in_flight: set[asyncio.Task[bool]] = set()
        self._in_flight_ids: set[int] = set()
        self._sending: dict[int, int] = {}  # chat id -> notifications being handed to the sender now
        self._chat_changed: dict[int, asyncio.Event] = {}  # chat id -> set when one of its sends starts or ends
        self._watched: dict[int, bool] = {}  # outbox id -> tried yet (an ack a handler waits for)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the loop. Leases of a sender that died on this machine (this one's previous life, say) are
        freed first, or what it had in flight would wait for them to run out; any other sender's are its own."""
        released = await self.db.write(_release_gone, self.bot_id)
        if released:
            logger.warning("released %d notification(s) a dead process left in flight", released)
        self._task = asyncio.create_task(self._loop(), name="outbox-delivery")
        self._renewer = asyncio.create_task(self._renew_forever(), name="outbox-leases")

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop taking notifications; messages already handed to the sender get ``timeout_s`` to finish and be
        marked, so a restart does not send them again. What is still held then is let go of."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        try:
            await self.db.write(outbox_queries.release_owned, self.bot_id, [self.holder.name])
        except Exception as exc:
            logger.warning("could not let go of the notifications in flight (%r); their leases run out", exc)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.holder.renew_every_s)
            if not self._held:
                continue
            until = self.holder.until(self.clock.now())
            held = set(self._held)
            try:
                kept = await self.db.write(outbox_queries.renew_leases, held, owner=self.holder.name, until=until)
            except Exception as exc:
                logger.warning("could not renew the leases of %d notification(s): %r", len(held), exc)
                continue
            if kept < len(held & self._held):  # some were recorded meanwhile; fewer kept than that: taken
                logger.warning(
                    "%d notification(s) being sent here were taken by another process (this one could not renew "
                    "their leases for %.0f s): they may reach their chats twice",
                    len(held & self._held) - kept,
                    self.holder.lease_s,
                )

    async def run_until_idle(self) -> None:
        """Deliver everything due now, then return (tests, burst runs)."""
        while await self._fill() or self._in_flight:
            if self._in_flight:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _loop(self) -> None:
        """A rolling pool: a chat's next notification starts as soon as its previous one is done, whatever
        the other chats are doing, so one slow chat never holds up the rest."""
        while True:
            try:
                started = await self._fill()
            except Exception:
                logger.exception("outbox round failed; retrying")
                started = 0
            if started:
                continue
            waiter = asyncio.create_task(self.wakeups.wait_for_outbox(self.poll_interval_s))
            try:
                await asyncio.wait({waiter, *self._in_flight}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def _fill(self) -> int:
        """Start delivering due notifications (the head of each idle chat) into the free slots."""
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        heads = await self.db.read(outbox_queries.due_heads, self.bot_id, now=self.clock.now(), limit=free)
        started = 0
        for head in heads:
            if head.id in self._in_flight_ids:
                continue
            task = asyncio.create_task(self._deliver_tracked(head.id))
            self._in_flight.add(task)
            self._in_flight_ids.add(head.id)
            task.add_done_callback(self._in_flight.discard)
            started += 1
        return started

    async def _deliver_tracked(self, outbox_id: int) -> bool:
        try:
            return await self.deliver_now(outbox_id)
        finally:
            self._in_flight_ids.discard(outbox_id)

    async def deliver_ack(self, submitted: Submitted, *, wait_s: float = ACK_ORDER_WAIT_S) -> bool:
        """Deliver a just-submitted job's ack: at once when submit() leased it already (no read needed), else
        as deliver_now does. An ack that must wait its turn behind notifications of its chat that are being sent
        now waits with them (up to ``wait_s``), so the chat's next reply cannot overtake it; behind ones that wait
        for a later try (flood control, a backoff) it is left to the loop, and the handler goes on."""
        if submitted.ack_outbox_id is None:
            return False
        if submitted.ack is None:
            self._watched[submitted.ack_outbox_id] = False
            try:
                if await self.deliver_now(submitted.ack_outbox_id):
                    return True
                await self._wait_for_turn(submitted.ack_outbox_id, submitted.job.chat_id, wait_s)
                return False
            finally:
                del self._watched[submitted.ack_outbox_id]
        job = submitted.job
        notification = Notification(
            submitted.ack_outbox_id,
            job.chat_id,
            NotificationKind.ACK,
            attempts=1,
            created_at=job.created_at,
            job=job,
            queue_position=submitted.ack.queue_position,
            payload={"reply_to": submitted.ack.reply_to},
        )
        await self._deliver(notification)
        return True

    async def deliver_now(self, outbox_id: int) -> bool:
        """Lease one notification and deliver it; False when somebody else has it or it is done."""
        now = self.clock.now()
        notification = await self.db.write(_lease_and_load, outbox_id, self.holder.name, now, self.holder.until(now))
        if notification is None:
            return False
        if self._nothing_to_show(notification):
            await self.db.write(outbox_queries.mark_sent, [(notification.id, None)], now=self.clock.now())
            return True
        await self._deliver(notification)
        return True

    async def _wait_for_turn(self, outbox_id: int, chat_id: int, wait_s: float) -> None:
        """Until the ack has been tried, while the chat's notifications before it are being sent; not when
        nothing of the chat is on its way for ACK_IDLE_S (what is before it waits for a later try)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        idle_since: float | None = None
        while not self._watched[outbox_id]:
            now = loop.time()
            if self._sending.get(chat_id):
                idle_since, until = None, deadline
            else:
                idle_since = now if idle_since is None else idle_since
                until = min(deadline, idle_since + ACK_IDLE_S)
            if now >= until:
                return
            changed = self._chat_changed.setdefault(chat_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(until):
                    await changed.wait()

    def _chat_change(self, chat_id: int) -> None:
        changed = self._chat_changed.pop(chat_id, None)
        if changed is not None:
            changed.set()

    async def _deliver(self, notification: Notification) -> None:
        """Hand a leased notification to the sender, and record what came of it."""
        chat_id = notification.chat_id
        self._held.add(notification.id)
        self._sending[chat_id] = self._sending.get(chat_id, 0) + 1
        self._chat_change(chat_id)
        try:
            await self._deliver_and_record(notification)
        finally:
            self._held.discard(notification.id)
            self._sending[chat_id] -= 1
            if not self._sending[chat_id]:
                del self._sending[chat_id]
            if notification.id in self._watched:
                self._watched[notification.id] = True
            self._chat_change(chat_id)

    async def _deliver_and_record(self, notification: Notification) -> None:
        kind = notification.kind
        try:
            message_id = await self.sender.deliver(notification)
        except DeliveryRetryLaterError as exc:
            NOTIFICATIONS.labels(kind, "retry_later").inc()
            await self._reschedule(notification, exc.retry_after_s, f"flood control: {exc}", refund_attempt=True)
        except RecipientGoneError as exc:
            NOTIFICATIONS.labels(kind, "recipient_gone").inc()
            await self._recipient_gone(notification, str(exc))
        except DeliveryRejectedError as exc:
            NOTIFICATIONS.labels(kind, "rejected").inc()
            logger.error("outbox %s (%s, job %s) rejected: %s", notification.id, kind, _job_id(notification), exc)
            await self.db.write(outbox_queries.drop, notification.id, error=str(exc))
        except Exception as exc:  # transient by default: the network, a 5xx, a bug in the sender
            NOTIFICATIONS.labels(kind, "transient_error").inc()
            await self._backoff(notification, exc)
        else:
            NOTIFICATIONS.labels(kind, "sent").inc()
            failpoints.reached(f"delivery.sent.{kind}")  # sent, not yet recorded: the window of a duplicate
            await self._record_sent(notification, message_id)

    async def _record_sent(self, notification: Notification, message_id: int | None) -> None:
        """Record a send Telegram accepted, through a lost database connection too: unrecorded, it would be
        sent again once its lease ran out. Recording it twice changes nothing."""
        await retrying_db_errors(
            lambda: self.db.write(_record_sent, notification, message_id, self.clock.now()),
            RECORD_RETRY_DELAYS_S,
            what=f"recording outbox {notification.id} as sent",
        )

    @staticmethod
    def _nothing_to_show(notification: Notification) -> bool:
        """A status edit whose ack never made it, or that shows what the ack shows already."""
        if notification.kind != NotificationKind.JOB_STATUS or notification.job is None:
            return False
        job = notification.job
        return job.ack_message_id is None or job.ack_status == job.status

    async def _reschedule(
        self, notification: Notification, delay_s: float, error: str, *, refund_attempt: bool = False
    ) -> None:
        await self.db.write(
            outbox_queries.reschedule,
            notification.id,
            next_try_at=self.clock.now() + timedelta(seconds=delay_s),
            error=error,
            refund_attempt=refund_attempt,
        )
        logger.info(
            "outbox %s to chat %s: %s; next try in %.1f s",
            notification.id,
            notification.chat_id,
            error,
            delay_s,
        )

    async def _backoff(self, notification: Notification, exc: Exception) -> None:
        if self._give_up(notification):
            logger.error(
                "outbox %s (%s, job %s) dropped after %d attempts: %r",
                notification.id,
                notification.kind,
                _job_id(notification),
                notification.attempts,
                exc,
            )
            await self.db.write(outbox_queries.drop, notification.id, error=repr(exc))
            return
        delay_s = min(MAX_BACKOFF_S, 2.0 ** (notification.attempts - 1))
        await self._reschedule(notification, delay_s, repr(exc))

    def _give_up(self, notification: Notification) -> bool:
        """Status edits and failure notes are dropped after ``outbox_max_attempts``; a result or an ack is what
        the user waits for, so it keeps trying (every 5 minutes at most) for a day."""
        if notification.kind in (NotificationKind.JOB_STATUS, NotificationKind.JOB_FAILED):
            return notification.attempts >= self.settings.outbox_max_attempts
        return (self.clock.now() - notification.created_at).total_seconds() > KEEP_TRYING_S

    async def _recipient_gone(self, notification: Notification, reason: str) -> None:
        dropped, cancelled = await self.db.write(_chat_gone, self.bot_id, notification.chat_id, self.clock.now())
        logger.info(
            "chat %s is gone (%s): dropped %d notification(s), cancelled %d queued job(s)",
            notification.chat_id,
            reason,
            dropped,
            cancelled,
        )


def _job_id(notification: Notification) -> str:
    return notification.job.id if notification.job else "-"


# -- transactions ----------------------------------------------------------------------------------------------

_SHOWS_VERSION = (NotificationKind.RESULT, NotificationKind.RESULT_FILE)
_WITH_VIDEO = NotificationKind.RESULT
_TRACKS_ACK = (NotificationKind.ACK, NotificationKind.JOB_STATUS)


def _release_gone(conn: Connection, bot_id: int) -> int:
    return outbox_queries.release_owned(conn, bot_id, owners.dead(outbox_queries.lease_owners(conn, bot_id)))


def _lease_and_load(
    conn: Connection, outbox_id: int, owner: str, now: datetime, until: datetime
) -> Notification | None:
    """Lease one notification and read what it is about, as it is now (rendered at delivery time)."""
    row = outbox_queries.lease(conn, outbox_id, owner=owner, now=now, until=until)
    if row is None:
        return None
    return _load(conn, row)


def _load(conn: Connection, row: OutboxRecord) -> Notification:
    job = job_queries.get_job(conn, row.job_id) if row.job_id else None
    version = job_queries.version_for_job(conn, job.id) if job is not None and row.kind in _SHOWS_VERSION else None
    position = job_queries.queue_position(conn, job) if job is not None else None
    data = json.loads(row.payload)
    video = job_queries.video_for_job(conn, job.id) if job is not None and row.kind == _WITH_VIDEO else None
    return Notification(
        row.id, row.chat_id, row.kind, row.attempts, row.created_at, job, version, position, data, video=video
    )


def _record_sent(conn: Connection, notification: Notification, message_id: int | None, now: datetime) -> None:
    """Mark a send done the moment it returned, and what its job's ack shows now. An ack just edited to "working"
    of a job that ended meanwhile is edited once more: the end's own transaction saw it not yet saying so."""
    outbox_queries.mark_sent(conn, [(notification.id, message_id)], now=now)
    job = notification.job
    if job is not None and notification.kind in _TRACKS_ACK:
        ack_id = message_id if notification.kind == NotificationKind.ACK else None
        job_queries.set_acks(conn, [(job.id, ack_id, job.status)])
        if notification.kind == NotificationKind.JOB_STATUS and job.status == JobStatus.RUNNING:
            current = job_queries.get_job(conn, job.id)
            if current is not None and not current.status.active:
                outbox_queries.enqueue(
                    conn, [notification_of(current, NotificationKind.JOB_STATUS, JobEvent.SUCCEEDED, now)]
                )


def _chat_gone(conn: Connection, bot_id: int, chat_id: int, now: datetime) -> tuple[int, int]:
    """The user blocked the bot: drop what waits for that chat, mark the user, cancel the chat's jobs that have
    not started (nobody would see their results). Returns (notifications dropped, jobs cancelled)."""
    dropped = outbox_queries.drop_chat(conn, bot_id, chat_id, error=FailureCode.RECIPIENT_GONE)
    job_queries.set_user_blocked(conn, chat_id, blocked=True)
    cancelled = transition(
        conn,
        JobEvent.CHAT_GONE,
        job_queries.queued_in_chat(bot_id, chat_id),
        now=now,
        values={"finished_at": now, "error": FailureCode.RECIPIENT_GONE},
    )
    return dropped, len(cancelled)
