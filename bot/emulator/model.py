"""What the emulator keeps: users, chats, messages with their edit history, files, callback queries, and the
record of every Bot API call. Each object renders itself in Bot API shape with ``to_api``."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Literal

from bot.emulator.entities import entity_text

logger = logging.getLogger(__name__)

JSONDict = dict[str, object]
ChatType = Literal["private", "group", "supergroup"]


@dataclass
class UserInfo:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    def to_api(self) -> JSONDict:
        body: JSONDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            body["last_name"] = self.last_name
        if self.username:
            body["username"] = self.username
        if self.language_code and not self.is_bot:
            body["language_code"] = self.language_code
        return body


@dataclass(frozen=True)
class MessageVersion:
    """One earlier state of an edited message."""

    text: str | None
    entities: list[JSONDict]
    caption: str | None
    caption_entities: list[JSONDict]
    reply_markup: JSONDict | None
    edit_date: int | None

    def to_dict(self) -> JSONDict:
        return {
            "text": self.text,
            "entities": self.entities,
            "caption": self.caption,
            "caption_entities": self.caption_entities,
            "reply_markup": self.reply_markup,
            "edit_date": self.edit_date,
        }


@dataclass
class ChatMessage:
    """A message in a chat, from either side, in its current state; ``history`` holds the earlier versions."""

    message_id: int
    chat: ChatInfo = field(repr=False)
    sender: UserInfo = field(repr=False)
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[JSONDict] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSONDict] = field(default_factory=list)
    media_kind: str | None = None  # document, video, photo, sticker, voice
    media: object | None = None
    reply_markup: JSONDict | None = None  # inline keyboard, as messages carry it
    other_markup: JSONDict | None = None  # force_reply / keyboard / remove_keyboard sent with it
    reply_to: ChatMessage | None = field(default=None, repr=False)
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list)
    seq: int = 0  # the event sequence number of the last change

    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def body(self) -> str | None:
        """What the message says: its text, or a media message's caption."""
        return self.text if self.text is not None else self.caption

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else (self.media_kind or "unknown")

    @property
    def force_reply(self) -> bool:
        return bool(self.other_markup and self.other_markup.get("force_reply"))

    @property
    def document(self) -> JSONDict | None:
        return self.media if self.media_kind == "document" and isinstance(self.media, dict) else None

    @property
    def video(self) -> JSONDict | None:
        return self.media if self.media_kind == "video" and isinstance(self.media, dict) else None

    @property
    def buttons(self) -> list[JSONDict]:
        """The inline keyboard's buttons, row by row, flattened."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard")
        if not isinstance(rows, list):
            return []
        return [button for row in rows if isinstance(row, list) for button in row if isinstance(button, dict)]

    @property
    def callback_data(self) -> list[str]:
        return [str(button["callback_data"]) for button in self.buttons if "callback_data" in button]

    def entity_texts(self, entity_type: str) -> list[str]:
        """The substrings covered by entities of ``entity_type`` (text or caption)."""
        body, entities = (self.text, self.entities) if self.text is not None else (self.caption, self.caption_entities)
        if body is None:
            return []
        return [entity_text(body, entity) for entity in entities if entity.get("type") == entity_type]

    def version(self) -> MessageVersion:
        return MessageVersion(
            self.text, list(self.entities), self.caption, list(self.caption_entities), self.reply_markup, self.edit_date
        )

    def to_api(self, *, with_reply: bool = True) -> JSONDict:
        body: JSONDict = {
            "message_id": self.message_id,
            "from": self.sender.to_api(),
            "chat": self.chat.to_api(),
            "date": self.date,
        }
        if with_reply and self.reply_to is not None:
            body["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.edit_date is not None:
            body["edit_date"] = self.edit_date
        if self.text is not None:
            body["text"] = self.text
            if self.entities:
                body["entities"] = self.entities
        if self.media_kind is not None:
            body[self.media_kind] = self.media
        if self.caption:
            body["caption"] = self.caption
            if self.caption_entities:
                body["caption_entities"] = self.caption_entities
        if self.reply_markup is not None:
            body["reply_markup"] = self.reply_markup
        return body

    def to_dict(self) -> JSONDict:
        """For transcripts: the Bot API object plus who sent it, the markup it came with and its history."""
        body = self.to_api()
        body["from_bot"] = self.from_bot
        body["other_markup"] = self.other_markup
        body["history"] = [version.to_dict() for version in self.history]
        body["seq"] = self.seq
        return body

    def __str__(self) -> str:
        who = "bot" if self.from_bot else f"user {self.sender.id}"
        content = self.text if self.text is not None else f"<{self.kind}> {self.caption or ''}".strip()
        buttons = f" buttons={[b.get('text') for b in self.buttons]}" if self.buttons else ""
        return f"#{self.message_id} {who}: {content!r}{buttons}"


@dataclass
class ChatInfo:
    id: int
    type: ChatType
    title: str | None = None
    user: UserInfo | None = None  # the other side of a private chat
    started: bool = False  # the user has written to the bot
    blocked: bool = False  # the user has blocked the bot
    next_message_id: int = 1
    messages: dict[int, ChatMessage] = field(default_factory=dict, repr=False)
    actions: list[str] = field(default_factory=list, repr=False)

    @property
    def is_group(self) -> bool:
        return self.type != "private"

    def to_api(self) -> JSONDict:
        if self.type == "private" and self.user is not None:
            body: JSONDict = {"id": self.id, "first_name": self.user.first_name, "type": "private"}
            if self.user.last_name:
                body["last_name"] = self.user.last_name
            if self.user.username:
                body["username"] = self.user.username
            return body
        return {"id": self.id, "title": self.title or "", "type": self.type}


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    size: int
    path: str
    data: bytes | None = field(default=None, repr=False)  # None: only a declared size
    file_name: str | None = None
    mime_type: str | None = None

    def content(self) -> bytes:
        return self.data if self.data is not None else bytes(self.size)

    def to_api(self) -> JSONDict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}

    def document_api(self) -> JSONDict:
        body = self.to_api()
        if self.file_name:
            body["file_name"] = self.file_name
        if self.mime_type:
            body["mime_type"] = self.mime_type
        return body


@dataclass(frozen=True)
class CallbackAnswer:
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int

    def to_dict(self) -> JSONDict:
        return {"text": self.text, "show_alert": self.show_alert, "url": self.url, "cache_time": self.cache_time}


@dataclass
class CallbackQueryState:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float  # monotonic
    future: asyncio.Future[CallbackAnswer] = field(repr=False)
    answer: CallbackAnswer | None = None


@dataclass(frozen=True)
class ChatEvent:
    """A change a user would see: a message sent or edited, a chat action, a callback answer."""

    seq: int
    chat_id: int
    kind: Literal["message", "edit", "action", "callback_answer", "delete"]
    message_id: int | None
    data: JSONDict

    def to_dict(self) -> JSONDict:
        return {
            "seq": self.seq,
            "chat_id": self.chat_id,
            "kind": self.kind,
            "message_id": self.message_id,
            "data": self.data,
        }


@dataclass(frozen=True)
class Call:
    """One Bot API request as the emulator answered it."""

    seq: int
    method: str
    params: JSONDict
    status: int
    description: str | None
    retry_after: int | None
    result: object | None
    fault: str | None  # 429, 5xx, drop, drop_after when injected
    started: float  # wall-clock time
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.status == 200

    def param_json(self, name: str) -> object | None:
        """A JSON-encoded argument (reply_markup, reply_parameters...) decoded."""
        raw = self.params.get(name)
        return json.loads(raw) if isinstance(raw, str) and raw else None

    def to_dict(self) -> JSONDict:
        return {
            "seq": self.seq,
            "method": self.method,
            "params": self.params,
            "status": self.status,
            "description": self.description,
            "retry_after": self.retry_after,
            "result": self.result,
            "fault": self.fault,
            "started": self.started,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook, and what came back."""

    update_id: int
    url: str
    status: int | None  # None: no HTTP answer (connection error or timeout)
    error: str | None
    secret_token: str | None
    started: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
