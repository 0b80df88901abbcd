"""The composition root: the roles a command asks for, started in order and stopped in reverse.

    receive   the inbox (bot.updates): updates stored before they are confirmed, then handled by
              python-telegram-bot's Application and its handlers, with this bot's intake and feedback
    send      this bot's outbox delivery, through TelegramSender
    work      the worker pool (core.workers), unless WORKER_CONCURRENCY=0

Everything starts in ``post_init``, once getMe has told the bot's id (it scopes every key), on one
AsyncExitStack: a start that fails half-way (a port in use, a database that refuses) unwinds what had started,
so a process that cannot start leaves nothing running.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot.context import SERVICES_KEY, BotContext, BotServices
from bot.handlers import register
from bot.handlers.commands import command_menus
from bot.http import AiohttpRequest
from bot.i18n import load_catalogs
from bot.ops import OpsServer
from bot.sender import TelegramSender
from bot.settings import TelegramSettings
from bot.throttle import UserThrottle
from bot.updates import Poller, Updates, describe
from bot.webhook import WebhookServer
from core import health
from core.clock import Clock
from core.health import Health
from core.services import CoreSettings, Role, open_core

logger = logging.getLogger(__name__)

LIFECYCLE_KEY = "bhiv_lifecycle"
REQUESTS_KEY = "bhiv_requests"


def create_application(
    telegram: TelegramSettings,
    core: CoreSettings,
    *,
    clock: Clock | None = None,
    roles: frozenset[Role] = frozenset(Role),
) -> Application:  # type: ignore[type-arg]
    token = telegram.token
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        async with contextlib.AsyncExitStack() as stack:
            await _start(application, stack)
            application.bot_data[LIFECYCLE_KEY] = stack.pop_all()  # started: post_stop unwinds it

    async def _start(application: Application, stack: contextlib.AsyncExitStack) -> None:  # type: ignore[type-arg]
        load_catalogs()  # a broken catalog stops the start here, not at a user's message
        ops = None
        if telegram.ops_enabled:
            ops = OpsServer(lambda: _health(application), host=telegram.ops_listen, port=telegram.ops_port)
            await ops.start()
            stack.push_async_callback(ops.stop)
        services = await open_core(core, roles=roles, clock=clock)
        stack.push_async_callback(services.aclose)
        bot_id = application.bot.id
        await services.adopt_rows_of_no_bot(bot_id)
        intake = services.intake(bot_id)
        delivery = services.delivery(TelegramSender(application.bot), bot_id=bot_id)
        updates = Updates(application, services.inbox(bot_id, describe), concurrency=telegram.concurrent_updates)
        application.bot_data[SERVICES_KEY] = BotServices(
            core=services,
            updates=updates,
            intake=intake,
            feedback=services.feedback(intake),
            delivery=delivery,
            telegram=telegram,
            throttle=UserThrottle(limit=telegram.flood_max_updates, window_s=telegram.flood_window_s),
            languages=services.languages(),
            ops=ops,
        )
        stack.callback(application.bot_data.pop, SERVICES_KEY, None)
        if Role.SEND in roles:
            await delivery.start()
            stack.push_async_callback(delivery.stop)
        if services.workers is not None:
            await services.workers.start()
            stack.push_async_callback(services.workers.stop)
        services.listen(bot_id=bot_id if Role.SEND in roles else None)  # results that workers elsewhere write
        for language_code, commands in command_menus().items():  # None: everyone whose language has no menu
            await application.bot.set_my_commands(commands, language_code=language_code)
        logger.info("bot @%s (id %s) is up: %s", application.bot.username, bot_id, ", ".join(sorted(roles)))

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        stack: contextlib.AsyncExitStack | None = application.bot_data.pop(LIFECYCLE_KEY, None)
        if stack is not None:
            await stack.aclose()

    async def _health(application: Application) -> Health:  # type: ignore[type-arg]
        services: BotServices | None = application.bot_data.get(SERVICES_KEY)
        if services is None:  # still starting
            return Health(False, 0, core.jobs.worker_concurrency, False, 0, 0.0, telegram.max_outbox_lag_s)
        return await health.check(services.core, services.delivery, max_outbox_lag_s=telegram.max_outbox_lag_s)

    requests = (AiohttpRequest(), AiohttpRequest(connection_pool_size=1))
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(telegram.telegram_api_base_url)
        .base_file_url(telegram.telegram_api_file_url)
        .request(requests[0])
        .get_updates_request(requests[1])
        .updater(None)  # bot.updates fetches: an update is stored before it is confirmed
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=telegram.telegram_max_sends_per_s,
                overall_time_period=1,  # a rate of 0 turns the overall limiter off
                max_retries=telegram.telegram_max_retries,
            )
        )
        .context_types(ContextTypes(context=BotContext))
        .post_init(post_init)
        .post_stop(post_stop)
        .build()
    )
    application.bot_data[REQUESTS_KEY] = requests
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
    """Run the bot inside an existing event loop (``bhiv-bot run``, the demo, tests): start every role, replay
    what a previous run stored and left unhandled, then take updates by long polling or the webhook. It stops
    in reverse: no new updates, handlings under way finish, then the roles. Whatever fails on the way up is
    unwound."""
    try:
        await application.initialize()  # getMe: a refused token fails here
    except BaseException:
        for request in application.bot_data.get(REQUESTS_KEY, ()):  # opened before getMe, closed by nobody else
            await request.shutdown()
        raise
    try:
        started = False
        async with contextlib.AsyncExitStack() as stack:
            if application.post_init:
                await application.post_init(application)
            started = True
            await application.start()
            stack.push_async_callback(application.stop)
            updates: Updates = application.bot_data[SERVICES_KEY].updates
            stack.push_async_callback(updates.stop)
            if webhook is None:
                await application.bot.delete_webhook()  # getUpdates is refused while a webhook is set
                source: Poller | WebhookServer = Poller(application, updates, timeout_s=poll_timeout_s)
                await source.start()  # replays the stored updates once its first getUpdates is answered
                stack.push_async_callback(source.stop)
            else:
                await updates.start()  # the stored updates first, then what the route stores
                source = WebhookServer(
                    updates, url=webhook.url, secret=webhook.secret, listen=webhook.listen, port=webhook.port
                )
                await source.start()
                stack.push_async_callback(source.stop)
                await application.bot.set_webhook(
                    webhook.url, secret_token=webhook.secret, allowed_updates=Update.ALL_TYPES
                )
            yield application
    finally:
        try:
            if started and application.post_stop:
                await application.post_stop(application)
        finally:
            await application.shutdown()
