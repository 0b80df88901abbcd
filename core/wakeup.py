"""A nudge between tasks of one process: "there may be work now". Other processes are found by polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Wakeup:
    def __init__(self) -> None:
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pending = 0  # nudges given while nobody waited: the next waits return at once

    def notify(self) -> None:
        """Wake every waiter."""
        self._pending = max(self._pending, 1)
        while self._waiters:
            self._wake_next()

    def notify_one(self) -> None:
        """Wake one waiter (one new job needs one worker, not all of them)."""
        if not self._wake_next():
            self._pending += 1

    def _wake_next(self) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return True
        return False

    async def wait(self, timeout_s: float) -> None:
        """Return when nudged or after ``timeout_s``, whichever is first."""
        if self._pending:
            self._pending -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            pass
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
