"""Queries on the outbox: notifications waiting to reach a chat, delivered in order per chat."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, exists, or_, select, update
from sqlalchemy.engine import Connection

from storage import notify
from storage.records import OutboxRecord
from storage.states import NotificationKind, OutboxStatus
from storage.tables import outbox
from storage.types import UTCDateTime
from storage.upsert import PerDialect, one_or_many

_ENQUEUE_IGNORING = PerDialect(
    lambda insert: insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
)
_INSERT_MANY = outbox.insert().returning(outbox.c.id, outbox.c.dedupe_key)
_PENDING = OutboxStatus.PENDING


def _chats_with_pending(chats: ColumnElement[bool]) -> Select[tuple[int]]:
    return select(outbox.c.chat_id).where(outbox.c.bot_id == bindparam("bot_id"), chats, outbox.c.status == _PENDING)


_CHATS_WITH_PENDING = _chats_with_pending(outbox.c.chat_id.in_(bindparam("chat_ids", expanding=True))).distinct()
_CHAT_HAS_PENDING = _chats_with_pending(outbox.c.chat_id == bindparam("chat_id")).limit(1)


@dataclass(frozen=True, slots=True)
class NewNotification:
    bot_id: int
    chat_id: int
    kind: NotificationKind
    payload: dict[str, object]
    now: datetime
    job_id: str | None = None
    dedupe_key: str | None = None
    lease_until: datetime | None = None  # added already leased to its caller, who sends it at once
    lease_owner: str | None = None  # ... that caller's process


def enqueue(conn: Connection, rows: Sequence[NewNotification]) -> None:
    """Add notifications in one statement; a row whose ``dedupe_key`` is present already adds nothing. The
    senders of their bots are woken when the transaction commits."""
    if rows:
        conn.execute(_ENQUEUE_IGNORING(conn), [_values(row) for row in rows])
        _wake_senders(conn, rows)


def enqueue_many(conn: Connection, rows: Sequence[NewNotification]) -> dict[str, int]:
    """Add notifications in one statement; returns their ids by ``dedupe_key`` (each row must have a new one).
    A row with ``lease_until`` is added already leased: its caller delivers it at once."""
    result = conn.execute(_INSERT_MANY, one_or_many([_values(row) for row in rows]))
    _wake_senders(conn, [row for row in rows if row.lease_until is None])
    return {dedupe_key: outbox_id for outbox_id, dedupe_key in result}


def _wake_senders(conn: Connection, rows: Sequence[NewNotification]) -> None:
    for bot_id in sorted({row.bot_id for row in rows}):
        notify.send(conn, notify.OUTBOX, str(bot_id))


def _values(row: NewNotification) -> dict[str, object]:
    return {
        "bot_id": row.bot_id,
        "chat_id": row.chat_id,
        "kind": row.kind,
        "payload": json.dumps(row.payload, ensure_ascii=False),
        "job_id": row.job_id,
        "dedupe_key": row.dedupe_key,
        "status": _PENDING,
        "attempts": 1 if row.lease_until else 0,
        "next_try_at": row.now,
        "lease_expires_at": row.lease_until,
        "lease_owner": row.lease_owner if row.lease_until else None,
        "created_at": row.now,
    }


def chats_with_pending(conn: Connection, bot_id: int, chat_ids: Collection[int]) -> set[int]:
    """Those of the bot's ``chat_ids`` that have a notification waiting: a new one there must wait its turn."""
    if len(chat_ids) == 1:
        return set(conn.execute(_CHAT_HAS_PENDING, {"bot_id": bot_id, "chat_id": next(iter(chat_ids))}).scalars())
    return set(conn.execute(_CHATS_WITH_PENDING, {"bot_id": bot_id, "chat_ids": list(chat_ids)}).scalars())


_earlier = outbox.alias("earlier")
# nothing earlier of the same chat is pending: a chat's notifications leave in order
_FIRST_IN_CHAT = ~exists().where(
    _earlier.c.bot_id == outbox.c.bot_id,
    _earlier.c.chat_id == outbox.c.chat_id,
    _earlier.c.status == _PENDING,
    _earlier.c.id < outbox.c.id,
)
_NOW = bindparam("now", type_=UTCDateTime())
_FREE = or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < _NOW)
_DUE_HEADS = (
    select(outbox)
    .where(
        outbox.c.bot_id == bindparam("bot_id"),
        outbox.c.status == _PENDING,
        outbox.c.next_try_at <= _NOW,
        _FREE,
        _FIRST_IN_CHAT,
    )
    .order_by(outbox.c.id)
    .limit(bindparam("limit"))
)
_LEASE = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("b_id"),
        outbox.c.status == _PENDING,
        _FREE,
        _FIRST_IN_CHAT,  # order per chat holds for an eager delivery too
    )
    .values(
        lease_expires_at=bindparam("b_until", type_=UTCDateTime()),
        lease_owner=bindparam("b_owner"),
        attempts=outbox.c.attempts + 1,
        # A status edit is keyed per job while it waits (one edit shows the job as it is when it is sent); once
        # taken, its content is read, so the key is let go and the next change of status queues an edit anew.
        dedupe_key=case((outbox.c.kind == NotificationKind.JOB_STATUS, None), else_=outbox.c.dedupe_key),
    )
    .returning(*outbox.c)
)
_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"))
    .values(
        status=OutboxStatus.SENT,
        telegram_message_id=bindparam("b_message_id"),
        sent_at=bindparam("b_now", type_=UTCDateTime()),
        lease_expires_at=None,
        last_error=None,
    )
)


