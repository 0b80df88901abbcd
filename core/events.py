"""What can happen to a job, and what its chat hears of it: one table, one function.

Every change of a job's status is ``transition(conn, event, ...)``, inside the caller's transaction. The event's
row in ``TRANSITIONS`` names the states it may leave, the one it enters and the notifications it queues for the
job's chat; the notifications commit with the change, or neither happens (the transactional outbox).

    event           from              to          the chat hears
    submitted       -                 queued      ack (core.intake stores it with the job)
    claimed         queued            running     nothing yet: a job still running after WORKING_NOTE_S has its
                                                  ack edited to "working" (``working_note``)
    retrying        running           queued      the ack edited: queued again
    released        running           queued      nothing (a shutdown gave it back; nothing changed for the user)
    lease_expired   running           queued      the ack edited: queued again
    succeeded       running           done        the result, the storyboard file; the ack edited only if it says
                                                  "working" (the result says the rest)
    failed          running           failed      a message of its own; the ack edited only if it says "working"
    cancelled       queued, running   cancelled   the ack edited
    chat_gone       queued            cancelled   nothing (the user blocked the bot)

Telegram counts every send and edit against about 30 a second, so a job that finishes in a few seconds costs its
chat three calls: the ack, the result and its file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.engine import Connection

from core.types import JobRecord
from storage import jobs as job_queries
from storage import outbox as outbox_queries
from storage.outbox import NewNotification
from storage.states import JobStatus, NotificationKind

Q, R, D, F, C = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED
N = NotificationKind


class JobEvent(StrEnum):
    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RETRYING = "retrying"
    RELEASED = "released"
    LEASE_EXPIRED = "lease_expired"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CHAT_GONE = "chat_gone"


@dataclass(frozen=True, slots=True)
class Transition:
    allowed: frozenset[JobStatus]
    to: JobStatus
    notify: tuple[NotificationKind, ...]


def _t(allowed: set[JobStatus], to: JobStatus, *notify: NotificationKind) -> Transition:
    return Transition(frozenset(allowed), to, notify)


TRANSITIONS: Mapping[JobEvent, Transition] = {
    JobEvent.CLAIMED: _t({Q}, R),
    JobEvent.RETRYING: _t({R}, Q, N.JOB_STATUS),
    JobEvent.RELEASED: _t({R}, Q),
    JobEvent.LEASE_EXPIRED: _t({R}, Q, N.JOB_STATUS),
    JobEvent.SUCCEEDED: _t({R}, D, N.JOB_STATUS, N.RESULT, N.RESULT_FILE),
    JobEvent.FAILED: _t({R}, F, N.JOB_STATUS, N.JOB_FAILED),
    JobEvent.CANCELLED: _t({Q, R}, C, N.JOB_STATUS),
    JobEvent.CHAT_GONE: _t({Q}, C),
}
ON_SUBMIT = N.ACK


def transition(
    conn: Connection,
    event: JobEvent,
    where: job_queries.Where,
    *,
    now: datetime,
    values: Mapping[str, object] | None = None,
) -> list[JobRecord]:
    """Apply ``event`` to the jobs matching ``where`` that are in a state it may leave; queue what their chats
    hear of it. Returns the jobs that moved, as they are now (none: the job was not in such a state)."""
    step = TRANSITIONS[event]
    moved = job_queries.update_status(conn, where, allowed=step.allowed, to=step.to, now=now, values=values)
    if step.to == Q and event is not JobEvent.RETRYING:  # a retry is due later: the poll finds it then
        job_queries.wake_workers(conn, len(moved))
    outbox_queries.enqueue(
        conn,
        [
            notification(job, kind, event, now)
            for job in moved
            for kind in step.notify
            if not (kind == N.JOB_STATUS and event in _SAID_BY_THEMSELVES and job.ack_status != R)
        ],
    )
    return moved


# Their own messages say how the job ended: the ack is edited only when it says "working", which is no longer so.
_SAID_BY_THEMSELVES = frozenset({JobEvent.SUCCEEDED, JobEvent.FAILED})


def working_note(conn: Connection, job_id: str, worker_id: str, now: datetime) -> bool:
    """The job is taking a while: queue the edit of its ack to "working", if it is still this worker's and running.
    True when it was queued."""
    running = job_queries.get_job(conn, job_id)
    if running is None or running.status != R or running.worker_id != worker_id:
        return False
    outbox_queries.enqueue(conn, [notification(running, N.JOB_STATUS, JobEvent.CLAIMED, now)])
    return True


def notification(job: JobRecord, kind: NotificationKind, event: JobEvent, now: datetime) -> NewNotification:
    """One notification of ``job``'s chat, keyed so that the same event of the same attempt queues it once.

    A status edit is rendered when it is sent, so one waiting edit per job is enough: its key names only the
    job, and a change of status while one waits queues nothing more (the outbox lets the key go when it takes
    the edit to send it)."""
    key = f"{kind}:{job.id}" if kind == N.JOB_STATUS else f"{kind}:{job.id}:{event}:{job.attempts}"
    return NewNotification(
        bot_id=job.bot_id,
        chat_id=job.chat_id,
        kind=kind,
        payload={},
        now=now,
        job_id=job.id,
        dedupe_key=key,
    )
