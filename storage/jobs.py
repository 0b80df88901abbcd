"""Queries on users, scripts, jobs and storyboard versions: plain functions on the caller's connection, inside
the caller's transaction (see ``storage.db``). The statements a job's life runs on every pass are built once, at
import, with bind parameters; SQLAlchemy compiles each once per dialect and caches it.

Every change of a job's status is ``update_status``: one statement that moves only rows in an allowed state.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from storage import notify
from storage.records import JobRecord, JobSummary, ScriptRecord, VersionRecord, VideoRecord
from storage.states import ACTIVE, JobStatus
from storage.tables import jobs, outbox, prompts, scripts, users, versions, video_metadata
from storage.types import UTCDateTime
from storage.upsert import Insert, PerDialect, one_or_many


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
_SINCE = bindparam("since", type_=UTCDateTime())


def _count_jobs_by_user(users: ColumnElement[bool]) -> Executable:
    return (
        select(
            jobs.c.user_id,
            func.count().filter(jobs.c.status.in_(ACTIVE)),
            func.count().filter(jobs.c.created_at >= _SINCE),
        )
        .where(users, (jobs.c.status.in_(ACTIVE)) | (jobs.c.created_at >= _SINCE))
        .group_by(jobs.c.user_id)
    )


# A list of one is the common case (one script at a time), and an IN list costs SQLAlchemy a rendering per
# execution: each of these has an equality twin for it.
_COUNT_JOBS_BY_USER = _count_jobs_by_user(jobs.c.user_id.in_(bindparam("user_ids", expanding=True)))
_COUNT_JOBS_OF_USER = _count_jobs_by_user(jobs.c.user_id == bindparam("user_id"))
_OLDEST_RECENT = select(func.min(jobs.c.created_at)).where(
    jobs.c.user_id == bindparam("user_id"), jobs.c.created_at >= _SINCE
)
_FIND_BY_REQUEST = select(jobs).where(jobs.c.request_key.in_(bindparam("keys", expanding=True)))
_FIND_BY_ONE_REQUEST = select(jobs).where(jobs.c.request_key == bindparam("key"))
_GET_JOB = select(jobs).where(jobs.c.id == bindparam("id"))
POSITION_CAP = 100  # jobs ahead counted at most: a count is a scan, and nobody reads "position 4217" closely
_AT = bindparam("at", type_=UTCDateTime())
_JOBS_AHEAD = select(func.count()).select_from(
    select(jobs.c.id)
    .where(
        jobs.c.status == JobStatus.QUEUED,
        (jobs.c.available_at < _AT) | (and_(jobs.c.available_at == _AT, jobs.c.id < bindparam("id"))),
    )
    .limit(POSITION_CAP)
    .subquery()
)
_GET_SCRIPT = select(scripts).where(scripts.c.id == bindparam("id"))
_GET_VERSION = select(versions).where(versions.c.id == bindparam("id"))
_VERSION_FOR_JOB = select(versions).where(versions.c.job_id == bindparam("job_id"))


# -- intake: several rows at once, each one statement for a whole batch ----------------------------------------


def upsert_users(conn: Connection, rows: Sequence[UserRow]) -> None:
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
    conn.execute(_UPSERT_USER(conn), one_or_many(params))


def insert_scripts(conn: Connection, rows: Sequence[Mapping[str, object]]) -> dict[tuple[int, int], int]:
    """Store scripts of one bot; returns their ids by (chat_id, message_id), their origin in that bot."""
    result = conn.execute(_INSERT_SCRIPT, one_or_many(rows))
    return {(chat_id, message_id): script_id for script_id, chat_id, message_id in result}


def insert_jobs(conn: Connection, rows: Sequence[Mapping[str, object]]) -> dict[str, JobRecord]:
    """Store jobs; returns them as stored, by id. Idle workers in other processes are woken at the commit."""
    result = conn.execute(_INSERT_JOB, one_or_many(rows))
    stored = {record.id: record for record in map(JobRecord.from_row, result)}
    wake_workers(conn, len(stored))
    return stored


def wake_workers(conn: Connection, count: int) -> None:
    """``count`` jobs become claimable when the caller's transaction commits."""
    if count:
        notify.send(conn, notify.JOBS, str(count))


def count_jobs_by_user(conn: Connection, user_ids: Collection[int], *, since: datetime) -> dict[int, tuple[int, int]]:
    """(active jobs, jobs created since ``since``) for each user who has any, in one query."""
    if len(user_ids) == 1:
        result = conn.execute(_COUNT_JOBS_OF_USER, {"user_id": next(iter(user_ids)), "since": since})
    else:
        result = conn.execute(_COUNT_JOBS_BY_USER, {"user_ids": list(user_ids), "since": since})
    return {user_id: (int(active), int(recent)) for user_id, active, recent in result}


