"""A typed context: handlers reach the services through ``context.services``, not dict keys."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import CallbackContext, ExtBot

from bot.ops import OpsServer
from bot.settings import TelegramSettings
from bot.throttle import UserThrottle
from bot.updates import Updates
from core.delivery import Delivery
from core.erase import UserDataService
from core.feedback import FeedbackService
from core.intake import Intake
from core.languages import Languages
from core.queries import JobQueries
from core.queue import JobQueue
from core.services import Core
from core.settings import AccessSettings

SERVICES_KEY = "bhiv_services"


@dataclass
class BotServices:
    """What the receive role's handlers use: this bot's inbox, intake and feedback, the queries, its sender."""

    core: Core
    updates: Updates
    intake: Intake
    feedback: FeedbackService
    delivery: Delivery
    telegram: TelegramSettings
    throttle: UserThrottle
    languages: Languages  # the users' chosen languages, cached for this process
    ops: OpsServer | None = None  # /healthz and /metrics, when enabled

    @property
    def queries(self) -> JobQueries:
        return self.core.queries

    @property
    def queue(self) -> JobQueue:
        return self.core.queue

    @property
    def user_data(self) -> UserDataService:
        """Counting and erasing a user's data with this bot (/delete)."""
        return UserDataService(self.core.db, bot_id=self.intake.bot_id)

    @property
    def access(self) -> AccessSettings:
        return self.core.settings.access


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):  # type: ignore[type-arg]
    @property
    def services(self) -> BotServices:
        return self.application.bot_data[SERVICES_KEY]
