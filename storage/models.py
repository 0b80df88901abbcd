"""The tables, named for what they hold.

users                  who talks to the bot
scripts                what they sent (one row per originating chat message)
jobs                   the durable queue: one row per generate or improve request
storyboard_versions    every storyboard made (the seed system's Content)
feedback               one rating (and comment) per user and version
feedback_prompts       the bot's "what should change?" messages, to match replies to
video_metadata         rendered videos: one per storyboard version, its MP4 kept for the upload
outbox                 notifications waiting to reach a chat
inbox                  updates as Telegram sent them, stored before they are confirmed
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _ts(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _bigint(*, nullable: bool = False, fk: str | None = None, index: bool = False) -> Column[int]:
    args = [ForeignKey(fk, ondelete="CASCADE")] if fk else []
    return Column(BigInteger, *args, nullable=nullable, index=index)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(default="", max_length=255)
    username: str | None = Field(default=None, max_length=64)
    first_seen_at: datetime = Field(sa_column=_ts())
    last_seen_at: datetime = Field(sa_column=_ts())
    blocked: bool = Field(default=False)
    language: str | None = Field(default=None, max_length=16)  # chosen with /language; None: Telegram's


class Script(SQLModel, table=True):
    __tablename__ = "scripts"
    __table_args__ = (UniqueConstraint("bot_id", "chat_id", "message_id", name="uq_scripts_origin"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: int = Field(sa_column=_bigint())  # the Telegram bot the script was sent to (getMe's id)
    user_id: int = Field(sa_column=_bigint(fk="users.id", index=True))
    source: str = Field(max_length=16)  # "text" or "document"
    file_name: str | None = Field(default=None, max_length=255)
    sha256: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    char_count: int
    chat_id: int = Field(sa_column=_bigint())
    message_id: int = Field(sa_column=_bigint())
    created_at: datetime = Field(sa_column=_ts())


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "available_at"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        CheckConstraint("kind in ('generate', 'improve')", name="ck_jobs_kind"),
        CheckConstraint("status in ('queued', 'running', 'done', 'failed', 'cancelled')", name="ck_jobs_status"),
    )

    id: str = Field(primary_key=True, max_length=16)
    bot_id: int = Field(sa_column=_bigint())
    user_id: int = Field(sa_column=_bigint(fk="users.id"))
    script_id: int = Field(sa_column=Column(Integer, ForeignKey("scripts.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(max_length=16)
    # Soft references (no FOREIGN KEY): versions point at the job that made them, so a hard key back
    # would make the table graph cyclic and the tables impossible to create in order on SQLite.
    parent_version_id: int | None = Field(default=None)
    feedback_id: int | None = Field(default=None)
    request_key: str | None = Field(default=None, max_length=128, unique=True)
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    available_at: datetime = Field(sa_column=_ts())
    lease_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    worker_id: str | None = Field(default=None, max_length=64)
    stage: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=500)  # a FailureCode
    chat_id: int = Field(sa_column=_bigint())
    ack_message_id: int | None = Field(default=None, sa_column=_bigint(nullable=True))
    ack_status: str | None = Field(default=None, max_length=16)  # the status the ack message shows now
    created_at: datetime = Field(sa_column=_ts())
    started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    updated_at: datetime = Field(sa_column=_ts())
    # The locale its messages are said in, fixed when it is made (None: English): a language chosen later
    # changes the next job, not the wording of this one's edits.
    language: str | None = Field(default=None, max_length=16)


class StoryboardVersion(SQLModel, table=True):
    __tablename__ = "storyboard_versions"
    __table_args__ = (UniqueConstraint("script_id", "version", name="uq_versions_script_version"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", max_length=16, unique=True)
    script_id: int = Field(sa_column=Column(Integer, ForeignKey("scripts.id", ondelete="CASCADE"), nullable=False))
    version: int
    storyboard_json: str = Field(sa_column=Column(Text, nullable=False))
    generation_method: str = Field(max_length=32)
    title: str = Field(max_length=255)
    scene_count: int
    total_duration_s: float
    pipeline_ms: int
    created_at: datetime = Field(sa_column=_ts())
    # An improvement's account of what it changed and what of the note it could not follow (core.revision), as
    # JSON; None for a first version.
    revision: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Feedback(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("user_id", "version_id", name="uq_feedback_user_version"),
        CheckConstraint("rating between 1 and 5", name="ck_feedback_rating"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=_bigint(fk="users.id"))
    version_id: int = Field(foreign_key="storyboard_versions.id", index=True)
    rating: int
    comment: str | None = Field(default=None, max_length=500)
    sentiment: float | None = None
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class FeedbackPrompt(SQLModel, table=True):
    """A "what should change?" message the bot sent; a reply to it is the comment on its feedback."""

    __tablename__ = "feedback_prompts"
    __table_args__ = (UniqueConstraint("bot_id", "chat_id", "message_id", name="uq_prompts_message"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: int = Field(sa_column=_bigint())
    feedback_id: int = Field(foreign_key="feedback.id", index=True)
    chat_id: int = Field(sa_column=_bigint())
    message_id: int = Field(sa_column=_bigint())
    created_at: datetime = Field(sa_column=_ts())


class VideoMetadata(SQLModel, table=True):
    __tablename__ = "video_metadata"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="storyboard_versions.id", index=True)
    path: str = Field(max_length=1024)  # the file's name, as the chat gets it
    duration_s: float
    size_bytes: int = Field(sa_column=_bigint())
    codec: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_ts())
    width: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    height: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # The MP4 itself: a worker on another machine renders it, the bot uploads it; in the database, both reach it.
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    thumbnail: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # JPEG, 320x180


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "bot_id", "status", "next_try_at"),
        # a chat's pending notifications in order: per-chat order, and "does anything wait in this chat?"
        Index("ix_outbox_chat", "bot_id", "chat_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bot_id: int = Field(sa_column=_bigint())  # the bot whose chat this is: only that bot's sender sends it
    chat_id: int = Field(sa_column=_bigint())
    kind: str = Field(max_length=32)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    job_id: str | None = Field(default=None, foreign_key="jobs.id", max_length=16)
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    status: str = Field(max_length=16)  # pending, sent, dropped
    attempts: int = Field(default=0)
    next_try_at: datetime = Field(sa_column=_ts())
    lease_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    lease_owner: str | None = Field(default=None, max_length=64)  # the process sending it (core.owners)
    telegram_message_id: int | None = Field(default=None, sa_column=_bigint(nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=_ts())
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class InboxUpdate(SQLModel, table=True):
    """One update as Telegram sent it, stored before it is confirmed (the next getUpdates offset, or the webhook's
    200), so a crash loses none; handled ones are pruned after INBOX_RETENTION_DAYS."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id", name="uq_inbox_update"),
        # the unhandled updates in order (handled_at IS NULL), and the handled ones by age, for pruning
        Index("ix_inbox_handled", "bot_id", "handled_at", "update_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bot_id: int = Field(sa_column=_bigint())
    update_id: int = Field(sa_column=_bigint())
    chat_id: int | None = Field(default=None, sa_column=_bigint(nullable=True))  # None: an update of no chat
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the update's JSON, as received
    received_at: datetime = Field(sa_column=_ts())
    replays: int = Field(default=0)  # starts that found it unhandled: one that kills the bot each time is dropped
    handled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    owner: str | None = Field(default=None, max_length=64)  # the process handling it (core.owners)
    lease_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # renewed while it lives


metadata = SQLModel.metadata
