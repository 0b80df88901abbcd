"""Nudges that there may be work now: between the tasks of one process in memory, between processes through
the database (``storage.notify``: PostgreSQL's LISTEN/NOTIFY). Polling stays, as the safety net.

Built on asyncio's own primitives: a new job releases one token of a semaphore, so one new job wakes one idle
worker, not all of them; anything new in the outbox sets an event that its one delivery loop waits on.

``listen`` follows the other processes: jobs another process made claimable release tokens here, and
notifications it queued for this process's bot wake the delivery loop. After each (re)connection it wakes
everything once, for what was notified while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.metrics import WAKEUPS_LISTENING
from storage import notify
from storage.db import Database

logger = logging.getLogger(__name__)

RECONNECT_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
STEADY_S = 60.0  # a connection that lived this long resets the backoff; one that dies sooner does not


class Wakeups:
    def __init__(self) -> None:
        self._jobs = asyncio.Semaphore(0)  # one token per job that may have become claimable
        self._outbox = asyncio.Event()
        self.listening = False  # other processes' notifications reach this one (the poll can relax)

    def jobs_added(self, count: int = 1) -> None:
        for _ in range(count):
            self._jobs.release()

    def jobs_due_in(self, delay_s: float) -> None:
        """A job becomes claimable in ``delay_s`` (a retry's backoff): wake a worker then."""
        asyncio.get_running_loop().call_later(delay_s, self.jobs_added)

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

    async def listen(self, db: Database, *, workers: int, bot_id: int | None) -> None:
        """Until cancelled: turn other processes' notifications into wake-ups here, for ``workers`` idle
        workers (0: this process runs no jobs) and the sender of ``bot_id`` (None: it sends nothing)."""
        channels = ([notify.JOBS] if workers else []) + ([notify.OUTBOX] if bot_id is not None else [])
        if not channels or not db.can_listen:
            return
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            connected_at: float | None = None
            try:
                async with db.listen(channels) as notices:
                    connected_at = loop.time()
                    if failures:
                        logger.info("listening for other processes' wake-ups again")
                    self.listening = True
                    WAKEUPS_LISTENING.set(1)
                    self.jobs_added(workers)  # what was notified while nobody listened
                    self.outbox_changed()
                    async for channel, payload in notices:
                        self._heard(channel, payload, workers, bot_id)
                problem = "the connection closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = repr(exc)
            finally:
                self.listening = False
                WAKEUPS_LISTENING.set(0)
            if connected_at is not None and loop.time() - connected_at > STEADY_S:
                failures = 0  # it had been up a while: a new trouble, not the same one again
            delay_s = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
            log = logger.warning if failures == 0 else logger.debug
            log(
                "wake-ups from other processes lost (%s); polling meanwhile, listening again in %.1f s",
                problem,
                delay_s,
            )
            failures += 1
            await asyncio.sleep(delay_s)

    def _heard(self, channel: str, payload: str, workers: int, bot_id: int | None) -> None:
        origin, detail = notify.parse(payload)
        if origin == notify.ORIGIN:  # this process's own: it woke itself in memory already
            return
        if channel == notify.JOBS:  # more tokens than workers would only send them to claim nothing
            self.jobs_added(min(workers, int(detail) if detail.isdigit() else 1))
        elif channel == notify.OUTBOX and detail == str(bot_id):
            self.outbox_changed()
