"""The Bot API's checks on what a bot sends: formatted text and its length, reply markup, commands, webhook
settings. Every function either returns the normalised value or raises ``ApiError`` with Telegram's text."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.emulator.entities import Entity, entities_from_json, fix_formatted_text
from bot.emulator.errors import (
    BUTTON_DATA_INVALID,
    BUTTON_TEXT_INVALID,
    BUTTON_URL_INVALID,
    CAPTION_TOO_LONG,
    MESSAGE_TEXT_EMPTY,
    MESSAGE_TOO_LONG,
    ApiError,
)
from bot.emulator.parse_html import checked_link, parse_html
from bot.emulator.parse_markdown import parse_markdown, parse_markdown_v2

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_CHARS = 200
MAX_INLINE_BUTTONS = 100
MAX_COMMANDS = 100
MAX_COMMAND_CHARS = 32
MAX_COMMAND_DESCRIPTION_CHARS = 256
MAX_SECRET_TOKEN_CHARS = 256
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})

_COMMAND = re.compile(r"[a-z0-9_]+")
_SECRET = re.compile(r"[A-Za-z0-9_-]*")
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


@dataclass(frozen=True)
class FormattedText:
    text: str
    entities: list[Entity]

    def entities_json(self) -> list[dict[str, object]]:
        return [entity.to_api() for entity in self.entities]


def parse_text(
    text: str,
    parse_mode: str | None,
    entities_json: object | None,
    *,
    strict_html: bool = True,
    allow_empty: bool = False,
) -> FormattedText:
    """Parse ``text`` the way its ``parse_mode`` (or explicit entities) says, then trim and fix it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError.bad_request("strings must be encoded in UTF-8") from exc
    if entities_json is not None and entities_json != []:
        plain, entities = text, entities_from_json(entities_json, text)
    else:
        mode = (parse_mode or "").strip().lower()
        if mode == "html":
            plain, entities = parse_html(text, strict_ampersand=strict_html)
        elif mode == "markdownv2":
            plain, entities = parse_markdown_v2(text)
        elif mode == "markdown":
            plain, entities = parse_markdown(text)
        elif mode == "":
            plain, entities = text, []
        else:
            raise ApiError.bad_request("unsupported parse_mode")
    fixed_text, fixed_entities = fix_formatted_text(plain, entities, allow_empty=allow_empty)
    return FormattedText(fixed_text, fixed_entities)


def message_text(raw: str, parse_mode: str | None, entities_json: object | None, *, strict_html: bool) -> FormattedText:
    """sendMessage / editMessageText: 1..4096 characters after entity parsing."""
    if raw == "":
        raise ApiError.bad_request(MESSAGE_TEXT_EMPTY)
    formatted = parse_text(raw, parse_mode, entities_json, strict_html=strict_html)
    if len(formatted.text) > MAX_TEXT_CHARS:
        raise ApiError.bad_request(MESSAGE_TOO_LONG)
    return formatted


def caption_text(raw: str, parse_mode: str | None, entities_json: object | None, *, strict_html: bool) -> FormattedText:
    """Captions: 0..1024 characters after entity parsing."""
    formatted = parse_text(raw, parse_mode, entities_json, strict_html=strict_html, allow_empty=True)
    if len(formatted.text) > MAX_CAPTION_CHARS:
        raise ApiError.bad_request(CAPTION_TOO_LONG)
    return formatted


# --- reply markup ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyMarkup:
    """A parsed ``reply_markup``: ``inline`` is the keyboard in Bot API form (what messages carry); ``other`` is a
    ForceReply / ReplyKeyboardMarkup / ReplyKeyboardRemove, which the message itself does not show."""

    inline: dict[str, object] | None = None
    other: dict[str, object] | None = None

    @property
    def kind(self) -> str:
        if self.inline is not None:
            return "inline_keyboard"
        if self.other is None:
            return "none"
        for key in ("force_reply", "keyboard", "remove_keyboard"):
            if key in self.other:
                return key
        return "none"


def _button_error(reason: str) -> ApiError:
    return ApiError.bad_request(f"can't parse InlineKeyboardButton: {reason}")


