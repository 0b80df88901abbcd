"""The user side: people who write to the bot, press its buttons and read their chat.

alice = emu.user(1001, first_name="Alice")        # private chat id == user id
await alice.send_text("Hello")                      # -> the user's ChatMessage; the bot gets an update
pending = await alice.press(msg.message_id, "rate:5")   # the bot gets a callback_query update
answer = await pending.wait(timeout_s=5)            # its answerCallbackQuery arguments
reply = await alice.chat.wait_for(lambda m: "job" in (m.text or ""), timeout_s=5)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator

from bot.emulator.entities import fix_formatted_text
from bot.emulator.errors import ApiError
from bot.emulator.limits import MAX_TEXT_CHARS
from bot.emulator.model import CallbackAnswer, CallbackQueryState, ChatInfo, ChatMessage, JSONDict, UserInfo
from bot.emulator.state import EmulatorState
from core.paste import split

logger = logging.getLogger(__name__)

_JPEG = b"\xff\xd8\xff\xe0" + bytes(1020)


class PendingAnswer:
    """A pressed button: await it (waits up to ``default_timeout_s``) or ``wait`` for the bot's
    answerCallbackQuery arguments."""

    default_timeout_s = 10.0

    def __init__(self, query_id: str, future: asyncio.Future[CallbackAnswer]) -> None:
        self.query_id = query_id
        self.future = future

    def __await__(self) -> Generator[object, None, CallbackAnswer]:
        return self.wait(self.default_timeout_s).__await__()

    async def wait(self, timeout_s: float = 5.0) -> CallbackAnswer:
        """The answer; TimeoutError when the bot has not answered within ``timeout_s``."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), timeout_s)
        except TimeoutError:
            raise TimeoutError(f"callback query {self.query_id} not answered within {timeout_s} s") from None

    @property
    def answer(self) -> CallbackAnswer | None:
        """The answer if the bot has given it already."""
        if self.future.done() and not self.future.cancelled():
            return self.future.result()
        return None


class ChatView:
    """One chat as a participant sees it: every message in order, each with its current state and history."""

    def __init__(self, state: EmulatorState, chat: ChatInfo) -> None:
        self._state = state
        self.info = chat

    @property
    def id(self) -> int:
        return self.info.id

    @property
    def transcript(self) -> list[ChatMessage]:
        return [self.info.messages[key] for key in sorted(self.info.messages)]

    @property
    def bot_messages(self) -> list[ChatMessage]:
        return [message for message in self.transcript if message.from_bot]

    @property
    def actions(self) -> list[str]:
        """The chat actions (typing, upload_document...) the bot has sent, in order."""
        return list(self.info.actions)

    def message(self, message_id: int) -> ChatMessage:
        return self.info.messages[message_id]

    def last_bot_message(self) -> ChatMessage | None:
        messages = self.bot_messages
        return messages[-1] if messages else None

    def mark(self) -> int:
        """A point in time for ``wait_for(after=...)``: only changes made after it count."""
        return self._state.last_seq

    async def wait_for(
        self,
        predicate: Callable[[ChatMessage], bool] | None = None,
        *,
        timeout_s: float = 5.0,
        after: int | None = None,
    ) -> ChatMessage:
        """The first bot message (sent or edited, after ``after`` when given) for which ``predicate`` holds."""

        def check() -> ChatMessage | None:
            for message in self.bot_messages:
                if after is not None and message.seq <= after:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        try:
            return await self._state.wait_until(check, timeout_s)
        except TimeoutError:
            lines = "\n".join(f"  {message}" for message in self.transcript) or "  (empty)"
            message = f"no matching bot message in chat {self.id} within {timeout_s} s; transcript:\n{lines}"
            raise TimeoutError(message) from None

    def to_dicts(self) -> list[JSONDict]:
        return [message.to_dict() for message in self.transcript]


