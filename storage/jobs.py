"""Queries on users, scripts, jobs and storyboard versions. Each takes the caller's connection:
the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from storage.records import JobRecord, ScriptRecord, VersionRecord
from storage.tables import jobs, scripts, users, versions
from storage.types import UTCDateTime
from storage.upsert import Insert, PerDialect

ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class UserRow:
    user_id: int
    name: str
    username: str | None
    now: datetime


def _build_upsert_user(insert: Callable[[Table], Insert]) -> Executable:
    stmt = insert(users)
    return stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={
            "name": stmt.excluded.name,
            "username": stmt.excluded.username,
            "last_seen_at": stmt.excluded.last_seen_at,
            "blocked": False,
        },
    )


_UPSERT_USER = PerDialect(_build_upsert_user)
_INSERT_SCRIPT = scripts.insert().returning(scripts.c.id, scripts.c.chat_id, scripts.c.message_id)
_INSERT_JOB = jobs.insert().returning(*jobs.c)
_COUNT_JOBS_BY_USER = (
    select(
        jobs.c.user_id,
        func.count().filter(jobs.c.status.in_(ACTIVE)),
        func.count().filter(jobs.c.created_at >= bindparam("since", type_=UTCDateTime())),
    )
    .where(
        jobs.c.user_id.in_(bindparam("user_ids", expanding=True)),
        (jobs.c.status.in_(ACTIVE)) | (jobs.c.created_at >= bindparam("since", type_=UTCDateTime())),
    )
    .group_by(jobs.c.user_id)
)
_FIND_BY_REQUEST = select(jobs).where(jobs.c.request_key.in_(bindparam("keys", expanding=True)))
_ahead = jobs.alias("ahead")
_QUEUE_POSITIONS = select(
    jobs.c.id,
    select(func.count())
    .where(
        _ahead.c.status == "queued",
        (_ahead.c.available_at < jobs.c.available_at)
        | (and_(_ahead.c.available_at == jobs.c.available_at, _ahead.c.id < jobs.c.id)),
    )
    .scalar_subquery(),
).where(jobs.c.id.in_(bindparam("ids", expanding=True)), jobs.c.status == "queued")


# Several rows at once: each of these is one statement (one round trip) for a whole batch of submissions.


async def upsert_users(conn: AsyncConnection, rows: Sequence[UserRow]) -> None:
    """Insert or refresh users; ``rows`` must not name a user twice."""
    params = [
        {
            "id": row.user_id,
            "name": row.name[:255],
            "username": row.username,
            "first_seen_at": row.now,
            "last_seen_at": row.now,
            "blocked": False,
        }
        for row in rows
    ]
    await conn.execute(_UPSERT_USER(conn), params)


async def insert_scripts(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> dict[tuple[int, int], int]:
    """Store scripts; returns their ids by (chat_id, message_id), their unique origin."""
    result = await conn.execute(_INSERT_SCRIPT, list(rows))
    return {(chat_id, message_id): script_id for script_id, chat_id, message_id in result}


async def insert_jobs(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> dict[str, JobRecord]:
    """Store jobs; returns them as stored, by id."""
    result = await conn.execute(_INSERT_JOB, list(rows))
    return {record.id: record for record in map(JobRecord.from_row, result)}


async def count_jobs_by_user(
    conn: AsyncConnection, user_ids: Collection[int], *, since: datetime
) -> dict[int, tuple[int, int]]:
    """(active jobs, jobs created since ``since``) for each user who has any, in one query."""
    result = await conn.execute(_COUNT_JOBS_BY_USER, {"user_ids": list(user_ids), "since": since})
    return {user_id: (int(active), int(recent)) for user_id, active, recent in result}


async def queue_positions(conn: AsyncConnection, job_ids: Collection[str]) -> dict[str, int]:
    """1 for the next job to be claimed, for each of ``job_ids`` that is queued."""
    result = await conn.execute(_QUEUE_POSITIONS, {"ids": list(job_ids)})
    return {job_id: int(ahead) + 1 for job_id, ahead in result}


async def set_user_blocked(conn: AsyncConnection, user_id: int, *, blocked: bool) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(blocked=blocked))


async def find_jobs_by_request(conn: AsyncConnection, request_keys: Collection[str]) -> dict[str, JobRecord]:
    """The jobs already stored for any of ``request_keys``, by key."""
    result = await conn.execute(_FIND_BY_REQUEST, {"keys": list(request_keys)})
    return {record.request_key: record for record in map(JobRecord.from_row, result) if record.request_key}


async def find_job_by_request(conn: AsyncConnection, request_key: str) -> JobRecord | None:
    return (await find_jobs_by_request(conn, [request_key])).get(request_key)


async def oldest_recent_job_time(conn: AsyncConnection, user_id: int, *, since: datetime) -> datetime | None:
    stmt = select(func.min(jobs.c.created_at)).where(jobs.c.user_id == user_id, jobs.c.created_at >= since)
    return (await conn.execute(stmt)).scalar_one_or_none()


async def get_job(conn: AsyncConnection, job_id: str) -> JobRecord | None:
    row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
    return JobRecord.from_row(row) if row else None


async def recent_jobs(conn: AsyncConnection, user_id: int, *, limit: int) -> list[JobRecord]:
    stmt = (
        select(jobs).where(jobs.c.user_id == user_id).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
    )
    return [JobRecord.from_row(row) for row in await conn.execute(stmt)]


async def queue_position(conn: AsyncConnection, job: JobRecord) -> int | None:
    """1 for the next job to be claimed; None if the job is not queued."""
    return (await queue_positions(conn, [job.id])).get(job.id)


async def claim_next(
    conn: AsyncConnection, *, worker_id: str, now: datetime, lease_until: datetime
) -> JobRecord | None:
    """Take the oldest due queued job in one atomic statement.

    PostgreSQL locks the chosen row and skips rows other claimers hold (FOR UPDATE SKIP LOCKED), so workers in
    other processes and machines never take the same job; SQLite has one writer at a time, and the status test
    in the outer WHERE makes the statement a no-op if the row changed under it.
    """
    candidate = (
        select(jobs.c.id)
        .where(jobs.c.status == "queued", jobs.c.available_at <= now)
        .order_by(jobs.c.available_at, jobs.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(jobs)
        .where(jobs.c.id == candidate, jobs.c.status == "queued")
        .values(
            status="running",
            attempts=jobs.c.attempts + 1,
            worker_id=worker_id,
            lease_expires_at=lease_until,
            started_at=func.coalesce(jobs.c.started_at, now),
            stage="starting",
            updated_at=now,
        )
        .returning(*jobs.c)
    )
    row = (await conn.execute(stmt)).first()
    return JobRecord.from_row(row) if row else None


def _owned(job_id: str, worker_id: str) -> ColumnElement[bool]:
    return and_(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.worker_id == worker_id)


async def extend_lease(
    conn: AsyncConnection,
    job_id: str,
    worker_id: str,
    *,
    lease_until: datetime,
    stage: str | None,
    now: datetime,
) -> bool:
    """Renew the lease; False when the job is no longer this worker's (cancelled, or taken back)."""
    values: dict[str, object] = {"lease_expires_at": lease_until, "updated_at": now}
    if stage is not None:
        values["stage"] = stage
    result = await conn.execute(update(jobs).where(_owned(job_id, worker_id)).values(**values))
    return result.rowcount == 1


