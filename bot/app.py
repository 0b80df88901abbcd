"""The application factory and its lifecycle: services start in post_init and stop in post_stop."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot.context import SERVICES_KEY, BotContext, BotServices
from bot.handlers import register
from bot.handlers.commands import COMMANDS
from bot.ops import OpsServer
from bot.sender import TelegramSender
from bot.settings import TelegramSettings
from bot.throttle import UserThrottle
from core import health
from core.clock import Clock
from core.delivery import Delivery
from core.feedback import FeedbackService
from core.services import CoreSettings, create_services

logger = logging.getLogger(__name__)


def create_application(telegram: TelegramSettings, core: CoreSettings, *, clock: Clock | None = None) -> Application:  # type: ignore[type-arg]
    token = telegram.token
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        services = await create_services(core, clock=clock)
        delivery = Delivery(
            services.engine,
            TelegramSender(application.bot),
            core.jobs,
            wakeup=services.jobs.outbox_waiting,
            foreground=services.jobs.foreground,
            clock=clock,
        )
        application.bot_data[SERVICES_KEY] = BotServices(
            core=services,
            feedback=FeedbackService(services.engine, services.jobs, clock=clock),
            delivery=delivery,
            telegram=telegram,
            throttle=UserThrottle(limit=telegram.flood_max_updates, window_s=telegram.flood_window_s),
        )
        await services.workers.start()
        await delivery.start()
        if telegram.ops_enabled:
            bot_services = application.bot_data[SERVICES_KEY]
            bot_services.ops = OpsServer(
                lambda: health.check(services, delivery, max_outbox_lag_s=telegram.max_outbox_lag_s),
                host=telegram.ops_listen,
                port=telegram.ops_port,
            )
            await bot_services.ops.start()
        await application.bot.set_my_commands(COMMANDS)
        logger.info("bot @%s is up", application.bot.username)

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        services: BotServices | None = application.bot_data.get(SERVICES_KEY)
        if services is not None:
            await services.core.workers.stop()
            await services.delivery.stop()

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        services: BotServices | None = application.bot_data.pop(SERVICES_KEY, None)
        if services is not None:
            if services.ops is not None:
                await services.ops.stop()
            await services.core.aclose()

    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(telegram.telegram_api_base_url)
        .base_file_url(telegram.telegram_api_file_url)
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=telegram.telegram_max_sends_per_s,
                overall_time_period=1,  # a rate of 0 turns the overall limiter off
                max_retries=telegram.telegram_max_retries,
            )
        )
        .concurrent_updates(telegram.concurrent_updates)
        .context_types(ContextTypes(context=BotContext))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    register(application)
    return application


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: str
    listen: str = "127.0.0.1"
    port: int = 8443


@contextlib.asynccontextmanager
async def running(
    application: Application,  # type: ignore[type-arg]
    *,
    webhook: Webhook | None = None,
    poll_timeout_s: int = 10,
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Run the bot inside an existing event loop (tests, the demo): what run_polling / run_webhook do,
    without owning the loop or the signals."""
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        updater = application.updater
        assert updater is not None
        if webhook is None:
            await updater.start_polling(poll_interval=0.0, timeout=poll_timeout_s, allowed_updates=Update.ALL_TYPES)
        else:
            await updater.start_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=urlsplit(webhook.url).path.lstrip("/"),
                webhook_url=webhook.url,
                secret_token=webhook.secret,
                allowed_updates=Update.ALL_TYPES,
            )
        try:
            yield application
        finally:
            if updater.running:
                await updater.stop()
            if application.running:
                await application.stop()
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