def oldest_recent_job_time(conn: Connection, user_id: int, *, since: datetime) -> datetime | None:
    return conn.execute(_OLDEST_RECENT, {"user_id": user_id, "since": since}).scalar_one_or_none()


def find_jobs_by_request(conn: Connection, request_keys: Collection[str]) -> dict[str, JobRecord]:
    """The jobs already stored for any of ``request_keys``, by key."""
    if len(request_keys) == 1:
        result = conn.execute(_FIND_BY_ONE_REQUEST, {"key": next(iter(request_keys))})
    else:
        result = conn.execute(_FIND_BY_REQUEST, {"keys": list(request_keys)})
    return {record.request_key: record for record in map(JobRecord.from_row, result) if record.request_key}


def find_job_by_request(conn: Connection, request_key: str) -> JobRecord | None:
    return find_jobs_by_request(conn, [request_key]).get(request_key)


def adopt_rows_of_no_bot(conn: Connection, bot_id: int) -> int:
    """Give the rows written before keys named their bot (bot 0, migration 0002) to ``bot_id``: until then a
    database served one bot, so they are its. Returns how many rows changed."""
    changed = 0
    for table in (scripts, jobs, prompts, outbox):
        changed += conn.execute(update(table).where(table.c.bot_id == 0).values(bot_id=bot_id)).rowcount
    return changed


def set_user_blocked(conn: Connection, user_id: int, *, blocked: bool) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(blocked=blocked))


# -- reads -----------------------------------------------------------------------------------------------------


def get_job(conn: Connection, job_id: str) -> JobRecord | None:
    row = conn.execute(_GET_JOB, {"id": job_id}).first()
    return JobRecord.from_row(row) if row else None


def recent_jobs(conn: Connection, bot_id: int, user_id: int, *, limit: int) -> list[JobRecord]:
    stmt = (
        select(jobs)
        .where(jobs.c.bot_id == bot_id, jobs.c.user_id == user_id)
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(limit)
    )
    return [JobRecord.from_row(row) for row in conn.execute(stmt)]


OPENING_CHARS = 1000  # of a script's text, read to name it by its first line: a script may be a megabyte
_made = versions.alias("made")
_NEWEST_TITLE = (
    select(versions.c.title)
    .where(versions.c.script_id == jobs.c.script_id)
    .order_by(versions.c.version.desc())
    .limit(1)
    .correlate(jobs)
    .scalar_subquery()
)
_RECENT_SUMMARIES = (
    select(
        jobs,
        _NEWEST_TITLE.label("script_title"),
        func.substr(scripts.c.text, 1, OPENING_CHARS).label("script_opening"),
        _made.c.version.label("made_version"),
    )
    .join(scripts, scripts.c.id == jobs.c.script_id)
    .outerjoin(_made, _made.c.job_id == jobs.c.id)
    .where(jobs.c.bot_id == bindparam("bot_id"), jobs.c.user_id == bindparam("user_id"))
    .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
    .limit(bindparam("limit"))
)
_SCRIPT_VERSIONS = select(versions).where(versions.c.script_id == bindparam("script_id")).order_by(versions.c.version)


def recent_job_summaries(conn: Connection, bot_id: int, user_id: int, *, limit: int) -> list[JobSummary]:
    """The user's newest jobs with the names of their scripts, in one query."""
    rows = conn.execute(_RECENT_SUMMARIES, {"bot_id": bot_id, "user_id": user_id, "limit": limit})
    return [
        JobSummary(JobRecord.from_row(row), row.script_title, row.script_opening or "", row.made_version)
        for row in rows
    ]


def script_versions(conn: Connection, script_id: int) -> list[VersionRecord]:
    """Every storyboard version of a script, oldest first."""
    return [VersionRecord.from_row(row) for row in conn.execute(_SCRIPT_VERSIONS, {"script_id": script_id})]


def queue_position(conn: Connection, job: JobRecord) -> int | None:
    """1 for the next job to be claimed (claims go by available_at, then id); None if the job is not queued.
    At most POSITION_CAP + 1: the count stops there, so it costs the same however long the queue is."""
    if job.status != JobStatus.QUEUED:
        return None
    return int(conn.execute(_JOBS_AHEAD, {"at": job.available_at, "id": job.id}).scalar_one()) + 1


def get_script(conn: Connection, script_id: int) -> ScriptRecord | None:
    row = conn.execute(_GET_SCRIPT, {"id": script_id}).first()
    return ScriptRecord.from_row(row) if row else None


def get_version(conn: Connection, version_id: int) -> VersionRecord | None:
    row = conn.execute(_GET_VERSION, {"id": version_id}).first()
    return VersionRecord.from_row(row) if row else None


