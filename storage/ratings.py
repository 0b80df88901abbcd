"""Queries on feedback: one row per user and storyboard version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from storage.records import FeedbackRecord, PromptRecord
from storage.tables import feedback, prompts
from storage.upsert import insert_for


def upsert_rating(
    conn: Connection, *, user_id: int, version_id: int, rating: int, now: datetime
) -> tuple[FeedbackRecord, int | None]:
    """Set the user's rating of a version; returns the row and the rating it replaced (None if new)."""
    previous = (
        conn.execute(
            select(feedback.c.rating).where(feedback.c.user_id == user_id, feedback.c.version_id == version_id)
        )
    ).scalar_one_or_none()
    stmt = insert_for(conn, feedback).values(
        user_id=user_id, version_id=version_id, rating=rating, created_at=now, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[feedback.c.user_id, feedback.c.version_id],
        set_={"rating": rating, "updated_at": now},
    ).returning(*feedback.c)
    row = conn.execute(stmt).one()
    return FeedbackRecord.from_row(row), previous


def get_feedback(conn: Connection, feedback_id: int) -> FeedbackRecord | None:
    row = (conn.execute(select(feedback).where(feedback.c.id == feedback_id))).first()
    return FeedbackRecord.from_row(row) if row else None


def add_prompt(
    conn: Connection, *, bot_id: int, feedback_id: int, chat_id: int, message_id: int, now: datetime
) -> PromptRecord:
    stmt = (
        prompts.insert()
        .values(bot_id=bot_id, feedback_id=feedback_id, chat_id=chat_id, message_id=message_id, created_at=now)
        .returning(*prompts.c)
    )
    return PromptRecord.from_row(conn.execute(stmt).one())


def find_prompt(conn: Connection, *, bot_id: int, chat_id: int, message_id: int) -> PromptRecord | None:
    stmt = select(prompts).where(
        prompts.c.bot_id == bot_id, prompts.c.chat_id == chat_id, prompts.c.message_id == message_id
    )
    row = conn.execute(stmt).first()
    return PromptRecord.from_row(row) if row else None


def latest_prompt_in_chat(
    conn: Connection, *, bot_id: int, user_id: int, chat_id: int, since: datetime
) -> PromptRecord | None:
    """The user's newest prompt in a chat asked after ``since``."""
    stmt = (
        select(prompts)
        .join(feedback, feedback.c.id == prompts.c.feedback_id)
        .where(
            feedback.c.user_id == user_id,
            prompts.c.bot_id == bot_id,
            prompts.c.chat_id == chat_id,
            prompts.c.created_at >= since,
        )
        .order_by(prompts.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return PromptRecord.from_row(row) if row else None


def latest_prompt(conn: Connection, feedback_id: int) -> PromptRecord | None:
    stmt = select(prompts).where(prompts.c.feedback_id == feedback_id).order_by(prompts.c.id.desc()).limit(1)
    row = conn.execute(stmt).first()
    return PromptRecord.from_row(row) if row else None


def set_comment(
    conn: Connection, feedback_id: int, *, comment: str | None, sentiment: float, now: datetime
) -> FeedbackRecord:
    stmt = (
        update(feedback)
        .where(feedback.c.id == feedback_id)
        .values(comment=comment, sentiment=sentiment, updated_at=now)
        .returning(*feedback.c)
    )
    return FeedbackRecord.from_row(conn.execute(stmt).one())
