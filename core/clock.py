"""Time as a role, so tests can move it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move (for lease-expiry tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class DatabaseClock:
    """The database's clock, as this machine's clock plus an offset measured against it.

    Leases and due times are compared by processes on several machines; they must all read one clock, and the
    database's is the one they share. Reading it in every transaction would cost a statement each; instead
    ``sync()`` (at start, then every ``resync_s``) measures the offset, good to half a round trip.
    """

    def __init__(self, server_time: Callable[[], Awaitable[datetime]], *, resync_s: float = 60.0) -> None:
        self._server_time = server_time
        self._offset = timedelta(0)
        self.resync_s = resync_s

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    @property
    def offset_s(self) -> float:
        return self._offset.total_seconds()

    async def sync(self) -> None:
        sent = time.time()
        server = await self._server_time()
        received = time.time()
        midpoint = datetime.fromtimestamp((sent + received) / 2, UTC)
        self._offset = server - midpoint

    async def keep_in_sync(self) -> None:
        """Resync forever (a background task of the composition root)."""
        while True:
            await asyncio.sleep(self.resync_s)
            try:
                await self.sync()
            except Exception:
                logger.warning("could not read the database's clock; keeping the last offset", exc_info=True)
