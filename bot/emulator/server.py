"""The emulator's HTTP server and its public face, ``BotAPIEmulator``.

Routes: ``/bot<token>/<method>`` (the Bot API, any HTTP method, method names case-insensitive like Telegram's),
``/file/bot<token>/<file_path>`` (downloads), ``/_emu/...`` (the user side, see ``control``); anything else is 404.
Each API request passes, in order: token check (401), method lookup (404), argument reading (413 for a file over
50 MB), injected faults, the method itself. Every request is recorded in ``calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from bot.emulator.control import add_control_routes
from bot.emulator.errors import ApiError
from bot.emulator.faults import Fault, Faults
from bot.emulator.flood import FloodControl, FloodLimits
from bot.emulator.methods_bot import Answer, BotMethods
from bot.emulator.methods_messages import MessageMethods
from bot.emulator.model import Call, JSONDict, UserInfo, WebhookDelivery
from bot.emulator.params import Params, params_from_json, read_params
from bot.emulator.state import MIB, EmulatorOptions, EmulatorState
from bot.emulator.users import ChatView, EmulatedUser
from bot.emulator.webhook import WebhookManager

logger = logging.getLogger(__name__)

Handler = Callable[[Params], Awaitable[object]]
TOKEN_FORMAT = re.compile(r"\d+:[A-Za-z0-9_-]+")
DROPPED = 0  # Call.status of a request answered by closing the connection
_NGINX_502 = (
    "<html>\r\n<head><title>{code} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>{code} Bad Gateway</h1>"
    "</center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)


def _dumps(body: object) -> str:
    return json.dumps(body, ensure_ascii=False)


class BotAPIEmulator:
    """A local Telegram Bot API server. Use ``async with BotAPIEmulator() as emu`` or ``start`` / ``stop``."""

    def __init__(
        self,
        token: str = "123456:TEST",  # noqa: S107 - the emulator's well-known test token
        bot_username: str = "bhiv_test_bot",
        *,
        bot_first_name: str = "BHIV Test Bot",
        flood_limits: bool | FloodLimits = False,
        faults: Faults | None = None,
        options: EmulatorOptions | None = None,
    ) -> None:
        if not TOKEN_FORMAT.fullmatch(token):
            raise ValueError("a bot token looks like 123456:ABC-def_0")
        self.token = token
        self.options = options or EmulatorOptions()
        bot = UserInfo(int(token.split(":")[0]), bot_first_name, username=bot_username, is_bot=True)
        self.state = EmulatorState(bot)
        limits = FloodLimits() if flood_limits is True else (flood_limits or None)
        self.flood = FloodControl(limits)
        self.faults = faults or Faults()
        self.webhook = WebhookManager(
            self.state.updates,
            wall_clock=self.state.wall_clock,
            retry_base_s=self.options.webhook_retry_base_s,
            retry_max_s=self.options.webhook_retry_max_s,
            timeout_s=self.options.webhook_timeout_s,
        )
        self.webhook.reply_handler = self._webhook_reply
        self.calls: list[Call] = []
        self._messages = MessageMethods(self.state, self.flood, self.options)
        self._bot_methods = BotMethods(self.state, self.webhook, self.options)
        self._methods = self._method_table()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.root_url = ""

    def _method_table(self) -> dict[str, tuple[str, Handler]]:
        bot, messages = self._bot_methods, self._messages
        handlers: dict[str, Handler] = {
            "getMe": bot.get_me,
            "getUpdates": bot.get_updates,
            "setWebhook": bot.set_webhook,
            "deleteWebhook": bot.delete_webhook,
            "getWebhookInfo": bot.get_webhook_info,
            "setMyCommands": bot.set_my_commands,
            "getMyCommands": bot.get_my_commands,
            "deleteMyCommands": bot.delete_my_commands,
            "sendMessage": messages.send_message,
            "editMessageText": messages.edit_message_text,
            "editMessageReplyMarkup": messages.edit_message_reply_markup,
            "sendDocument": messages.send_document,
            "sendVideo": messages.send_video,
            "editMessageCaption": messages.edit_message_caption,
            "deleteMessage": messages.delete_message,
            "sendChatAction": messages.send_chat_action,
            "answerCallbackQuery": messages.answer_callback_query,
            "getFile": messages.get_file,
        }
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    # --- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For python-telegram-bot's ``base_url``: the token and ``/method`` are appended."""
        return f"{self.root_url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.root_url}/file/bot"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_emu"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=self.options.max_upload_bytes + 16 * MIB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._closing = asyncio.Event()
        self.state.updates.reopen()
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.root_url = f"http://{shown_host}:{bound_port}"
        logger.info("Bot API emulator listening on %s", self.root_url)

    async def stop(self) -> None:
        self._closing.set()
        self.state.updates.close()
        await self.webhook.remove()
        for query in self.state.callback_queries.values():
            query.future.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- the user side and inspection ---------------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> EmulatedUser:
        """The user with this id (created on first use); their private chat has the same id."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        info = self.state.add_user(
            user_id, first_name, last_name=last_name, username=username, language_code=language_code
        )
        return EmulatedUser(self.state, info)

    def group(self, chat_id: int, title: str = "Group", *, supergroup: bool = False) -> ChatView:
        """A group chat (negative id) the bot is in; users post there with ``chat_id=``."""
        return ChatView(self.state, self.state.add_group(chat_id, title, supergroup=supergroup))

    def chat(self, chat_id: int) -> ChatView:
        return ChatView(self.state, self.state.chats[chat_id])

    def resend_update(self, update_id: int, *, same_id: bool = False) -> int:
        """Deliver an earlier update again. By default it gets a new update_id (a poller that already confirmed
        the old id would never see it); ``same_id=True`` keeps the id, as after a crash before confirming."""
        update = dict(self.state.updates.history[update_id])
        del update["update_id"]
        new_id = self.state.updates.push(update, update_id=update_id if same_id else None)
        if new_id is None:
            raise ValueError("allowed_updates filters this update out")
        return new_id

    @property
    def updates(self) -> list[JSONDict]:
        """Every update ever queued, in update_id order."""
        history = self.state.updates.history
        return [history[key] for key in sorted(history)]

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return list(self.webhook.deliveries)

    def errors(self, status_range: tuple[int, int] = (400, 599), *, method: str | None = None) -> list[Call]:
        """Recorded calls answered with a status in ``status_range`` (inclusive), optionally of one method."""
        low, high = status_range
        return [
            call
            for call in self.calls
            if low <= call.status <= high and (method is None or call.method.lower() == method.lower())
        ]

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    @property
    def rate_limited(self) -> list[Call]:
        """Every 429 given, from flood control or an injected fault."""
        return [call for call in self.calls if call.status == 429]

    # --- HTTP --------------------------------------------------------------------------------------------------

    def _record(
        self, method: str, params: Params, status: int, body: JSONDict | None, started: float, fault: str | None
    ) -> Call:
        body = body or {}
        parameters = body.get("parameters")
        call = Call(
            seq=len(self.calls) + 1,
            method=method,
            params=params.as_dict(),
            status=status,
            description=str(body["description"]) if "description" in body and status != 200 else None,
            retry_after=int(str(parameters["retry_after"])) if isinstance(parameters, dict) else None,
            result=body.get("result"),
            fault=fault,
            started=started,
            duration_s=round(self.state.wall_clock() - started, 6),
        )
        self.calls.append(call)
        if status != 200:
            logger.debug("%s -> %s %s", method, status, call.description)
        return call

    async def execute(self, method: str, params: Params) -> tuple[int, JSONDict]:
        """Run one method (no faults) and give the HTTP status and body the real server would."""
        entry = self._methods.get(method.lower())
        if entry is None:
            return 404, ApiError(404, "Not Found").to_json()
        _name, handler = entry
        try:
            outcome = await handler(params)
        except ApiError as exc:
            return exc.status, exc.to_json()
        except Exception as exc:
            logger.exception("emulator failure in %s", method)
            return 500, ApiError(500, f"Internal Server Error: emulator bug: {exc!r}").to_json()
        if isinstance(outcome, Answer):
            body: JSONDict = {"ok": True, "result": outcome.result}
            if outcome.description:
                body["description"] = outcome.description
            return 200, body
        return 200, {"ok": True, "result": outcome}

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        started = self.state.wall_clock()
        token, method = request.match_info["token"], request.match_info["method"]
        params = Params()
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        try:
            if not TOKEN_FORMAT.fullmatch(token):
                raise ApiError(404, "Not Found")
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            params = await read_params(request, max_upload_bytes=self.options.max_upload_bytes)
        except ApiError as exc:
            self._record(name, params, exc.status, exc.to_json(), started, None)
            return web.json_response(exc.to_json(), status=exc.status, dumps=_dumps)
        decision = self.faults.decide(name)
        if decision.latency_s:
            await self._pause(decision.latency_s)
        fault = decision.fault
        if fault is not None and fault.kind != "drop_after":
            return await self._answer_fault(request, name, params, fault, started)
        status, body = await self.execute(name, params)
        self._record(name, params, status, body, started, fault.kind if fault else None)
        if fault is not None:
            await self._drop(request)
        return web.json_response(body, status=status, dumps=_dumps)

    async def _answer_fault(
        self, request: web.Request, method: str, params: Params, fault: Fault, started: float
    ) -> web.StreamResponse:
        if fault.kind == "drop":
            self._record(method, params, DROPPED, None, started, fault.kind)
            await self._drop(request)
        if fault.kind == "429":
            error = ApiError.too_many(fault.retry_after)
            self._record(method, params, 429, error.to_json(), started, fault.kind)
            return web.json_response(error.to_json(), status=429, dumps=_dumps)
        body: JSONDict = {"ok": False, "error_code": fault.status, "description": "Bad Gateway"}
        self._record(method, params, fault.status, body, started, fault.kind)
        if fault.body == "nginx":
            page = _NGINX_502.format(code=fault.status)
            return web.Response(status=fault.status, text=page, content_type="text/html")
        return web.json_response(body, status=fault.status, dumps=_dumps)

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        """Close the connection without an HTTP answer; aiohttp then cancels this handler."""
        if request.transport is not None:
            request.transport.abort()
        await self._closing.wait()
        raise web.HTTPServiceUnavailable

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            error = ApiError(401, "Unauthorized")
            return web.json_response(error.to_json(), status=401)
        stored = self.state.files_by_path.get(request.match_info["path"])
        if stored is None or stored.size > self.options.max_download_bytes:
            return web.json_response(ApiError(404, "Not Found").to_json(), status=404)
        return web.Response(body=stored.content(), content_type=stored.mime_type or "application/octet-stream")

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(ApiError(404, "Not Found").to_json(), status=404)

    async def _webhook_reply(self, reply: JSONDict) -> None:
        method = str(reply.pop("method"))
        params = Params(params_from_json(reply))
        started = self.state.wall_clock()
        status, body = await self.execute(method, params)
        self._record(method, params, status, body, started, None)
