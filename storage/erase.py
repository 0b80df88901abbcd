"""A user's data with one bot, counted and erased: their scripts, jobs, storyboard versions, videos, ratings,
prompts, the notifications about those jobs and the updates of their chat already handled.

The foreign keys hold on both databases (SQLite's are switched on per connection in ``storage.db``) and most of
them have no cascade, so the rows go child first, by id: prompts, feedback, video_metadata, outbox,
storyboard_versions, jobs, scripts, inbox. The ``users`` row stays
(the id, the name Telegram sends with every message, the chosen language): it is written again at the user's next
message anyway, and other bots on the database may share it.

A worker may hold one of these jobs. The user's job rows are locked first (PostgreSQL; SQLite has one writer),
the order every job write takes them, so a completion either commits before the erase reads what it deletes, or
finds its job gone: its status change then moves no row, and it stores nothing (``core.queue``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, ScalarSelect, Table, bindparam, delete, func, select
from sqlalchemy.engine import Connection

from storage.states import ACTIVE
from storage.tables import feedback, inbox, jobs, outbox, prompts, scripts, versions, video_metadata

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DataCounts:
    """How many rows of each kind a user has (or had) with one bot."""

    scripts: int = 0
    jobs: int = 0
    active_jobs: int = 0  # of ``jobs``: queued or running
    versions: int = 0
    videos: int = 0
    ratings: int = 0
    prompts: int = 0
    notifications: int = 0  # outbox rows about the jobs: pending, sent or dropped
    messages: int = 0  # the chat's handled updates still kept in the inbox

    @property
    def anything(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @property
    def any_work(self) -> bool:
        """Scripts or what was made of them: more than the chat's stored updates (which every press adds to)."""
        return any((self.scripts, self.jobs, self.versions, self.videos, self.ratings, self.prompts))


_BOT = bindparam("bot_id")
_USER = bindparam("user_id")
_CHAT = bindparam("chat_id")
_USER_SCRIPTS = select(scripts.c.id).where(scripts.c.bot_id == _BOT, scripts.c.user_id == _USER)
_USER_JOBS = select(jobs.c.id).where(jobs.c.bot_id == _BOT, jobs.c.user_id == _USER)
_USER_VERSIONS = select(versions.c.id).where(
    versions.c.job_id.in_(_USER_JOBS) | versions.c.script_id.in_(_USER_SCRIPTS)
)
# Every rating of the user's versions: only their owner can rate one (core.feedback), and any other would hold
# the version's row in place.
_USER_FEEDBACK = select(feedback.c.id).where(feedback.c.version_id.in_(_USER_VERSIONS))

_OF_SCRIPTS = scripts.c.id.in_(_USER_SCRIPTS)
_OF_JOBS = jobs.c.id.in_(_USER_JOBS)
_OF_VERSIONS = versions.c.id.in_(_USER_VERSIONS)
_OF_VIDEOS = video_metadata.c.version_id.in_(_USER_VERSIONS)
_OF_FEEDBACK = feedback.c.id.in_(_USER_FEEDBACK)
_OF_PROMPTS = prompts.c.feedback_id.in_(_USER_FEEDBACK)
_OF_OUTBOX = outbox.c.job_id.in_(_USER_JOBS)
# Handled updates of the chat hold what the user sent (the scripts' text among them); an unhandled one is still
# to be answered, and is pruned like any other once it is.
_OF_INBOX = (inbox.c.bot_id == _BOT) & (inbox.c.chat_id == _CHAT) & inbox.c.handled_at.is_not(None)


def _count(table: Table, where: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(table).where(where).scalar_subquery()


_COUNT = select(  # the order of DataCounts' fields
    _count(scripts, _OF_SCRIPTS),
    _count(jobs, _OF_JOBS),
    _count(jobs, _OF_JOBS & jobs.c.status.in_(ACTIVE)),
    _count(versions, _OF_VERSIONS),
    _count(video_metadata, _OF_VIDEOS),
    _count(feedback, _OF_FEEDBACK),
    _count(prompts, _OF_PROMPTS),
    _count(outbox, _OF_OUTBOX),
    _count(inbox, _OF_INBOX),
)
_LOCK_JOBS = (
    select(jobs.c.id, jobs.c.status)
    .where(jobs.c.bot_id == _BOT, jobs.c.user_id == _USER)
    .order_by(jobs.c.id)
    .with_for_update()
)
_LOCK_SCRIPTS = _USER_SCRIPTS.order_by(scripts.c.id).with_for_update()
CHUNK = 500  # ids bound to one statement: far under SQLite's and PostgreSQL's limits on parameters


def count_user_data(conn: Connection, bot_id: int, user_id: int, chat_id: int) -> DataCounts:
    """What ``erase_user_data`` would remove now, in one statement."""
    row = conn.execute(_COUNT, {"bot_id": bot_id, "user_id": user_id, "chat_id": chat_id}).one()
    return DataCounts(*(int(n) for n in row))


def erase_user_data(conn: Connection, bot_id: int, user_id: int, chat_id: int) -> DataCounts:
    """Delete the user's data with ``bot_id`` (see the module's docstring); returns how many rows of each kind
    went. Safe to repeat: a second call finds nothing and returns zeros.

    The deletes name the rows locked at the start, not "the user's jobs" again: a script sent meanwhile (its job
    and its ack committed between two of these statements) is not half deleted, and not in the way."""
    params = {"bot_id": bot_id, "user_id": user_id, "chat_id": chat_id}
    locked = conn.execute(_LOCK_JOBS, params).all()
    job_ids = [job_id for job_id, _ in locked]
    script_ids = list(conn.execute(_LOCK_SCRIPTS, params).scalars())
    version_ids = sorted(
        set(_select_ids(conn, versions.c.id, versions.c.job_id, job_ids))
        | set(_select_ids(conn, versions.c.id, versions.c.script_id, script_ids))
    )
    feedback_ids = _select_ids(conn, feedback.c.id, feedback.c.version_id, version_ids)
    return DataCounts(
        prompts=_delete_ids(conn, prompts.c.feedback_id, feedback_ids),  # children first, parents last
        ratings=_delete_ids(conn, feedback.c.id, feedback_ids),
        videos=_delete_ids(conn, video_metadata.c.version_id, version_ids),
        notifications=_delete_ids(conn, outbox.c.job_id, job_ids),
        versions=_delete_ids(conn, versions.c.id, version_ids),
        jobs=_delete_ids(conn, jobs.c.id, job_ids),
        active_jobs=sum(status in ACTIVE for _, status in locked),
        scripts=_delete_ids(conn, scripts.c.id, script_ids),
        messages=conn.execute(delete(inbox).where(_OF_INBOX), params).rowcount,
    )


def _chunks(ids: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _select_ids(conn: Connection, wanted: Column[int], key: Column[Any], keys: Sequence[object]) -> list[int]:
    stmts = (select(wanted).where(key.in_(chunk)) for chunk in _chunks(keys))
    return [row_id for stmt in stmts for row_id in conn.execute(stmt).scalars()]


def _delete_ids(conn: Connection, key: Column[Any], keys: Sequence[object]) -> int:
    return sum(conn.execute(delete(key.table).where(key.in_(chunk))).rowcount for chunk in _chunks(keys))
