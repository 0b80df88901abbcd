"""Every error bhiv-bot raises on purpose hangs under one root.

BhivError
├── ScriptRejectedError         the script cannot become a job (empty, too long, undecodable)
├── QuotaExceededError          a per-user limit was hit (active jobs, jobs per hour)
├── JobNotFoundError            no such job, or not this user's
├── JobStateError               the job cannot do that now (cancel a finished job)
├── StoryboardInvalidError      a storyboard (from the LM or a file) does not validate
├── LMError                     the language model could not deliver; ``kind`` says why
└── DeliveryError               the sender could not deliver a notification
    ├── DeliveryRetryLaterError     flood control: try again after ``retry_after_s``
    ├── DeliveryTransientError      network or server trouble: retry with backoff
    ├── RecipientGoneError          the user blocked the bot or the chat is gone: stop
    └── DeliveryRejectedError       the platform refused this payload: retrying cannot help

Foreign errors (httpx, SQLAlchemy, Telegram) are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from enum import StrEnum


class BhivError(Exception):
    """Root of bhiv-bot's own errors."""


class ScriptRejectedError(BhivError):
    """The script cannot become a job; the message is written for the user."""


class QuotaExceededError(BhivError):
    """A per-user limit was hit; the message is written for the user."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobNotFoundError(BhivError):
    """No such job, or it belongs to somebody else (the two are not told apart)."""


class JobStateError(BhivError):
    """The job is in a state that does not allow what was asked."""


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
