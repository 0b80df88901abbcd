"""Flood control: token buckets in front of the methods that put messages in chats.

Telegram documents no exact algorithm, only "about 30 messages per second overall, about one per second in a chat
(short bursts tolerated), 20 per minute in a group"; a bucket per scope models that. A call that would overdraw
any bucket is refused with 429 "Too Many Requests: retry after N" and takes no tokens.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class FloodLimits:
    """Rates and burst sizes; ``None`` switches a scope off."""

    global_per_s: float | None = 30.0
    global_burst: int = 30
    per_chat_per_s: float | None = 1.0
    per_chat_burst: int = 3
    group_per_min: float | None = 20.0
    group_burst: int = 20


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def wait_s(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate_per_s

    def take(self) -> None:
        self.tokens -= 1.0


class FloodControl:
    """``check(chat_id, is_group)`` returns the retry_after to answer with, or None and charges the buckets."""

    def __init__(self, limits: FloodLimits | None = None, *, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock  # replaceable, e.g. by a frozen clock in tests
        self._global: TokenBucket | None = None
        self._chats: dict[int, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.limits is not None

    def configure(self, limits: FloodLimits | None) -> None:
        """New limits (None: off); the buckets start full again."""
        self.limits = limits
        self._global = None
        self._chats.clear()

    def check(self, chat_id: int, *, is_group: bool) -> int | None:
        limits = self.limits
        if limits is None:
            return None
        now = self.clock()
        buckets: list[TokenBucket] = []
        if limits.global_per_s:
            if self._global is None:
                self._global = TokenBucket(limits.global_per_s, limits.global_burst, now)
            buckets.append(self._global)
        if is_group:
            chat_rate = limits.group_per_min / 60.0 if limits.group_per_min else None
        else:
            chat_rate = limits.per_chat_per_s
        if chat_rate:
            bucket = self._chats.get(chat_id)
            if bucket is None:
                burst = limits.group_burst if is_group else limits.per_chat_burst
                bucket = self._chats[chat_id] = TokenBucket(chat_rate, burst, now)
            buckets.append(bucket)
        wait_s = max((bucket.wait_s(now) for bucket in buckets), default=0.0)
        if wait_s > 0:
            retry_after = max(1, math.ceil(wait_s))
            logger.debug("flood limit: chat %s must wait %s s", chat_id, retry_after)
            return retry_after
        for bucket in buckets:
            bucket.take()
        return None