def inline_button(button: object) -> dict[str, object]:
    """One InlineKeyboardButton, in the shape messages carry it."""
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise _button_error('Can\'t find field "text"')
    text = button["text"]
    if not isinstance(text, str):
        raise _button_error('Field "text" must be of type String')
    if not text.strip():
        raise ApiError.bad_request(BUTTON_TEXT_INVALID)
    for action in _BUTTON_ACTIONS:
        value = button.get(action)
        if value is None or (value == "" and action in {"url", "callback_data"}):
            continue
        too_long = isinstance(value, str) and len(value.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
        if action == "callback_data" and (not isinstance(value, str) or too_long):
            raise ApiError.bad_request(BUTTON_DATA_INVALID)
        if action == "url" and (not isinstance(value, str) or checked_link(value) is None):
            raise ApiError.bad_request(BUTTON_URL_INVALID)
        return {"text": text, action: value}
    raise _button_error("Text buttons are not allowed in the inline keyboard")


def reply_markup(raw: object | None) -> ReplyMarkup:
    """Validate a decoded ``reply_markup`` (None: no markup)."""
    if raw is None:
        return ReplyMarkup()
    if not isinstance(raw, dict):
        raise ApiError.bad_request("object expected as reply markup")
    if raw.get("inline_keyboard"):
        rows = raw["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError.bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
        keyboard = [[inline_button(button) for button in row] for row in rows]
        if sum(len(row) for row in keyboard) > MAX_INLINE_BUTTONS:
            raise ApiError.bad_request("reply markup is too long")
        return ReplyMarkup(inline={"inline_keyboard": keyboard})
    if raw.get("keyboard"):
        if not isinstance(raw["keyboard"], list) or not all(isinstance(row, list) for row in raw["keyboard"]):
            raise ApiError.bad_request('field "keyboard" must be an Array of Arrays')
        return ReplyMarkup(other=dict(raw))
    if raw.get("remove_keyboard") or raw.get("hide_keyboard"):
        return ReplyMarkup(other={"remove_keyboard": True})
    if raw.get("force_reply") or raw.get("force_reply_keyboard"):
        placeholder = raw.get("input_field_placeholder")
        markup: dict[str, object] = {"force_reply": True}
        if isinstance(placeholder, str) and placeholder:
            markup["input_field_placeholder"] = placeholder
        if raw.get("selective"):
            markup["selective"] = True
        return ReplyMarkup(other=markup)
    return ReplyMarkup()


def reply_markup_arg(raw: str | None) -> ReplyMarkup:
    """The ``reply_markup`` argument as sent (a JSON string)."""
    if raw is None or raw == "":
        return ReplyMarkup()
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise ApiError.bad_request("can't parse reply keyboard markup JSON object") from exc
    return reply_markup(decoded)


# --- commands, webhooks, callback answers ----------------------------------------------------------------------


def bot_commands(raw: object | None) -> list[dict[str, str]]:
    """setMyCommands' ``commands``: tdlib's checks, then the server's BOT_COMMAND_INVALID for bad characters."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError.bad_request("expected an Array of BotCommand")
    if len(raw) > MAX_COMMANDS:
        raise ApiError.bad_request("BOT_COMMANDS_TOO_MUCH")
    commands: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ApiError.bad_request("can't parse BotCommand: expected an Object")
        command, description = item.get("command"), item.get("description")
        if not isinstance(command, str):
            raise ApiError.bad_request('can\'t parse BotCommand: Field "command" must be of type String')
        if not isinstance(description, str):
            raise ApiError.bad_request('can\'t parse BotCommand: Field "description" must be of type String')
        command = command.strip().removeprefix("/")
        description = description.strip()
        if not command:
            raise ApiError.bad_request("command must be non-empty")
        if len(command) > MAX_COMMAND_CHARS:
            raise ApiError.bad_request(f"command length must not exceed {MAX_COMMAND_CHARS}")
        if not description:
            raise ApiError.bad_request("command description must be non-empty")
        if len(description) > MAX_COMMAND_DESCRIPTION_CHARS:
            raise ApiError.bad_request(f"command description length must not exceed {MAX_COMMAND_DESCRIPTION_CHARS}")
        if not _COMMAND.fullmatch(command):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        commands.append({"command": command, "description": description})
    return commands


def secret_token(raw: str) -> str:
    if len(raw) > MAX_SECRET_TOKEN_CHARS:
        raise ApiError.bad_request("secret token is too long")
    if not _SECRET.fullmatch(raw):
        raise ApiError.bad_request("secret token contains unallowed characters")
    return raw


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def webhook_url(raw: str) -> str:
    """A URL the emulator can deliver to. Relaxation: plain ``http://`` is allowed, on any port, for loopback
    hosts only (real Telegram demands HTTPS on ports 443, 80, 88 or 8443)."""
    url = raw.strip() if "://" in raw else f"https://{raw.strip()}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ApiError.bad_request("invalid webhook URL specified") from exc
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        raise ApiError.bad_request("invalid webhook URL specified")
    if is_loopback(host) and parts.scheme == "http":
        return url
    if parts.scheme != "https":
        raise ApiError.bad_request("bad webhook: HTTPS url must be provided for webhook")
    if (port or 443) not in WEBHOOK_PORTS:
        raise ApiError.bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    return url


def callback_answer_text(raw: str | None) -> str | None:
    if raw is not None and len(raw) > MAX_CALLBACK_ANSWER_CHARS:
        raise ApiError.bad_request("MESSAGE_TOO_LONG")
    return raw or None
