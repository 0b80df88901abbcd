"""Nudges between the tasks of one process: "there may be work now". Other processes are found by polling.

Built on asyncio's own primitives: a new job releases one token of a semaphore, so one new job wakes one idle
worker, not all of them; anything new in the outbox sets an event that its one delivery loop waits on.
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeups:
    def __init__(self) -> None:
        self._jobs = asyncio.Semaphore(0)  # one token per job that may have become claimable
        self._outbox = asyncio.Event()

    def jobs_added(self, count: int = 1) -> None:
        for _ in range(count):
            self._jobs.release()

    async def job_taken(self) -> None:
        """A worker claimed a job without waiting: spend the token its job released (returns at once), so a
        burst of jobs leaves no tokens behind that would send idle workers to claim nothing."""
        if not self._jobs.locked():
            await self._jobs.acquire()

    async def wait_for_jobs(self, timeout_s: float) -> None:
        """Return when a job may be claimable, or after ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._jobs.acquire()

    def outbox_changed(self) -> None:
        self._outbox.set()

    async def wait_for_outbox(self, timeout_s: float) -> None:
        """Return when a notification may be due, or after ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._outbox.wait()
        self._outbox.clear()