class EmulatedUser:
    def __init__(self, state: EmulatorState, user: UserInfo) -> None:
        self._state = state
        self.info = user
        self.chat = ChatView(state, state.chats[user.id])

    @property
    def id(self) -> int:
        return self.info.id

    def _chat(self, chat_id: int | None) -> ChatInfo:
        chat = self._state.chats.get(self.id if chat_id is None else chat_id)
        if chat is None:
            raise ValueError(f"no chat {chat_id}")
        return chat

    def _post(self, chat: ChatInfo, **fields: object) -> ChatMessage:
        if chat.type == "private":
            chat.started = True
        message = self._state.add_message(chat, self.info, from_bot=False, **fields)  # type: ignore[arg-type]
        self._state.updates.push({"message": message.to_api()})
        return message

    async def send_text(self, text: str, *, chat_id: int | None = None) -> ChatMessage:
        """A text message; commands, mentions, hashtags and URLs get entities as Telegram detects them."""
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError("Telegram clients split texts over 4096 characters: use send_long_text")
        try:
            plain, entities = fix_formatted_text(text, [], allow_empty=False)
        except ApiError as exc:
            raise ValueError("a user can't send an empty message") from exc
        return self._post(self._chat(chat_id), text=plain, entities=[entity.to_api() for entity in entities])

    async def edit_text(self, message: ChatMessage, text: str) -> None:
        """Edit one of the user's own messages: the bot gets an ``edited_message`` update."""
        plain, entities = fix_formatted_text(text, [], allow_empty=False)
        body = message.to_api() | {"text": plain, "edit_date": int(self._state.wall_clock())}
        if entities:
            body["entities"] = [entity.to_api() for entity in entities]
        self._state.updates.push({"edited_message": body})

    async def send_long_text(self, text: str, *, chat_id: int | None = None) -> list[ChatMessage]:
        """What a client does with a long paste: consecutive messages of at most 4096 characters, cut where
        Telegram's apps cut (core.paste.split: at a line break, else a space, in the second half)."""
        return [await self.send_text(part, chat_id=chat_id) for part in split(text, MAX_TEXT_CHARS)]

    async def send_command(self, command: str, *, chat_id: int | None = None) -> ChatMessage:
        if not command.startswith("/"):
            raise ValueError("a command starts with '/'")
        return await self.send_text(command, chat_id=chat_id)

    async def reply(self, to_message_id: int, text: str, *, chat_id: int | None = None) -> ChatMessage:
        """A text message replying to ``to_message_id`` (how a user answers a ForceReply prompt)."""
        chat = self._chat(chat_id)
        target = chat.messages.get(to_message_id)
        if target is None:
            raise ValueError(f"no message {to_message_id} in chat {chat.id}")
        plain, entities = fix_formatted_text(text, [], allow_empty=False)
        return self._post(chat, text=plain, entities=[entity.to_api() for entity in entities], reply_to=target)

    async def send_document(
        self,
        data: bytes = b"",
        file_name: str = "document.txt",
        mime_type: str = "text/plain",
        *,
        caption: str | None = None,
        declared_size: int | None = None,
        chat_id: int | None = None,
    ) -> ChatMessage:
        """A document; ``declared_size`` fakes a big file without its bytes (downloads then read zeros)."""
        stored = self._state.store_file(
            "document",
            data=None if declared_size is not None else data,
            size=declared_size,
            file_name=file_name,
            mime_type=mime_type,
        )
        return self._post(self._chat(chat_id), media_kind="document", media=stored.document_api(), caption=caption)

    async def send_photo(
        self, *, caption: str | None = None, width: int = 1280, height: int = 720, chat_id: int | None = None
    ) -> ChatMessage:
        stored = self._state.store_file("photo", data=_JPEG, mime_type="image/jpeg")
        sizes = [{**stored.to_api(), "width": width, "height": height}]
        return self._post(self._chat(chat_id), media_kind="photo", media=sizes, caption=caption)

    async def send_sticker(self, emoji: str = "👍", *, chat_id: int | None = None) -> ChatMessage:
        stored = self._state.store_file("sticker", data=b"RIFF" + bytes(60), mime_type="image/webp")
        sticker = {
            **stored.to_api(),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._post(self._chat(chat_id), media_kind="sticker", media=sticker)

    async def send_voice(self, duration_s: int = 3, *, chat_id: int | None = None) -> ChatMessage:
        stored = self._state.store_file("voice", data=b"OggS" + bytes(400), mime_type="audio/ogg")
        voice = {**stored.to_api(), "duration": duration_s, "mime_type": "audio/ogg"}
        return self._post(self._chat(chat_id), media_kind="voice", media=voice)

    async def press(
        self, message_id: int, callback_data: str, *, chat_id: int | None = None, check: bool = True
    ) -> PendingAnswer:
        """Tap an inline button; the result resolves with the bot's answerCallbackQuery arguments.
        ``check=False`` allows data the message has no button for (a forged or stale press)."""
        chat = self._chat(chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat.id}")
        if check and callback_data not in message.callback_data:
            raise ValueError(f"message {message_id} has no button with callback_data {callback_data!r}")
        query_id = self._state.new_callback_query_id()
        future: asyncio.Future[CallbackAnswer] = asyncio.get_running_loop().create_future()
        self._state.callback_queries[query_id] = CallbackQueryState(
            query_id, self.id, chat.id, message_id, callback_data, self._state.clock(), future
        )
        query: JSONDict = {
            "id": query_id,
            "from": self.info.to_api(),
            "message": message.to_api(),
            "chat_instance": str(abs(chat.id) * 7919 + self._state.bot.id),
            "data": callback_data,
        }
        self._state.updates.push({"callback_query": query})
        return PendingAnswer(query_id, future)

    def _member_update(self, old_status: str, new_status: str) -> None:
        bot = self._state.bot.to_api()
        new_member: JSONDict = {"user": bot, "status": new_status}
        if new_status == "kicked":
            new_member["until_date"] = 0
        update: JSONDict = {
            "chat": self.chat.info.to_api(),
            "from": self.info.to_api(),
            "date": self._state.now(),
            "old_chat_member": {"user": bot, "status": old_status},
            "new_chat_member": new_member,
        }
        if old_status == "kicked":
            update["old_chat_member"] = {"user": bot, "status": "kicked", "until_date": 0}
        self._state.updates.push({"my_chat_member": update})

    def block_bot(self) -> None:
        """From now on the bot's sends fail with 403 "Forbidden: bot was blocked by the user"."""
        if not self.chat.info.blocked:
            self.chat.info.blocked = True
            self._member_update("member", "kicked")

    def unblock_bot(self) -> None:
        if self.chat.info.blocked:
            self.chat.info.blocked = False
            self._member_update("kicked", "member")
