"""Aggregates for the admin's /stats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from storage.states import OutboxStatus
from storage.tables import feedback, jobs, outbox, versions
from storage.types import UTCDateTime


def jobs_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    return {status: int(n) for status, n in rows}


def rating_distribution(conn: Connection) -> dict[int, int]:
    rows = conn.execute(select(feedback.c.rating, func.count()).group_by(feedback.c.rating))
    return {int(rating): int(n) for rating, n in rows}


def versions_by_method(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(versions.c.generation_method, func.count()).group_by(versions.c.generation_method))
    return {method: int(n) for method, n in rows}


def recent_pipeline_ms(conn: Connection, *, limit: int) -> list[int]:
    stmt = select(versions.c.pipeline_ms).order_by(versions.c.id.desc()).limit(limit)
    return [int(ms) for ms in conn.execute(stmt).scalars()]


def outbox_backlog(conn: Connection, bot_id: int | None = None) -> tuple[int, datetime | None]:
    """(pending notifications, when the oldest of them was created): of one bot, or of all."""
    stmt = select(func.count(), func.min(outbox.c.created_at, type_=UTCDateTime())).where(
        outbox.c.status == OutboxStatus.PENDING
    )
    if bot_id is not None:
        stmt = stmt.where(outbox.c.bot_id == bot_id)
    pending, oldest = conn.execute(stmt).one()
    return int(pending), oldest
