"""The operator's endpoints, on their own port in polling and webhook modes alike:
GET /healthz (200 or 503, JSON) and GET /metrics (Prometheus text, from prometheus-client)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.errors import StartupError
from core.health import Health

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[Health]]


class OpsServer:
    def __init__(self, health: HealthCheck, *, host: str, port: int) -> None:
        self._health = health
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        """Bind and serve; a StartupError naming OPS_PORT when the port cannot be had."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise StartupError(
                f"OPS_PORT: cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "set OPS_PORT to a free port (0 picks one)"
            ) from exc
        self.port = int(self._runner.addresses[0][1])  # the bound port, when 0 was asked for
        logger.info("ops endpoints on http://%s:%s/healthz and /metrics", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        health = await self._health()
        return web.json_response(health.to_dict(), status=200 if health.ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self._health()  # refreshes the database gauges
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
