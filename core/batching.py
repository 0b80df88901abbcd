"""Group commit: many concurrent small writes share one transaction.

Callers hand an item to a ``Batcher`` and await their own result. While a batch is being written, new items
queue; when it is done, everything queued goes together in the next one. A caller alone waits for nobody (its
batch holds one item and starts at once); under load, one transaction and a handful of statements serve many
callers. The batch function returns one outcome per item, a result or an exception for that caller alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)


class Batcher(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int = 64,
        name: str = "batcher",
        abandoned: Callable[[R], Awaitable[None]] | None = None,
    ) -> None:
        """``abandoned`` is told of a result whose caller went away (cancelled) before it was ready."""
        self._run = run
        self._abandoned = abandoned
        self._max_batch = max_batch
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=self._name)
        # A caller that goes away does not take its item back: like a transaction committed just before its
        # caller was cancelled, the write still happens.
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                outcomes: Sequence[R | BaseException] = await self._run([item for item, _ in batch])
            except Exception as exc:  # the whole batch failed: each of its callers gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutdown): so are the callers waiting on it
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue.clear()
                raise
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled
                    if self._abandoned is not None and not isinstance(outcome, BaseException):
                        try:
                            await self._abandoned(outcome)
                        except Exception:
                            logger.exception("%s: handling an abandoned result failed", self._name)
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
