"""The user side over HTTP, under ``/_emu/`` (separate from the ``/bot<token>/`` namespace), so a test can drive a
bot running in another process and a terminal demo can chat with it. JSON in, JSON out; no authentication, so
bind the emulator to loopback.

    GET    /_emu/health                              {"ok", "base_url", "file_url"}
    POST   /_emu/users/{id}                          {first_name?, last_name?, username?} -> the user
    POST   /_emu/users/{id}/text                     {text, chat_id?}                 -> the user's message
    POST   /_emu/users/{id}/command                  {command, chat_id?}
    POST   /_emu/users/{id}/reply                    {to_message_id, text, chat_id?}
    POST   /_emu/users/{id}/document                 {file_name, mime_type, text | content_base64, caption?,
                                                      declared_size?, chat_id?}
    POST   /_emu/users/{id}/photo | sticker | voice  {caption?} / {emoji?} / {duration_s?}
    POST   /_emu/users/{id}/press                    {message_id, callback_data, wait_s?, check?}
                                                      -> {callback_query_id, answer: {...} | null}
    POST   /_emu/users/{id}/block | unblock
    POST   /_emu/groups/{id}                         {title?}
    GET    /_emu/chats/{id}/transcript               {messages: [...], seq}
    GET    /_emu/chats/{id}/events?after=N&timeout_s=S   long poll: {events: [...], seq}
    GET    /_emu/events?after=N&timeout_s=S          the same over all chats
    GET    /_emu/calls?after=N                       the Bot API calls recorded after call N
    GET    /_emu/files/{file_id}                     a stored file's bytes
    POST   /_emu/faults                              the arguments of Faults.set; DELETE clears
    POST   /_emu/updates/{update_id}/resend          {same_id?} -> {update_id}

A user id seen for the first time is created (first_name from the body or "User<id>").
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot.emulator.model import ChatEvent, JSONDict

if TYPE_CHECKING:
    from bot.emulator.server import BotAPIEmulator
    from bot.emulator.users import EmulatedUser

logger = logging.getLogger(__name__)

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_WAIT_S = 60.0


def _fail(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _guard(route: Route) -> Route:
    async def guarded(request: web.Request) -> web.StreamResponse:
        # A page in a browser may post a form or text/plain to any address without asking first; a JSON body
        # needs a CORS preflight, which this server never grants. So the user side takes JSON only.
        if request.method == "POST" and request.content_type != "application/json":
            return _fail(415, "the control routes take a JSON body (Content-Type: application/json)")
        try:
            return await route(request)
        except (ValueError, KeyError, TypeError) as exc:
            return _fail(400, f"{type(exc).__name__}: {exc}")

    return guarded


async def _body(request: web.Request) -> JSONDict:
    if not request.body_exists:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("a JSON object is expected")
    return body


def _optional_int(body: JSONDict, name: str) -> int | None:
    value = body.get(name)
    return None if value is None else int(str(value))


class ControlRoutes:
    def __init__(self, emu: BotAPIEmulator) -> None:
        self.emu = emu

    def _user(self, request: web.Request, body: JSONDict) -> EmulatedUser:
        first_name = body.get("first_name")
        return self.emu.user(int(request.match_info["user_id"]), str(first_name) if first_name else None)

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "base_url": self.emu.base_url, "file_url": self.emu.file_url})

    async def create_user(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        user_id = int(request.match_info["user_id"])
        last_name, username = body.get("last_name"), body.get("username")
        user = self.emu.user(
            user_id,
            str(body["first_name"]) if body.get("first_name") else None,
            last_name=str(last_name) if last_name else None,
            username=str(username) if username else None,
        )
        return web.json_response({"ok": True, "user": user.info.to_api()})

    async def user_action(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        user = self._user(request, body)
        action = request.match_info["action"]
        chat_id = _optional_int(body, "chat_id")
        if action == "text":
            message = await user.send_text(str(body["text"]), chat_id=chat_id)
        elif action == "command":
            message = await user.send_command(str(body["command"]), chat_id=chat_id)
        elif action == "reply":
            message = await user.reply(int(str(body["to_message_id"])), str(body["text"]), chat_id=chat_id)
        elif action == "document":
            data = body.get("text", "")
            content = base64.b64decode(str(body["content_base64"])) if "content_base64" in body else str(data).encode()
            message = await user.send_document(
                content,
                str(body.get("file_name", "document.txt")),
                str(body.get("mime_type", "text/plain")),
                caption=str(body["caption"]) if body.get("caption") else None,
                declared_size=_optional_int(body, "declared_size"),
                chat_id=chat_id,
            )
        elif action == "photo":
            message = await user.send_photo(caption=str(body["caption"]) if body.get("caption") else None)
        elif action == "sticker":
            message = await user.send_sticker(str(body.get("emoji", "👍")), chat_id=chat_id)
        elif action == "voice":
            message = await user.send_voice(int(str(body.get("duration_s", 3))), chat_id=chat_id)
        elif action in {"block", "unblock"}:
            user.block_bot() if action == "block" else user.unblock_bot()
            return web.json_response({"ok": True})
        else:
            return _fail(404, f"unknown action {action}")
        return web.json_response({"ok": True, "message": message.to_dict()})

    async def press(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        user = self._user(request, body)
        pending = await user.press(
            int(str(body["message_id"])),
            str(body["callback_data"]),
            chat_id=_optional_int(body, "chat_id"),
            check=bool(body.get("check", True)),
        )
        wait_s = min(float(str(body.get("wait_s", 0))), MAX_WAIT_S)
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await pending.wait(wait_s)
        answer = pending.answer.to_dict() if pending.answer else None
        return web.json_response({"ok": True, "callback_query_id": pending.query_id, "answer": answer})

    async def create_group(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        chat = self.emu.group(int(request.match_info["chat_id"]), str(body.get("title", "Group")))
        return web.json_response({"ok": True, "chat": chat.info.to_api()})

    async def transcript(self, request: web.Request) -> web.StreamResponse:
        chat = self.emu.chat(int(request.match_info["chat_id"]))
        return web.json_response({"ok": True, "messages": chat.to_dicts(), "seq": self.emu.state.last_seq})

    async def events(self, request: web.Request) -> web.StreamResponse:
        raw_chat_id = request.match_info.get("chat_id")
        chat_id = int(raw_chat_id) if raw_chat_id is not None else None
        after = int(request.query.get("after", "0"))
        wait_s = min(float(request.query.get("timeout_s", "0")), MAX_WAIT_S)

        def pending() -> list[ChatEvent] | None:
            found = [
                event
                for event in self.emu.state.events
                if event.seq > after and (chat_id is None or event.chat_id == chat_id)
            ]
            return found or None

        events = pending() or []
        if not events and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                events = await self.emu.state.wait_until(pending, wait_s)
        seq = events[-1].seq if events else after
        return web.json_response({"ok": True, "events": [event.to_dict() for event in events], "seq": seq})

    async def calls(self, request: web.Request) -> web.StreamResponse:
        after = int(request.query.get("after", "0"))
        calls = [call.to_dict() for call in self.emu.calls if call.seq > after]
        return web.json_response({"ok": True, "calls": calls})

    async def file(self, request: web.Request) -> web.StreamResponse:
        stored = self.emu.state.files.get(request.match_info["file_id"])
        if stored is None:
            return _fail(404, "no such file")
        return web.Response(body=stored.content(), content_type=stored.mime_type or "application/octet-stream")

    async def set_faults(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        methods = body.pop("methods", None)
        if isinstance(methods, list):
            methods = [str(method) for method in methods]
        self.emu.faults.set(methods=methods, **body)  # type: ignore[arg-type]
        return web.json_response({"ok": True})

    async def clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.emu.faults.clear()
        return web.json_response({"ok": True})

    async def resend(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        new_id = self.emu.resend_update(int(request.match_info["update_id"]), same_id=bool(body.get("same_id")))
        return web.json_response({"ok": True, "update_id": new_id})


def add_control_routes(app: web.Application, emu: BotAPIEmulator) -> None:
    routes = ControlRoutes(emu)
    router = app.router
    router.add_get("/_emu/health", _guard(routes.health))
    router.add_post("/_emu/users/{user_id}", _guard(routes.create_user))
    router.add_post("/_emu/users/{user_id}/press", _guard(routes.press))
    router.add_post("/_emu/users/{user_id}/{action}", _guard(routes.user_action))
    router.add_post("/_emu/groups/{chat_id}", _guard(routes.create_group))
    router.add_get("/_emu/chats/{chat_id}/transcript", _guard(routes.transcript))
    router.add_get("/_emu/chats/{chat_id}/events", _guard(routes.events))
    router.add_get("/_emu/events", _guard(routes.events))
    router.add_get("/_emu/calls", _guard(routes.calls))
    router.add_get("/_emu/files/{file_id}", _guard(routes.file))
    router.add_post("/_emu/faults", _guard(routes.set_faults))
    router.add_delete("/_emu/faults", _guard(routes.clear_faults))
    router.add_post("/_emu/updates/{update_id}/resend", _guard(routes.resend))
