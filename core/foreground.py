"""Acks before background work: what a user is waiting for right now goes first.

While foreground work (a new script being stored and acknowledged) is in flight, background loops (workers
about to claim a job, the outbox loop about to start results) wait for it to finish, up to ``max_wait_s`` each
time, so a rush of scripts is acknowledged first and its storyboards follow. One process's event loop has one
core's worth of CPU; without this, every ack of a rush queues behind the pipeline's work of the scripts before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Foreground:
    def __init__(self, *, max_wait_s: float = 1.0) -> None:
        self.max_wait_s = max_wait_s
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self._active > 0

    @contextlib.contextmanager
    def work(self) -> Iterator[None]:
        """Mark foreground work in flight for the duration of the block."""
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def give_way(self) -> None:
        """Background work calls this before each unit: it returns when no foreground work is in flight, or
        after ``max_wait_s`` (so a steady stream of acks cannot starve the pipeline)."""
        if self._active:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_wait_s):
                    await self._idle.wait()