async def finish_owned(
    conn: AsyncConnection,
    job_id: str,
    worker_id: str,
    *,
    status: str,
    now: datetime,
    error: str | None = None,
) -> bool:
    stmt = (
        update(jobs)
        .where(_owned(job_id, worker_id))
        .values(status=status, error=error, stage=status, lease_expires_at=None, finished_at=now, updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def requeue_owned(
    conn: AsyncConnection,
    job_id: str,
    worker_id: str,
    *,
    available_at: datetime,
    now: datetime,
    refund_attempt: bool = False,
    error: str | None = None,
) -> bool:
    """Put a running job back in the queue (a retry later, or a release at shutdown)."""
    attempts = jobs.c.attempts - 1 if refund_attempt else jobs.c.attempts
    stmt = (
        update(jobs)
        .where(_owned(job_id, worker_id))
        .values(
            status="queued",
            worker_id=None,
            lease_expires_at=None,
            stage="queued",
            attempts=attempts,
            available_at=available_at,
            error=error,
            updated_at=now,
        )
    )
    return (await conn.execute(stmt)).rowcount == 1


async def expire_leases(conn: AsyncConnection, *, now: datetime, max_attempts: int) -> tuple[list[str], list[str]]:
    """Jobs whose worker vanished: requeue those with attempts left, fail the rest.

    Returns (requeued ids, failed ids).
    """
    expired = and_(jobs.c.status == "running", jobs.c.lease_expires_at < now)
    failed = await conn.execute(
        update(jobs)
        .where(expired, jobs.c.attempts >= max_attempts)
        .values(
            status="failed",
            stage="failed",
            worker_id=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
            error="This script stopped the worker several times, so it was set aside.",
        )
        .returning(jobs.c.id)
    )
    failed_ids = list(failed.scalars())
    requeued = await conn.execute(
        update(jobs)
        .where(expired)
        .values(status="queued", stage="queued", worker_id=None, lease_expires_at=None, updated_at=now)
        .returning(jobs.c.id)
    )
    return list(requeued.scalars()), failed_ids


async def cancel_queued_in_chat(conn: AsyncConnection, chat_id: int, *, now: datetime, reason: str) -> int:
    """Cancel the jobs of a chat that have not started (nobody there would see their results)."""
    stmt = (
        update(jobs)
        .where(jobs.c.chat_id == chat_id, jobs.c.status == "queued")
        .values(status="cancelled", stage="cancelled", error=reason[:500], finished_at=now, updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount


async def cancel_job(conn: AsyncConnection, job_id: str, *, now: datetime) -> bool:
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE))
        .values(
            status="cancelled",
            stage="cancelled",
            worker_id=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    return (await conn.execute(stmt)).rowcount == 1


_SET_ACK_MESSAGE = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id"))
    .values(ack_message_id=bindparam("b_message_id"), ack_status=bindparam("b_status"))
)
_SET_ACK_STATUS = update(jobs).where(jobs.c.id == bindparam("b_id")).values(ack_status=bindparam("b_status"))


async def set_acks(conn: AsyncConnection, acks: Sequence[tuple[str, int | None, str | None]]) -> None:
    """Record what each job's ack message shows: (job id, the ack's message id if it was just sent, status)."""
    sent = [
        {"b_id": job_id, "b_message_id": message_id, "b_status": status}
        for job_id, message_id, status in acks
        if message_id is not None
    ]
    edited = [{"b_id": job_id, "b_status": status} for job_id, message_id, status in acks if message_id is None]
    if sent:
        await conn.execute(_SET_ACK_MESSAGE, sent)
    if edited:
        await conn.execute(_SET_ACK_STATUS, edited)


async def get_script(conn: AsyncConnection, script_id: int) -> ScriptRecord:
    row = (await conn.execute(select(scripts).where(scripts.c.id == script_id))).one()
    return ScriptRecord.from_row(row)


async def insert_version(conn: AsyncConnection, **values: object) -> VersionRecord:
    """A new version numbered one past the script's newest.

    The script's row is locked first (PostgreSQL; SQLite has one writer anyway), so two improvements of one
    script finishing at the same moment number themselves one after the other instead of colliding.
    """
    await conn.execute(select(scripts.c.id).where(scripts.c.id == values["script_id"]).with_for_update())
    next_version = (
        select(func.coalesce(func.max(versions.c.version), 0) + 1)
        .where(versions.c.script_id == values["script_id"])
        .scalar_subquery()
    )
    stmt = versions.insert().values(version=next_version, **values).returning(*versions.c)
    return VersionRecord.from_row((await conn.execute(stmt)).one())


async def get_version(conn: AsyncConnection, version_id: int) -> VersionRecord | None:
    row = (await conn.execute(select(versions).where(versions.c.id == version_id))).first()
    return VersionRecord.from_row(row) if row else None


async def version_for_job(conn: AsyncConnection, job_id: str) -> VersionRecord | None:
    row = (await conn.execute(select(versions).where(versions.c.job_id == job_id))).first()
    return VersionRecord.from_row(row) if row else None
