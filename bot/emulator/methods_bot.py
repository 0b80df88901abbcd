"""The Bot API methods about the bot itself: getMe, getUpdates, setWebhook / deleteWebhook / getWebhookInfo,
setMyCommands / getMyCommands / deleteMyCommands."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.emulator.errors import SET_WEBHOOK_CONFLICT, WEBHOOK_ACTIVE_CONFLICT, ApiError
from bot.emulator.limits import bot_commands, secret_token, webhook_url
from bot.emulator.model import JSONDict
from bot.emulator.params import Params
from bot.emulator.state import EmulatorOptions, EmulatorState
from bot.emulator.webhook import WebhookManager, verify_resolvable

logger = logging.getLogger(__name__)

LONG_POLL_MAX_TIMEOUT_S = 50
_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


@dataclass(frozen=True)
class Answer:
    """A successful result with the ``description`` the real server adds to some of them."""

    result: object
    description: str | None = None


class BotMethods:
    def __init__(self, state: EmulatorState, webhook: WebhookManager, options: EmulatorOptions) -> None:
        self.state = state
        self.webhook = webhook
        self.options = options
        self._next_set_webhook = 0.0

    async def get_me(self, params: Params) -> JSONDict:
        return {
            **self.state.bot.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, params: Params) -> list[JSONDict]:
        queue = self.state.updates
        if self.webhook.active:
            raise ApiError.conflict(WEBHOOK_ACTIVE_CONFLICT)
        offset = params.integer("offset")
        limit = params.clamped("limit", 100, 1, 100)
        timeout_s = params.clamped("timeout", 0, 0, LONG_POLL_MAX_TIMEOUT_S)
        queue.set_allowed(params.decoded("allowed_updates", "can't parse allowed updates JSON object"))
        queue.confirm(offset)
        updates = queue.take(limit)
        if updates or timeout_s == 0 or queue.closed:
            return updates
        slot = queue.begin_poll()
        try:
            deadline = self.state.clock() + timeout_s
            while not queue.closed:
                remaining_s = deadline - self.state.clock()
                if remaining_s <= 0:
                    break
                await queue.wait(slot, remaining_s)
                if slot.conflict is not None:
                    raise ApiError.conflict(slot.conflict)
                updates = queue.take(limit)
                if updates:
                    return updates
            return []
        finally:
            queue.end_poll(slot)

    async def set_webhook(self, params: Params) -> Answer:
        raw_url = params.text("url")
        if not raw_url:
            return await self.delete_webhook(params)
        now = self.state.clock()
        if now < self._next_set_webhook:
            raise ApiError.too_many(1)
        self._next_set_webhook = now + self.options.set_webhook_interval_s
        url = webhook_url(raw_url)
        secret = secret_token(params.text("secret_token"))
        max_connections = params.clamped("max_connections", 40, 1, 100)
        allowed = params.decoded("allowed_updates", "can't parse allowed updates JSON object")
        drop = params.flag("drop_pending_updates")
        queue = self.state.updates
        unchanged = (url, secret, max_connections) == (
            self.webhook.url,
            self.webhook.secret_token,
            self.webhook.max_connections,
        )
        if unchanged and not drop:
            queue.set_allowed(allowed)
            return Answer(True, "Webhook is already set")
        await verify_resolvable(url)
        queue.abort_poll(SET_WEBHOOK_CONFLICT)
        if drop:
            queue.clear()
        queue.set_allowed(allowed)
        await self.webhook.configure(url, secret, max_connections)
        return Answer(True, "Webhook was set")

    async def delete_webhook(self, params: Params) -> Answer:
        was_set = self.webhook.active
        await self.webhook.remove()
        if params.flag("drop_pending_updates"):
            self.state.updates.clear()
        return Answer(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def get_webhook_info(self, params: Params) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.updates.pending),
        }
        if self.webhook.active:
            info["max_connections"] = self.webhook.max_connections
            info["ip_address"] = "127.0.0.1"
        if self.webhook.last_error_date is not None:
            info["last_error_date"] = self.webhook.last_error_date
            info["last_error_message"] = self.webhook.last_error_message
        if self.state.updates.allowed is not None:
            info["allowed_updates"] = sorted(self.state.updates.allowed)
        return info

    @staticmethod
    def _commands_key(params: Params) -> tuple[str, str]:
        scope = params.decoded("scope", "can't parse BotCommandScope JSON object")
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict):
            raise ApiError.bad_request("can't parse BotCommandScope: BotCommandScope must be an Object")
        if scope.get("type") not in _SCOPES:
            raise ApiError.bad_request("can't parse BotCommandScope: Unsupported type specified")
        language = params.text("language_code").strip()
        if language and not (len(language) == 2 and language.isascii() and language.isalpha()):
            raise ApiError.bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), language.lower()

    async def set_my_commands(self, params: Params) -> bool:
        commands = bot_commands(params.decoded("commands", "can't parse commands JSON object"))
        key = self._commands_key(params)
        if commands:
            self.state.commands[key] = commands
        else:
            self.state.commands.pop(key, None)
        return True

    async def get_my_commands(self, params: Params) -> list[dict[str, str]]:
        return list(self.state.commands.get(self._commands_key(params), []))

    async def delete_my_commands(self, params: Params) -> bool:
        self.state.commands.pop(self._commands_key(params), None)
        return True
