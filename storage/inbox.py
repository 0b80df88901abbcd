"""Queries on the inbox: updates stored as they came, before they are confirmed, until they are handled."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection

from storage.records import InboxRecord
from storage.tables import inbox
from storage.types import UTCDateTime
from storage.upsert import Insert, PerDialect, one_or_many

REUSED_AFTER = timedelta(days=1)


def _store_or_reuse(stmt: Insert) -> Insert:
    """Insert, or take over the row of a handled update older than REUSED_AFTER: Telegram keeps an unconfirmed
    update for 24 hours at most, so such a row is not this update sent again but another one with its id
    (after a week with no updates, Telegram starts the ids anew at random)."""
    return stmt.on_conflict_do_update(
        index_elements=[inbox.c.bot_id, inbox.c.update_id],
        set_={
            "chat_id": stmt.excluded.chat_id,
            "payload": stmt.excluded.payload,
            "received_at": stmt.excluded.received_at,
            "replays": 0,
            "handled_at": None,
            "owner": stmt.excluded.owner,
            "lease_expires_at": stmt.excluded.lease_expires_at,
        },
        where=and_(inbox.c.handled_at.is_not(None), inbox.c.received_at < bindparam("reused_before")),
    ).returning(inbox.c.update_id)


_STORE = PerDialect(lambda insert: _store_or_reuse(insert(inbox)))
_UNHANDLED = inbox.c.handled_at.is_(None)
_MARK_HANDLED = (
    update(inbox)
    .where(
        inbox.c.bot_id == bindparam("b_bot_id"),
        inbox.c.update_id.in_(bindparam("b_update_ids", expanding=True)),
        _UNHANDLED,
    )
    .values(handled_at=bindparam("b_now", type_=UTCDateTime()))
)


@dataclass(frozen=True, slots=True)
class NewUpdate:
    update_id: int
    chat_id: int | None
    payload: str  # the update's JSON


def store(
    conn: Connection, bot_id: int, updates: Sequence[NewUpdate], *, owner: str, until: datetime, now: datetime
) -> set[int]:
    """Store updates in one statement, held by ``owner`` until ``until``; returns the ids of those not stored
    before (a resent update adds nothing)."""
    if not updates:
        return set()
    rows = [
        {
            "bot_id": bot_id,
            "update_id": u.update_id,
            "chat_id": u.chat_id,
            "payload": u.payload,
            "received_at": now,
            "replays": 0,
            "owner": owner,
            "lease_expires_at": until,
            "reused_before": now - REUSED_AFTER,
        }
        for u in updates
    ]
    return set(conn.execute(_STORE(conn), one_or_many(rows)).scalars())


def owners(conn: Connection, bot_id: int) -> set[str]:
    """The processes that hold the bot's unhandled updates."""
    stmt = select(inbox.c.owner).where(inbox.c.bot_id == bot_id, _UNHANDLED, inbox.c.owner.is_not(None)).distinct()
    return {owner for owner in conn.execute(stmt).scalars() if owner is not None}


def take(
    conn: Connection,
    bot_id: int,
    *,
    owner: str,
    gone: Collection[str],
    until: datetime,
    now: datetime,
    max_replays: int,
    own_too: bool,
) -> tuple[list[InboxRecord], list[InboxRecord]]:
    """Hold for ``owner`` every unhandled update of the bot that is free: held by nobody, by a process in
    ``gone``, on a lease that ran out, or (``own_too``: at start, when ``owner`` may be this process's previous
    life) by ``owner``. Each counts a replay; one replayed more than ``max_replays`` times (each holder died
    before handling it) is marked handled instead. Returns (taken, given up), each in update_id order."""
    free = [
        inbox.c.owner.is_(None),
        inbox.c.lease_expires_at.is_(None),
        inbox.c.lease_expires_at < now,
    ]
    if gone:
        free.append(inbox.c.owner.in_(list(gone)))
    if own_too:
        free.append(inbox.c.owner == owner)
    stmt = (
        update(inbox)
        .where(inbox.c.bot_id == bot_id, _UNHANDLED, or_(*free))
        .values(owner=owner, lease_expires_at=until, replays=inbox.c.replays + 1)
        .returning(*inbox.c)
    )
    rows = sorted((InboxRecord.from_row(row) for row in conn.execute(stmt)), key=lambda r: r.update_id)
    poisoned = [record for record in rows if record.replays > max_replays]
    if poisoned:
        mark_handled(conn, bot_id, [record.update_id for record in poisoned], now=now)
    return [record for record in rows if record.replays <= max_replays], poisoned


def held(conn: Connection, bot_id: int, *, owner: str) -> list[tuple[int, datetime]]:
    """(update_id, received_at) of the unhandled updates ``owner`` holds, in order."""
    stmt = (
        select(inbox.c.update_id, inbox.c.received_at)
        .where(inbox.c.bot_id == bot_id, _UNHANDLED, inbox.c.owner == owner)
        .order_by(inbox.c.update_id)
    )
    return [(update_id, received_at) for update_id, received_at in conn.execute(stmt)]


def load(conn: Connection, bot_id: int, update_ids: Collection[int]) -> list[InboxRecord]:
    """The stored updates with these ids, in order."""
    if not update_ids:
        return []
    stmt = (
        select(inbox)
        .where(inbox.c.bot_id == bot_id, inbox.c.update_id.in_(list(update_ids)))
        .order_by(inbox.c.update_id)
    )
    return [InboxRecord.from_row(row) for row in conn.execute(stmt)]


def renew(conn: Connection, bot_id: int, *, owner: str, until: datetime) -> int:
    """Extend ``owner``'s hold on the bot's unhandled updates; returns how many it holds."""
    stmt = update(inbox).where(inbox.c.bot_id == bot_id, _UNHANDLED, inbox.c.owner == owner)
    return conn.execute(stmt.values(lease_expires_at=until)).rowcount


def release(conn: Connection, bot_id: int, *, owner: str) -> int:
    """Let go of ``owner``'s unhandled updates (it is stopping): the next process takes them at once."""
    stmt = update(inbox).where(inbox.c.bot_id == bot_id, _UNHANDLED, inbox.c.owner == owner)
    return conn.execute(stmt.values(owner=None, lease_expires_at=None)).rowcount


def mark_handled(conn: Connection, bot_id: int, update_ids: Collection[int], *, now: datetime) -> None:
    if update_ids:
        conn.execute(_MARK_HANDLED, {"b_bot_id": bot_id, "b_update_ids": list(update_ids), "b_now": now})


def prune(conn: Connection, bot_id: int, *, handled_before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the bot's updates handled before ``handled_before``; returns how many."""
    oldest = (
        select(inbox.c.id)
        .where(inbox.c.bot_id == bot_id, inbox.c.handled_at < handled_before)
        .order_by(inbox.c.handled_at)
        .limit(limit)
    )
    return conn.execute(delete(inbox).where(inbox.c.id.in_(oldest.scalar_subquery()))).rowcount