def version_for_job(conn: Connection, job_id: str) -> VersionRecord | None:
    row = conn.execute(_VERSION_FOR_JOB, {"job_id": job_id}).first()
    return VersionRecord.from_row(row) if row else None


# -- status changes --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Where:
    """Which jobs a status change may move: a condition and the values of its bind parameters. A condition that
    is a module constant (``shared``) makes its statement once, then only new values are bound to it."""

    clause: ColumnElement[bool]
    params: Mapping[str, object]
    shared: bool = False

    def also(self, other: Where) -> Where:
        """Both conditions (a statement of its own each time: for rare changes, such as the reaper's)."""
        return Where(and_(self.clause, other.clause), self._merged(other))

    def or_(self, other: Where) -> Where:
        return Where(or_(self.clause, other.clause), self._merged(other))

    def _merged(self, other: Where) -> dict[str, object]:
        clash = {name for name in self.params.keys() & other.params.keys() if self.params[name] != other.params[name]}
        if clash:
            raise ValueError(f"two conditions bind {', '.join(sorted(clash))} to different values")
        return {**self.params, **other.params}


# Expressions a status change may set a column to; they are part of a statement's shape, built once.
ATTEMPT_COUNTED = jobs.c.attempts + 1
ATTEMPT_REFUNDED = jobs.c.attempts - 1
STARTED_AT_FIRST_CLAIM = func.coalesce(jobs.c.started_at, bindparam("u_now", type_=UTCDateTime()))
_EXPRESSIONS = {id(e) for e in (ATTEMPT_COUNTED, ATTEMPT_REFUNDED, STARTED_AT_FIRST_CLAIM)}
_STATUS_CHANGES: dict[tuple[object, ...], Executable] = {}


def update_status(
    conn: Connection,
    where: Where,
    *,
    allowed: Collection[JobStatus],
    to: JobStatus,
    now: datetime,
    values: Mapping[str, object] | None = None,
) -> list[JobRecord]:
    """Move the jobs matching ``where`` whose status is one of ``allowed`` to ``to``; returns them as they are
    now. A job in any other state is left alone (it was finished, cancelled or taken back meanwhile)."""
    values = dict(values or {})
    expressions = {name: value for name, value in values.items() if isinstance(value, ColumnElement)}
    literals = {f"v_{name}": value for name, value in values.items() if name not in expressions}
    shape = (
        id(where.clause),
        tuple(sorted(allowed)),
        to,
        tuple(sorted((name, id(value)) for name, value in expressions.items())),
        tuple(sorted(literals)),
    )
    shared = where.shared and all(id(value) in _EXPRESSIONS for value in expressions.values())
    stmt = _STATUS_CHANGES.get(shape) if shared else None
    if stmt is None:
        states = sorted(allowed)
        status_test = jobs.c.status == states[0] if len(states) == 1 else jobs.c.status.in_(states)
        stmt = (
            update(jobs)
            .where(where.clause, status_test)
            .values(
                {"status": to, "stage": to, "updated_at": bindparam("u_now", type_=UTCDateTime())}
                | expressions
                | {name[2:]: bindparam(name, type_=jobs.c[name[2:]].type) for name in literals}
            )
            .returning(*jobs.c)
        )
        if shared:
            _STATUS_CHANGES[shape] = stmt
    params = {**where.params, **literals, "u_now": now}
    return [JobRecord.from_row(row) for row in conn.execute(stmt, params)]


