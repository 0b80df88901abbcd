"""The plain records core hands to its callers (frozen copies of rows), and the requests it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from storage.jobs import POSITION_CAP
from storage.records import (
    FeedbackRecord,
    JobRecord,
    JobSummary,
    OutboxRecord,
    PromptRecord,
    ScriptRecord,
    VersionRecord,
    VideoRecord,
)
from storage.states import FailureCode, JobKind, JobStatus, NotificationKind

__all__ = [
    "POSITION_CAP",
    "Author",
    "FailureCode",
    "FeedbackRecord",
    "JobKind",
    "JobRecord",
    "JobStatus",
    "JobSummary",
    "LeasedAck",
    "NotificationKind",
    "OutboxRecord",
    "PromptRecord",
    "ScriptRecord",
    "ScriptSubmission",
    "Submitted",
    "VersionRecord",
    "VideoRecord",
]


@dataclass(frozen=True, slots=True)
class Author:
    user_id: int
    name: str
    username: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptSubmission:
    """A script as it arrived: who sent it, where from (the idempotency key), and its text."""

    author: Author
    chat_id: int
    message_id: int
    text: str
    source: Literal["text", "document"] = "text"
    file_name: str | None = None
    update_ids: tuple[int, ...] = ()  # the inbox updates it came in (several for a long paste)
    language: str | None = None  # the locale the job's messages are said in (None: English)


@dataclass(frozen=True, slots=True)
class LeasedAck:
    """An ack that submit() queued already leased, in its own transaction: the caller sends it at once, with no
    further read (nothing was waiting before it in the chat)."""

    reply_to: int | None
    queue_position: int | None


@dataclass(frozen=True, slots=True)
class Submitted:
    job: JobRecord
    created: bool  # False when the same message was submitted before
    ack_outbox_id: int | None  # the ack waiting in the outbox, for the caller to deliver at once
    ack: LeasedAck | None = None  # set when that ack is leased to the caller already
