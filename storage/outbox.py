"""Queries on the outbox: notifications waiting to reach a chat, delivered in order per chat."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.records import OutboxRecord
from storage.tables import outbox
from storage.types import UTCDateTime
from storage.upsert import PerDialect

_ENQUEUE = PerDialect(
    lambda insert: insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key]).returning(outbox.c.id)
)
_INSERT_MANY = outbox.insert().returning(outbox.c.id, outbox.c.dedupe_key)
_CHATS_WITH_PENDING = (
    select(outbox.c.chat_id)
    .where(outbox.c.chat_id.in_(bindparam("chat_ids", expanding=True)), outbox.c.status == "pending")
    .distinct()
)


@dataclass(frozen=True, slots=True)
class NewNotification:
    chat_id: int
    kind: str
    payload: dict[str, object]
    now: datetime
    job_id: str | None = None
    dedupe_key: str | None = None
    lease_until: datetime | None = None  # added already leased to its caller, who sends it at once


async def enqueue(
    conn: AsyncConnection,
    *,
    chat_id: int,
    kind: str,
    payload: dict[str, object],
    now: datetime,
    job_id: str | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Add a notification; with a ``dedupe_key`` already present, add nothing and return None."""
    values = _values(NewNotification(chat_id, kind, payload, now, job_id, dedupe_key))
    return (await conn.execute(_ENQUEUE(conn), values)).scalar_one_or_none()


async def enqueue_many(conn: AsyncConnection, rows: Sequence[NewNotification]) -> dict[str, int]:
    """Add notifications in one statement; returns their ids by ``dedupe_key`` (each row must have a new one).
    A row with ``lease_until`` is added already leased: its caller delivers it at once."""
    result = await conn.execute(_INSERT_MANY, [_values(row) for row in rows])
    return {dedupe_key: outbox_id for outbox_id, dedupe_key in result}


def _values(row: NewNotification) -> dict[str, object]:
    return {
        "chat_id": row.chat_id,
        "kind": row.kind,
        "payload": json.dumps(row.payload, ensure_ascii=False),
        "job_id": row.job_id,
        "dedupe_key": row.dedupe_key,
        "status": "pending",
        "attempts": 1 if row.lease_until else 0,
        "next_try_at": row.now,
        "lease_expires_at": row.lease_until,
        "created_at": row.now,
    }


async def chats_with_pending(conn: AsyncConnection, chat_ids: Collection[int]) -> set[int]:
    """Those of ``chat_ids`` that have a notification waiting: a new one there must wait its turn."""
    return set((await conn.execute(_CHATS_WITH_PENDING, {"chat_ids": list(chat_ids)})).scalars())


async def due_heads(conn: AsyncConnection, *, now: datetime, limit: int) -> list[OutboxRecord]:
    """The oldest pending notification of each chat, if it is due and not leased: per-chat order is kept
    because a later one waits while an earlier one of its chat is pending."""
    earlier = outbox.alias("earlier")
    blocked = exists().where(
        earlier.c.chat_id == outbox.c.chat_id, earlier.c.status == "pending", earlier.c.id < outbox.c.id
    )
    stmt = (
        select(outbox)
        .where(
            outbox.c.status == "pending",
            outbox.c.next_try_at <= now,
            or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now),
            ~blocked,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [OutboxRecord.from_row(row) for row in await conn.execute(stmt)]


async def lease(conn: AsyncConnection, outbox_id: int, *, now: datetime, until: datetime) -> OutboxRecord | None:
    """Take one pending notification for delivery; None if it is taken, sent or dropped already, or if an
    earlier one of its chat is still pending (order per chat holds for an eager delivery too)."""
    target = outbox.alias("target")
    earlier_pending = (
        select(outbox.c.id)
        .where(
            outbox.c.chat_id == select(target.c.chat_id).where(target.c.id == outbox_id).scalar_subquery(),
            outbox.c.status == "pending",
            outbox.c.id < outbox_id,
        )
        .exists()
    )
    stmt = (
        update(outbox)
        .where(
            outbox.c.id == outbox_id,
            outbox.c.status == "pending",
            or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now),
            ~earlier_pending,
        )
        .values(lease_expires_at=until, attempts=outbox.c.attempts + 1)
        .returning(*outbox.c)
    )
    row = (await conn.execute(stmt)).first()
    return OutboxRecord.from_row(row) if row else None


_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"))
    .values(
        status="sent",
        telegram_message_id=bindparam("b_message_id"),
        sent_at=bindparam("b_now", type_=UTCDateTime()),
        lease_expires_at=None,
        last_error=None,
    )
)


async def mark_sent(conn: AsyncConnection, sent: Sequence[tuple[int, int | None]], *, now: datetime) -> None:
    """Mark notifications sent, each with the platform's message id (or None): one statement for all."""
    await conn.execute(
        _MARK_SENT, [{"b_id": outbox_id, "b_message_id": message_id, "b_now": now} for outbox_id, message_id in sent]
    )


async def reschedule(
    conn: AsyncConnection, outbox_id: int, *, next_try_at: datetime, error: str, refund_attempt: bool = False
) -> None:
    """Try again at ``next_try_at``; a refunded attempt (flood control) does not count toward the limit."""
    values: dict[str, object] = {"next_try_at": next_try_at, "lease_expires_at": None, "last_error": error[:500]}
    if refund_attempt:
        values["attempts"] = outbox.c.attempts - 1
    await conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))


async def drop(conn: AsyncConnection, outbox_id: int, *, error: str) -> None:
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(status="dropped", lease_expires_at=None, last_error=error[:500])
    )


async def drop_chat(conn: AsyncConnection, chat_id: int, *, error: str) -> int:
    """Give up on every pending notification of a chat (the user blocked the bot)."""
    result = await conn.execute(
        update(outbox)
        .where(and_(outbox.c.chat_id == chat_id, outbox.c.status == "pending"))
        .values(status="dropped", lease_expires_at=None, last_error=error[:500])
    )
    return result.rowcount


async def release_lease(conn: AsyncConnection, outbox_id: int) -> None:
    """Give a leased notification back to the delivery loop, its attempt not counted."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == "pending")
        .values(lease_expires_at=None, attempts=outbox.c.attempts - 1)
    )


async def release_leases(conn: AsyncConnection) -> int:
    """Free every lease: at start, all of them belong to a sender that died (there is one sender)."""
    stmt = (
        update(outbox)
        .where(outbox.c.status == "pending", outbox.c.lease_expires_at.is_not(None))
        .values(lease_expires_at=None)
    )
    return (await conn.execute(stmt)).rowcount