def due_heads(conn: Connection, bot_id: int, *, now: datetime, limit: int) -> list[OutboxRecord]:
    """The oldest pending notification of each of the bot's chats, if it is due and not leased: per-chat order
    is kept because a later one waits while an earlier one of its chat is pending."""
    rows = conn.execute(_DUE_HEADS, {"bot_id": bot_id, "now": now, "limit": limit})
    return [OutboxRecord.from_row(row) for row in rows]


def lease(conn: Connection, outbox_id: int, *, owner: str, now: datetime, until: datetime) -> OutboxRecord | None:
    """Take one pending notification for delivery, held by ``owner`` until ``until``; None if it is taken, sent
    or dropped already, or if an earlier one of its chat is still pending."""
    row = conn.execute(_LEASE, {"b_id": outbox_id, "now": now, "b_until": until, "b_owner": owner}).first()
    return OutboxRecord.from_row(row) if row else None


def mark_sent(conn: Connection, sent: Sequence[tuple[int, int | None]], *, now: datetime) -> None:
    """Mark notifications sent, each with the platform's message id (or None): one statement for all."""
    conn.execute(
        _MARK_SENT, [{"b_id": outbox_id, "b_message_id": message_id, "b_now": now} for outbox_id, message_id in sent]
    )


def reschedule(
    conn: Connection, outbox_id: int, *, next_try_at: datetime, error: str, refund_attempt: bool = False
) -> None:
    """Try again at ``next_try_at``; a refunded attempt (flood control) does not count toward the limit."""
    values: dict[str, object] = {"next_try_at": next_try_at, "lease_expires_at": None, "last_error": error[:500]}
    if refund_attempt:
        values["attempts"] = outbox.c.attempts - 1
    conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))


def drop(conn: Connection, outbox_id: int, *, error: str) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(status=OutboxStatus.DROPPED, lease_expires_at=None, last_error=error[:500])
    )


def drop_chat(conn: Connection, bot_id: int, chat_id: int, *, error: str) -> int:
    """Give up on every pending notification of a chat (the user blocked the bot)."""
    result = conn.execute(
        update(outbox)
        .where(and_(outbox.c.bot_id == bot_id, outbox.c.chat_id == chat_id, outbox.c.status == _PENDING))
        .values(status=OutboxStatus.DROPPED, lease_expires_at=None, last_error=error[:500])
    )
    return result.rowcount


def release_lease(conn: Connection, outbox_id: int) -> None:
    """Give a leased notification back to the delivery loop, its attempt not counted."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == _PENDING)
        .values(lease_expires_at=None, attempts=outbox.c.attempts - 1)
    )


def renew_leases(conn: Connection, outbox_ids: Collection[int], *, owner: str, until: datetime) -> int:
    """Extend ``owner``'s leases of the notifications it is sending; returns how many it still holds."""
    if not outbox_ids:
        return 0
    stmt = (
        update(outbox)
        .where(outbox.c.id.in_(list(outbox_ids)), outbox.c.lease_owner == owner, outbox.c.status == _PENDING)
        .values(lease_expires_at=until)
    )
    return conn.execute(stmt).rowcount


def lease_owners(conn: Connection, bot_id: int) -> set[str]:
    """Who holds leases of the bot's pending notifications now."""
    stmt = select(outbox.c.lease_owner).where(
        outbox.c.bot_id == bot_id,
        outbox.c.status == _PENDING,
        outbox.c.lease_expires_at.is_not(None),
        outbox.c.lease_owner.is_not(None),
    )
    return {owner for owner in conn.execute(stmt.distinct()).scalars() if owner is not None}


def release_owned(conn: Connection, bot_id: int, owners: Collection[str]) -> int:
    """Free the leases that ``owners`` hold on the bot's pending notifications (a process gone, or stopping);
    a lease of any other process is left to run out. Returns how many were freed."""
    if not owners:
        return 0
    stmt = (
        update(outbox)
        .where(
            outbox.c.bot_id == bot_id,
            outbox.c.status == _PENDING,
            outbox.c.lease_owner.in_(list(owners)),
            outbox.c.lease_expires_at.is_not(None),
        )
        .values(lease_expires_at=None)
    )
    freed = conn.execute(stmt).rowcount
    if freed:
        notify.send(conn, notify.OUTBOX, str(bot_id))
    return freed
