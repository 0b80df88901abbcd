"""Every error bhiv-bot raises on purpose hangs under one root.

BhivError
├── ScriptRejectedError         the script cannot become a job; ``reason`` says why (empty, too long, ...)
├── QuotaExceededError          a per-user limit was hit; ``quota`` names which (active jobs, jobs per hour)
├── JobNotFoundError            no such job, or not this user's
├── JobStateError               the job cannot do that now (cancel a finished job); ``status`` is its state
│   └── JobInputGoneError           what the job was to improve no longer exists
├── StartupError                the process cannot start (a bad setting, a database that does not answer)
├── StoryboardInvalidError      a storyboard (from the LM or a file) does not validate
├── LMError                     the language model could not deliver; ``kind`` says why
└── DeliveryError               the sender could not deliver a notification
    ├── DeliveryRetryLaterError     flood control: try again after ``retry_after_s``
    ├── DeliveryTransientError      network or server trouble: retry with backoff
    ├── RecipientGoneError          the user blocked the bot or the chat is gone: stop
    └── DeliveryRejectedError       the platform refused this payload: retrying cannot help

Foreign errors (httpx, SQLAlchemy, Telegram) are mapped at the boundary with ``raise ... from exc``.
The errors a user hears of carry codes and numbers, never words: ``bot/`` says them, in the user's language.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from storage.errors import is_transient as _storage_is_transient


class BhivError(Exception):
    """Root of bhiv-bot's own errors."""


class RejectReason(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"  # ``size`` characters against ``limit``
    TOO_MANY_SCENES = "too_many_scenes"  # ``size`` scenes (as the format reads them) against ``limit``
    UNDECODABLE = "undecodable"  # not UTF-8, nor UTF-16 with a BOM
    BINARY = "binary"  # NUL bytes: a binary file
    NOTE_TOO_LONG = "note_too_long"  # a feedback note of ``size`` characters against ``limit``


class ScriptRejectedError(BhivError):
    """The script (or a note) cannot become a job, for ``reason``."""

    def __init__(self, reason: RejectReason, *, size: int | None = None, limit: int | None = None) -> None:
        super().__init__(reason.value if size is None else f"{reason.value}: {size} > {limit}")
        self.reason = reason
        self.size = size
        self.limit = limit


class Quota(StrEnum):
    ACTIVE_JOBS = "active_jobs"  # jobs queued or running at once
    JOBS_PER_HOUR = "jobs_per_hour"


class QuotaExceededError(BhivError):
    """The user has ``count`` of ``quota`` against a limit of ``limit``; ``retry_after_s`` when it is known."""

    def __init__(self, quota: Quota, *, count: int, limit: int, retry_after_s: float | None = None) -> None:
        super().__init__(f"{quota.value}: {count} of {limit}")
        self.quota = quota
        self.count = count
        self.limit = limit
        self.retry_after_s = retry_after_s


class JobNotFoundError(BhivError):
    """No such job, or it belongs to somebody else (the two are not told apart)."""


class JobStateError(BhivError):
    """The job ``job_id`` is ``status``, which does not allow what was asked."""

    def __init__(self, job_id: str, status: str, detail: str = "") -> None:
        super().__init__(f"job {job_id} is {status}" + (f": {detail}" if detail else ""))
        self.job_id = job_id
        self.status = status


class JobInputGoneError(JobStateError):
    """What the job was to work on (the version to improve) is gone: trying again cannot help."""


class StartupError(BhivError):
    """The process cannot start; the message is one line naming the setting at fault and the fix."""


class StoryboardInvalidError(BhivError):
    """A storyboard or an LM reply does not validate."""


class LMErrorKind(StrEnum):
    NOT_CONFIGURED = "not_configured"
    CONNECT = "connect"  # connection refused, DNS, dropped connection
    TIMEOUT = "timeout"  # one request took longer than its timeout
    RATE_LIMITED = "rate_limited"  # 429 until the attempts ran out
    SERVER = "server"  # 5xx until the attempts ran out
    REJECTED = "rejected"  # 4xx other than 429: never retried
    BAD_REPLY = "bad_reply"  # the reply was not a valid storyboard
    DEADLINE = "deadline"  # the job's overall LM budget was spent


class LMError(BhivError):
    """The language model could not deliver. ``kind`` names the failure, ``status`` the HTTP status if any."""

    def __init__(self, kind: LMErrorKind, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.status = status
        self.attempts = attempts


class DeliveryError(BhivError):
    """The sender could not deliver a notification."""


class DeliveryRetryLaterError(DeliveryError):
    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DeliveryTransientError(DeliveryError):
    """Network trouble or a server error: worth another try after a backoff."""


class RecipientGoneError(DeliveryError):
    """The user blocked the bot or the chat no longer exists: stop sending to it."""


class DeliveryRejectedError(DeliveryError):
    """The platform refused this payload (a 400): retrying the same payload cannot help."""


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed where this failed: the database went away, or was busy."""
    return _storage_is_transient(exc)


T = TypeVar("T")
_logger = logging.getLogger(__name__)


async def retrying_db_errors(step: Callable[[], Awaitable[T]], delays_s: Sequence[float], *, what: str) -> T:
    """``step`` (one transaction, safe to repeat) tried again after each of ``delays_s`` while the database fails
    it (a lost connection), then once more, its error raised: for a write whose cause is already done (a result
    in hand, a message Telegram accepted), where giving up means doing the cause again."""
    for delay_s in delays_s:
        try:
            return await step()
        except DBAPIError as exc:
            _logger.warning("database error %s (%s); retry in %.1f s", what, type(exc).__name__, delay_s)
            await asyncio.sleep(delay_s)
    return await step()
