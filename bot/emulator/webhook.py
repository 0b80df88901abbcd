"""Webhook delivery: while a webhook is set, the queued updates are POSTed to it one at a time, in order, as JSON,
with ``X-Telegram-Bot-Api-Secret-Token`` when a secret is set. A non-2xx answer or a connection error is recorded
and the same update is tried again after a pause that doubles up to a maximum, until it is accepted or the webhook
is removed. A 2xx answer whose JSON body names a ``method`` is executed, as Telegram does ("reply to a webhook")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp

from bot.emulator.errors import ApiError
from bot.emulator.limits import is_loopback
from bot.emulator.model import JSONDict, WebhookDelivery
from bot.emulator.updates import UpdateQueue

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ReplyHandler = Callable[[JSONDict], Awaitable[None]]


async def verify_resolvable(url: str) -> None:
    """Telegram answers setWebhook once the host name resolves (it does not wait for a connection: PTB's
    run_webhook calls setWebhook before its server listens); so does the emulator."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_loopback(host):
        return
    try:
        await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443)
    except OSError as exc:
        raise ApiError.bad_request(f"bad webhook: Failed to resolve host: {exc.strerror or exc}") from exc


class WebhookManager:
    def __init__(
        self,
        queue: UpdateQueue,
        *,
        wall_clock: Callable[[], float],
        retry_base_s: float,
        retry_max_s: float,
        timeout_s: float,
    ) -> None:
        self.queue = queue
        self.url = ""
        self.secret_token = ""
        self.max_connections = 40
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.deliveries: list[WebhookDelivery] = []
        self.reply_handler: ReplyHandler | None = None
        self.on_accepted: list[Callable[[JSONDict], None]] = []  # called as a 2xx answer for an update arrives
        self._wall_clock = wall_clock
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return bool(self.url)

    async def configure(self, url: str, secret_token: str, max_connections: int) -> None:
        await self.remove()
        self.url, self.secret_token, self.max_connections = url, secret_token, max_connections
        self.last_error_date = self.last_error_message = None
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        self._task = asyncio.create_task(self._deliver_forever(), name="emulator-webhook")
        logger.info("webhook set to %s", url)

    async def remove(self) -> None:
        self.url = ""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _deliver_forever(self) -> None:
        failures = 0
        while self._task is asyncio.current_task():
            self.queue.arrived.clear()
            update = self.queue.head()
            if update is None:
                await self.queue.arrived.wait()
                continue
            if await self._post(update):
                failures = 0
                continue
            failures += 1
            await asyncio.sleep(min(self._retry_max_s, self._retry_base_s * 2 ** (failures - 1)))

    async def _post(self, update: JSONDict) -> bool:
        session = self._session
        if session is None:
            return False
        update_id = int(str(update["update_id"]))
        headers = {SECRET_HEADER: self.secret_token} if self.secret_token else {}
        started = self._wall_clock()
        status: int | None = None
        error: str | None = None
        body = b""
        try:
            async with session.post(self.url, json=update, headers=headers) as response:
                status = response.status
                body = await response.read()
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as exc:
            error = "Connection refused" if isinstance(exc, aiohttp.ClientConnectorError) else str(exc)
        self.deliveries.append(WebhookDelivery(update_id, self.url, status, error, self.secret_token or None, started))
        if error is not None:
            self.last_error_date, self.last_error_message = int(started), error
            logger.debug("webhook delivery of update %s failed: %s", update_id, error)
            return False
        self.queue.remove(update_id)
        for observer in list(self.on_accepted):
            observer(update)
        await self._run_reply(body)
        return True

    async def _run_reply(self, body: bytes) -> None:
        if not body or self.reply_handler is None:
            return
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            await self.reply_handler(reply)