_W_NOW = bindparam("w_now", type_=UTCDateTime())
# The oldest due queued job. PostgreSQL locks the chosen row and skips rows other claimers hold (FOR UPDATE SKIP
# LOCKED), so workers in other processes and machines never take the same job; SQLite has one writer at a time,
# and the status test of ``update_status`` makes the claim a no-op if the row changed under it.
_NEXT_CLAIMABLE = (
    jobs.c.id
    == select(jobs.c.id)
    .where(jobs.c.status == JobStatus.QUEUED, jobs.c.available_at <= _W_NOW)
    .order_by(jobs.c.available_at, jobs.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_OWNED_BY = and_(jobs.c.id == bindparam("w_id"), jobs.c.worker_id == bindparam("w_worker"))
_JOB_IS = jobs.c.id == bindparam("w_id")
_LEASE_EXPIRED = jobs.c.lease_expires_at < _W_NOW
_ATTEMPTS_AT_LEAST = jobs.c.attempts >= bindparam("w_attempts")
_QUEUED_IN_CHAT = and_(jobs.c.bot_id == bindparam("w_bot"), jobs.c.chat_id == bindparam("w_chat"))


def next_claimable(now: datetime) -> Where:
    return Where(_NEXT_CLAIMABLE, {"w_now": now}, shared=True)


def owned_by(job_id: str, worker_id: str) -> Where:
    return Where(_OWNED_BY, {"w_id": job_id, "w_worker": worker_id}, shared=True)


def lease_expired(now: datetime) -> Where:
    return Where(_LEASE_EXPIRED, {"w_now": now}, shared=True)


def held_by(worker_ids: Collection[str]) -> Where:
    return Where(jobs.c.worker_id.in_(list(worker_ids)), {})


def attempts_at_least(n: int) -> Where:
    return Where(_ATTEMPTS_AT_LEAST, {"w_attempts": n}, shared=True)


def job_is(job_id: str) -> Where:
    return Where(_JOB_IS, {"w_id": job_id}, shared=True)


def queued_in_chat(bot_id: int, chat_id: int) -> Where:
    return Where(_QUEUED_IN_CHAT, {"w_bot": bot_id, "w_chat": chat_id}, shared=True)


def running_workers(conn: Connection) -> set[str]:
    """The workers that hold running jobs now."""
    stmt = select(jobs.c.worker_id).where(jobs.c.status == JobStatus.RUNNING, jobs.c.worker_id.is_not(None))
    return {worker for worker in conn.execute(stmt.distinct()).scalars() if worker is not None}


_EXTEND_LEASE = (
    update(jobs)
    .where(_OWNED_BY, jobs.c.status == JobStatus.RUNNING)
    .values(
        lease_expires_at=bindparam("v_until", type_=UTCDateTime()), updated_at=bindparam("u_now", type_=UTCDateTime())
    )
)
_EXTEND_LEASE_AT_STAGE = _EXTEND_LEASE.values(stage=bindparam("v_stage"))


def extend_lease(
    conn: Connection, job_id: str, worker_id: str, *, lease_until: datetime, stage: str | None, now: datetime
) -> bool:
    """Renew the lease; False when the job is no longer this worker's (cancelled, or taken back)."""
    params: dict[str, object] = {"w_id": job_id, "w_worker": worker_id, "v_until": lease_until, "u_now": now}
    if stage is None:
        return conn.execute(_EXTEND_LEASE, params).rowcount == 1
    return conn.execute(_EXTEND_LEASE_AT_STAGE, params | {"v_stage": stage}).rowcount == 1


_SET_ACK_MESSAGE = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id"))
    .values(ack_message_id=bindparam("b_message_id"), ack_status=bindparam("b_status"))
)
_SET_ACK_STATUS = update(jobs).where(jobs.c.id == bindparam("b_id")).values(ack_status=bindparam("b_status"))


def set_acks(conn: Connection, acks: Sequence[tuple[str, int | None, str | None]]) -> None:
    """Record what each job's ack message shows: (job id, the ack's message id if it was just sent, status)."""
    sent = [
        {"b_id": job_id, "b_message_id": message_id, "b_status": status}
        for job_id, message_id, status in acks
        if message_id is not None
    ]
    edited = [{"b_id": job_id, "b_status": status} for job_id, message_id, status in acks if message_id is None]
    if sent:
        conn.execute(_SET_ACK_MESSAGE, sent)
    if edited:
        conn.execute(_SET_ACK_STATUS, edited)


_LOCK_SCRIPT = select(scripts.c.id).where(scripts.c.id == bindparam("v_script")).with_for_update()
_INSERT_VERSION = (
    versions.insert()
    .values(
        version=select(func.coalesce(func.max(versions.c.version), 0) + 1)
        .where(versions.c.script_id == bindparam("v_script"))
        .scalar_subquery()
    )
    .returning(*versions.c)
)


def insert_version(conn: Connection, **values: object) -> VersionRecord:
    """A new version numbered one past the script's newest.

    The script's row is locked first (PostgreSQL; SQLite has one writer anyway), so two improvements of one
    script finishing at the same moment number themselves one after the other instead of colliding.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_SCRIPT, {"v_script": values["script_id"]})
    return VersionRecord.from_row(conn.execute(_INSERT_VERSION, {**values, "v_script": values["script_id"]}).one())


_INSERT_VIDEO = video_metadata.insert()


def insert_video(conn: Connection, **values: object) -> None:
    conn.execute(_INSERT_VIDEO, values)


_NEWEST_VIDEO_OF_JOB = (
    select(video_metadata)
    .join(versions, versions.c.id == video_metadata.c.version_id)
    .where(versions.c.job_id == bindparam("job_id"))
    .order_by(video_metadata.c.id.desc())
    .limit(1)
)


def video_for_job(conn: Connection, job_id: str) -> VideoRecord | None:
    """The video of the version a job made, if one was rendered."""
    row = conn.execute(_NEWEST_VIDEO_OF_JOB, {"job_id": job_id}).first()
    return VideoRecord.from_row(row) if row else None
