"""The emulator's mutable world and the operations both sides share: users, chats, messages, files, events.

Everything runs on one event loop and no operation awaits between its checks and its changes, so no locks are
needed. ``notify`` wakes everyone waiting in ``wait_until`` (users' ``wait_for``, the events long poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from bot.emulator.errors import (
    BOT_BLOCKED,
    CANT_INITIATE,
    CHAT_ID_EMPTY,
    CHAT_NOT_FOUND,
    REPLIED_NOT_FOUND,
    ApiError,
)
from bot.emulator.model import (
    CallbackQueryState,
    ChatEvent,
    ChatInfo,
    ChatMessage,
    JSONDict,
    StoredFile,
    UserInfo,
)
from bot.emulator.params import Params
from bot.emulator.updates import UpdateQueue

logger = logging.getLogger(__name__)

T = TypeVar("T")
MIB = 1024 * 1024

_FILE_KINDS = {
    "document": ("BQAC", "documents", ""),
    "photo": ("AgAC", "photos", ".jpg"),
    "sticker": ("CAAC", "stickers", ".webp"),
    "voice": ("AwAC", "voice", ".oga"),
    "video": ("BAAC", "videos", ".mp4"),
}


@dataclass(frozen=True)
class EmulatorOptions:
    strict_html: bool = True  # reject a raw "&" in HTML (Telegram keeps it; its documentation forbids it)
    callback_query_timeout_s: float = 15.0  # answers after this get "query is too old..."
    max_upload_bytes: int = 50 * MIB
    max_download_bytes: int = 20 * MIB
    webhook_retry_base_s: float = 0.05  # first pause after a failed delivery; doubles up to the max
    webhook_retry_max_s: float = 1.0
    webhook_timeout_s: float = 10.0
    set_webhook_interval_s: float = 1.0  # setWebhook with a URL more often than this: 429 retry after 1


class EmulatorState:
    def __init__(
        self,
        bot: UserInfo,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.wall_clock = wall_clock
        self.users: dict[int, UserInfo] = {}
        self.chats: dict[int, ChatInfo] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.updates = UpdateQueue()
        self.events: list[ChatEvent] = []
        self._seq = 0
        self._file_count = 0
        self._callback_count = 0
        self._changed = asyncio.Event()

    # --- change notification ---------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.wall_clock())

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def last_seq(self) -> int:
        return self._seq

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, check: Callable[[], T | None], timeout_s: float) -> T:
        """The first non-None ``check()``, re-evaluated after every change; TimeoutError after ``timeout_s``."""
        deadline = self.clock() + timeout_s
        while True:
            changed = self._changed
            result = check()
            if result is not None:
                return result
            remaining_s = deadline - self.clock()
            if remaining_s <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining_s)

    def record_event(
        self,
        kind: Literal["message", "edit", "action", "callback_answer", "delete"],
        chat: ChatInfo,
        message: ChatMessage | None = None,
        data: JSONDict | None = None,
    ) -> ChatEvent:
        seq = self.next_seq()
        if message is not None:
            message.seq = seq
            data = message.to_dict()
        event = ChatEvent(seq, chat.id, kind, message.message_id if message else None, data or {})
        self.events.append(event)
        self.notify()
        return event

    # --- users and chats ---------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> UserInfo:
        user = self.users.get(user_id)
        if user is None:
            user = UserInfo(user_id, first_name or f"User{user_id}", last_name, username, language_code)
            self.users[user_id] = user
            self.chats[user_id] = ChatInfo(user_id, "private", user=user)
        else:
            user.first_name = first_name or user.first_name
            user.last_name = last_name or user.last_name
            user.username = username or user.username
        return user

    def add_group(self, chat_id: int, title: str, *, supergroup: bool = False) -> ChatInfo:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = ChatInfo(chat_id, "supergroup" if supergroup else "group", title=title, started=True)
            self.chats[chat_id] = chat
        return chat

    def find_chat(self, raw: str) -> ChatInfo:
        """The ``chat_id`` argument: an integer id, or an @username (which resolves only for groups here)."""
        raw = raw.strip()
        if not raw:
            raise ApiError.bad_request(CHAT_ID_EMPTY)
        try:
            chat = self.chats.get(int(raw))
        except ValueError:
            chat = None
        if chat is None:
            raise ApiError.bad_request(CHAT_NOT_FOUND)
        return chat

    @staticmethod
    def check_can_send(chat: ChatInfo) -> None:
        if chat.type != "private":
            return
        if chat.blocked:
            raise ApiError.forbidden(BOT_BLOCKED)
        if not chat.started:
            raise ApiError.forbidden(CANT_INITIATE)

    # --- messages ----------------------------------------------------------------------------------------------

    def add_message(
        self,
        chat: ChatInfo,
        sender: UserInfo,
        *,
        from_bot: bool,
        text: str | None = None,
        entities: list[JSONDict] | None = None,
        caption: str | None = None,
        caption_entities: list[JSONDict] | None = None,
        media_kind: str | None = None,
        media: object | None = None,
        reply_markup: JSONDict | None = None,
        other_markup: JSONDict | None = None,
        reply_to: ChatMessage | None = None,
    ) -> ChatMessage:
        message = ChatMessage(
            message_id=chat.next_message_id,
            chat=chat,
            sender=sender,
            from_bot=from_bot,
            date=self.now(),
            text=text,
            entities=list(entities or []),
            caption=caption or None,
            caption_entities=list(caption_entities or []),
            media_kind=media_kind,
            media=media,
            reply_markup=reply_markup,
            other_markup=other_markup,
            reply_to=reply_to,
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        self.record_event("message", chat, message)
        return message

    def edit_message(
        self,
        message: ChatMessage,
        *,
        text: str | None,
        entities: list[JSONDict],
        caption: str | None,
        caption_entities: list[JSONDict],
        reply_markup: JSONDict | None,
    ) -> ChatMessage:
        message.history.append(message.version())
        message.text, message.entities = text, entities
        message.caption, message.caption_entities = caption, caption_entities
        message.reply_markup = reply_markup
        message.edit_date = max(self.now(), message.date)
        self.record_event("edit", message.chat, message)
        return message

    def delete_message(self, message: ChatMessage) -> None:
        """Gone from the chat, as on Telegram; the deletion is an event of its own."""
        del message.chat.messages[message.message_id]
        self.record_event("delete", message.chat, data={"message_id": message.message_id})

    def reply_target(self, chat: ChatInfo, params: Params) -> ChatMessage | None:
        """The message ``reply_parameters`` (or the older ``reply_to_message_id``) points at."""
        allow_without = params.flag("allow_sending_without_reply")
        target_chat = chat
        if params.has("reply_parameters"):
            raw = params.decoded("reply_parameters", "can't parse reply parameters JSON object")
            if raw is None or raw == {}:
                return None
            if not isinstance(raw, dict):
                raise ApiError.bad_request("object expected as reply parameters")
            message_id = raw.get("message_id")
            if not isinstance(message_id, int):
                raise ApiError.bad_request('can\'t find field "message_id"')
            allow_without = bool(raw.get("allow_sending_without_reply"))
            if raw.get("chat_id") not in (None, "", chat.id, str(chat.id)):
                target_chat = self.find_chat(str(raw["chat_id"]))
        else:
            message_id = params.integer("reply_to_message_id")
            if message_id <= 0:
                return None
        target = target_chat.messages.get(message_id)
        if target is None:
            if allow_without:
                return None
            raise ApiError.bad_request(REPLIED_NOT_FOUND)
        return target

    # --- files and callback queries ----------------------------------------------------------------------------

    def store_file(
        self,
        kind: str,
        *,
        data: bytes | None,
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        self._file_count += 1
        number = self._file_count
        prefix, folder, extension = _FILE_KINDS.get(kind, _FILE_KINDS["document"])
        digest = hashlib.sha256(f"{self.bot.id}:{number}".encode()).hexdigest()
        if not extension and file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1][:10]
        stored = StoredFile(
            file_id=f"{prefix}AgADAQAD{number:06d}{digest[:24]}",
            file_unique_id=f"AgAD{number:06d}{digest[24:30]}",
            size=len(data) if size is None and data is not None else int(size or 0),
            path=f"{folder}/file_{number}{extension}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.path] = stored
        return stored

    def new_callback_query_id(self) -> str:
        self._callback_count += 1
        return str(self.bot.id * 1_000_000 + self._callback_count)
