"""Queries on the inbox: updates stored as they came, before they are confirmed, until they are handled."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from storage.records import InboxRecord
from storage.tables import inbox
from storage.types import UTCDateTime
from storage.upsert import Insert, PerDialect, one_or_many

PAGE = 500  # unhandled updates read at a time

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
        },
        where=and_(inbox.c.handled_at.is_not(None), inbox.c.received_at < bindparam("reused_before")),
    ).returning(inbox.c.update_id)


_STORE = PerDialect(lambda insert: _store_or_reuse(insert(inbox)))
_UNHANDLED = inbox.c.handled_at.is_(None)
_PENDING = (
    select(inbox)
    .where(inbox.c.bot_id == bindparam("bot_id"), _UNHANDLED, inbox.c.update_id > bindparam("after"))
    .order_by(inbox.c.update_id)
    .limit(bindparam("limit"))
)
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


def store(conn: Connection, bot_id: int, updates: Sequence[NewUpdate], *, now: datetime) -> set[int]:
    """Store updates in one statement; returns the ids of those not stored before (a resent update adds nothing)."""
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
            "reused_before": now - REUSED_AFTER,
        }
        for u in updates
    ]
    return set(conn.execute(_STORE(conn), one_or_many(rows)).scalars())


def pending(conn: Connection, bot_id: int, *, after: int = -1, limit: int = PAGE) -> list[InboxRecord]:
    """The bot's unhandled updates after ``after``, oldest first."""
    rows = conn.execute(_PENDING, {"bot_id": bot_id, "after": after, "limit": limit})
    return [InboxRecord.from_row(row) for row in rows]


def count_replay(conn: Connection, bot_id: int, *, max_replays: int, now: datetime) -> list[InboxRecord]:
    """At start: count one more replay for every unhandled update; those replayed ``max_replays`` times already
    (each start since they came ended before they were handled) are marked handled and returned, so an update
    that kills the process cannot do it forever."""
    conn.execute(update(inbox).where(inbox.c.bot_id == bot_id, _UNHANDLED).values(replays=inbox.c.replays + 1))
    poisoned = [
        InboxRecord.from_row(row)
        for row in conn.execute(
            select(inbox).where(inbox.c.bot_id == bot_id, _UNHANDLED, inbox.c.replays > max_replays)
        )
    ]
    if poisoned:
        mark_handled(conn, bot_id, [record.update_id for record in poisoned], now=now)
    return poisoned


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
