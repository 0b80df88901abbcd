"""The webhook's route: an update is answered 200 only once it is stored, so Telegram resends what a crash took.

Before reading a byte of the body, the secret header is checked (in constant time) and the declared length is
held to ``MAX_BODY_BYTES``: an unauthenticated or oversized POST is refused (403, 413) without being read, so
it costs the bot no memory. A body that is no update is refused with 400; a store that fails answers 503, which
Telegram retries.
"""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web

from bot.updates import Updates
from core.errors import StartupError

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name
MAX_BODY_BYTES = 1024 * 1024  # an update is a few KB; Telegram's largest are far below this
LINGER_S = 0.5


class WebhookServer:
    def __init__(self, updates: Updates, *, url: str, secret: str, listen: str, port: int) -> None:
        self.updates = updates
        self.url = url
        self.path = "/" + urlsplit(url).path.lstrip("/")
        self.listen = listen
        self.port = port
        self._secret = secret.encode()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(self.path, self._receive)
        # A refused request's unread body is read and dropped for at most LINGER_S (aiohttp's default is 10 s),
        # time for the answer to reach the client before the connection closes.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, lingering_time=LINGER_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listen, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"WEBHOOK_PORT: cannot listen on {self.listen}:{self.port} ({exc.strerror or exc}); "
                "set WEBHOOK_PORT to a free port"
            ) from exc
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return _refuse(403, "Forbidden")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _refuse(413, "Payload Too Large")
        try:
            data = json.loads(await request.read())  # read() refuses past client_max_size (a chunked body)
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "Payload Too Large")
        except ValueError:
            return _refuse(400, "Bad Request: the body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return _refuse(400, "Bad Request: the body is not an update")
        try:
            await self.updates.received([data])
        except Exception as exc:  # not stored: Telegram must send it again
            logger.warning("webhook: update %s not stored (%s); answered 503", data["update_id"], type(exc).__name__)
            return web.Response(status=503, text="Service Unavailable")
        return web.Response(status=200)


def _refuse(status: int, reason: str) -> web.Response:
    response = web.Response(status=status, text=reason)
    response.force_close()  # whatever of the body is unread stays unread
    return response
