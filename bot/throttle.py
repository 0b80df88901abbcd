"""Per-user flood control: past ``limit`` updates in ``window_s``, a user's updates are dropped, with one
notice per window, so one user cannot starve the others or fill the queue.

Updates are counted at the time they were sent (a message's Telegram date), not when they are handled: one
chat's updates are handled one at a time, so a flood that arrived in a second is still one second's flood
when its last message is handled."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # the first update over the limit: tell the user once
    DROP = "drop"


@dataclass
class _Window:
    times: deque[float] = field(default_factory=deque)
    notified_at: float | None = None
    refused_at: float | None = None


class UserThrottle:
    def __init__(self, *, limit: int, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._users: dict[int, _Window] = {}
        self._checks = 0

    def check(self, user_id: int, *, at: float | None = None) -> Verdict:
        """Count one update of the user's, sent ``at`` (a Unix time; now when None)."""
        now = self._clock() if at is None else at
        window = self._users.setdefault(user_id, _Window())
        while window.times and window.times[0] <= now - self.window_s:
            window.times.popleft()
        self._checks += 1
        if self._checks % 1024 == 0:
            self._forget_idle(now)
        if len(window.times) < self.limit:
            window.times.append(now)
            return Verdict.ALLOW
        if window.notified_at is None or window.notified_at <= now - self.window_s:
            window.notified_at = now
            return Verdict.NOTIFY
        return Verdict.DROP

    def first_refusal(self, user_id: int, *, at: float | None = None) -> bool:
        """Whether a user the bot does not serve is to be told so now: once a window, however much they send."""
        now = self._clock() if at is None else at
        window = self._users.setdefault(user_id, _Window())
        if window.refused_at is not None and window.refused_at > now - self.window_s:
            return False
        window.refused_at = now
        return True

    def _forget_idle(self, now: float) -> None:
        idle = [
            user
            for user, w in self._users.items()
            if (not w.times or w.times[-1] <= now - self.window_s)
            and (w.refused_at is None or w.refused_at <= now - self.window_s)
        ]
        for user in idle:
            del self._users[user]
