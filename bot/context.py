"""A typed context: handlers reach the services through ``context.services``, not dict keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ExtBot

from bot.locks import KeyedLocks
from bot.ops import OpsServer
from bot.settings import TelegramSettings
from bot.throttle import UserThrottle
from core.delivery import Delivery
from core.feedback import FeedbackService
from core.jobs import JobService
from core.services import Services
from core.settings import AccessSettings

SERVICES_KEY = "bhiv_services"


@dataclass
class BotServices:
    core: Services
    feedback: FeedbackService
    delivery: Delivery
    telegram: TelegramSettings
    throttle: UserThrottle
    press_locks: KeyedLocks = field(default_factory=KeyedLocks)
    ops: OpsServer | None = None

    @property
    def jobs(self) -> JobService:
        return self.core.jobs

    @property
    def access(self) -> AccessSettings:
        return self.core.settings.access


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):  # type: ignore[type-arg]
    @property
    def services(self) -> BotServices:
        return self.application.bot_data[SERVICES_KEY]
