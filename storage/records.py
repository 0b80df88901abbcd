"""Plain, frozen copies of rows: what leaves ``storage``. No ORM object escapes this package."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy.engine import Row

from storage.states import FailureCode, JobKind, JobStatus, NotificationKind, OutboxStatus


class _FromRow:
    _ENUMS: ClassVar[dict[str, type]] = {}  # columns that hold an enum's values, turned into its members

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        mapping = row._mapping
        values = {f.name: mapping[f.name] for f in fields(cls)}  # type: ignore[arg-type]
        for name, enum in cls._ENUMS.items():
            if values[name] is not None:
                values[name] = enum(values[name])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class JobRecord(_FromRow):
    _ENUMS: ClassVar[dict[str, type]] = {"kind": JobKind, "status": JobStatus, "error": FailureCode}

    id: str
    bot_id: int
    user_id: int
    script_id: int
    kind: JobKind
    parent_version_id: int | None
    feedback_id: int | None
    request_key: str | None
    status: JobStatus
    attempts: int
    available_at: datetime
    lease_expires_at: datetime | None
    worker_id: str | None
    stage: str | None
    error: FailureCode | None
    chat_id: int
    ack_message_id: int | None
    ack_status: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    language: str | None = None  # the locale its messages are said in (None: English)


@dataclass(frozen=True, slots=True)
class ScriptRecord(_FromRow):
    id: int
    bot_id: int
    user_id: int
    source: str
    file_name: str | None
    sha256: str
    text: str
    char_count: int
    chat_id: int
    message_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VersionRecord(_FromRow):
    id: int
    job_id: str
    script_id: int
    version: int
    storyboard_json: str
    generation_method: str
    title: str
    scene_count: int
    total_duration_s: float
    pipeline_ms: int
    created_at: datetime
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class VideoRecord(_FromRow):
    id: int
    version_id: int
    path: str
    duration_s: float
    size_bytes: int
    codec: str
    created_at: datetime
    width: int
    height: int
    data: bytes | None = field(repr=False)
    thumbnail: bytes | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class FeedbackRecord(_FromRow):
    id: int
    user_id: int
    version_id: int
    rating: int
    comment: str | None
    sentiment: float | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PromptRecord(_FromRow):
    id: int
    bot_id: int
    feedback_id: int
    chat_id: int
    message_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord(_FromRow):
    _ENUMS: ClassVar[dict[str, type]] = {"kind": NotificationKind, "status": OutboxStatus}

    id: int
    bot_id: int
    chat_id: int
    kind: NotificationKind
    payload: str
    job_id: str | None
    dedupe_key: str | None
    status: OutboxStatus
    attempts: int
    next_try_at: datetime
    lease_expires_at: datetime | None
    lease_owner: str | None
    telegram_message_id: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class InboxRecord(_FromRow):
    id: int
    bot_id: int
    update_id: int
    chat_id: int | None
    payload: str
    received_at: datetime
    replays: int
    handled_at: datetime | None
    owner: str | None
    lease_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobSummary:
    """A job as a list of jobs shows it: with the name of its script, read in the same query."""

    job: JobRecord
    title: str | None  # the newest storyboard version's title of the job's script; None before the first
    opening: str  # the start of the script's text
    version: int | None  # the version this job made, if it made one

    @property
    def first_line(self) -> str:
        """The script's first non-empty line ("" when its opening is blank)."""
        return next((line.strip() for line in self.opening.splitlines() if line.strip()), "")
