"""A recording Sender: what the Telegram sender would have been asked to deliver, and scripted failures."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass

from core.delivery import Notification


@dataclass(frozen=True)
class Delivered:
    chat_id: int
    kind: str
    job_id: str | None
    job_status: str | None
    version_id: int | None
    message_id: int
    queue_position: int | None = None
    reply_to: int | None = None


class FakeSender:
    """Implements core.delivery.Sender; ``failures`` are raised in order before deliveries succeed."""

    def __init__(self) -> None:
        self.delivered: list[Delivered] = []
        self.failures: deque[Exception] = deque()
        self.failures_for: dict[int, deque[Exception]] = {}  # chat id -> raised first, for that chat only
        self.calls = 0
        self.delay_s: dict[int, float] = {}  # chat id -> seconds each delivery to it takes
        self._message_ids = itertools.count(1000)

    async def deliver(self, notification: Notification) -> int | None:
        self.calls += 1
        if notification.chat_id in self.delay_s:
            await asyncio.sleep(self.delay_s[notification.chat_id])
        if self.failures_for.get(notification.chat_id):
            raise self.failures_for[notification.chat_id].popleft()
        if self.failures:
            raise self.failures.popleft()
        message_id = next(self._message_ids)
        job = notification.job
        self.delivered.append(
            Delivered(
                chat_id=notification.chat_id,
                kind=notification.kind,
                job_id=job.id if job else None,
                job_status=job.status if job else None,
                version_id=notification.version.id if notification.version else None,
                message_id=message_id,
                queue_position=notification.queue_position,
                reply_to=notification.reply_to,
            )
        )
        return message_id

    def kinds(self, job_id: str) -> list[str]:
        return [item.kind for item in self.delivered if item.job_id == job_id]
