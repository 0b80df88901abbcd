"""Aggregates for the admin's /stats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import feedback, jobs, outbox, versions
from storage.types import UTCDateTime


async def jobs_by_status(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    return {status: int(n) for status, n in rows}


async def rating_distribution(conn: AsyncConnection) -> dict[int, int]:
    rows = await conn.execute(select(feedback.c.rating, func.count()).group_by(feedback.c.rating))
    return {int(rating): int(n) for rating, n in rows}


async def versions_by_method(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(versions.c.generation_method, func.count()).group_by(versions.c.generation_method))
    return {method: int(n) for method, n in rows}


async def recent_pipeline_ms(conn: AsyncConnection, *, limit: int) -> list[int]:
    stmt = select(versions.c.pipeline_ms).order_by(versions.c.id.desc()).limit(limit)
    return [int(ms) for ms in (await conn.execute(stmt)).scalars()]


async def outbox_backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """(pending notifications, when the oldest of them was created)."""
    stmt = select(func.count(), func.min(outbox.c.created_at, type_=UTCDateTime())).where(outbox.c.status == "pending")
    pending, oldest = (await conn.execute(stmt)).one()
    return int(pending), oldest
