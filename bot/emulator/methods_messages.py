"""The Bot API methods that put things in chats: sendMessage, editMessageText, editMessageReplyMarkup,
editMessageCaption, deleteMessage, sendDocument, sendVideo, sendChatAction, answerCallbackQuery, getFile.

Checks run in the real server's order (text and markup first, then the chat, the replied message, the user's
block, flood control) and nothing changes until all of them passed.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable

from bot.emulator.errors import (
    FILE_TOO_BIG,
    MESSAGE_CANT_BE_DELETED,
    MESSAGE_CANT_BE_EDITED,
    MESSAGE_NOT_MODIFIED,
    MESSAGE_TO_DELETE_NOT_FOUND,
    MESSAGE_TO_EDIT_NOT_FOUND,
    NO_CAPTION_TO_EDIT,
    NO_TEXT_TO_EDIT,
    QUERY_INVALID,
    ApiError,
)
from bot.emulator.flood import FloodControl
from bot.emulator.limits import (
    FormattedText,
    ReplyMarkup,
    callback_answer_text,
    caption_text,
    message_text,
    reply_markup_arg,
)
from bot.emulator.model import CallbackAnswer, ChatInfo, ChatMessage, JSONDict, StoredFile
from bot.emulator.params import Params, UploadedFile
from bot.emulator.state import EmulatorOptions, EmulatorState

logger = logging.getLogger(__name__)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "record_audio",
        "upload_audio",
        "upload_document",
        "choose_sticker",
        "find_location",
        "pick_up_location",
        "record_video_note",
        "upload_video_note",
        "cancel",
    }
)
_ENTITIES_ERROR = "can't parse entities JSON object"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # what the Bot API accepts in one upload


class MessageMethods:
    def __init__(self, state: EmulatorState, flood: FloodControl, options: EmulatorOptions) -> None:
        self.state = state
        self.flood = flood
        self.options = options

    def _charge(self, chat: ChatInfo) -> None:
        retry_after = self.flood.check(chat.id, is_group=chat.is_group)
        if retry_after is not None:
            raise ApiError.too_many(retry_after)

    def _entities_json(self, formatted: FormattedText) -> list[JSONDict]:
        """The entities in Bot API form, text mentions of known users carrying the whole user."""
        entities = formatted.entities_json()
        for entity in entities:
            user = entity.get("user")
            if entity["type"] == "text_mention" and isinstance(user, dict):
                known = self.state.users.get(int(str(user.get("id"))))
                entity["user"] = known.to_api() if known is not None else user
        return entities

    def _text(self, params: Params) -> tuple[str, list[JSONDict]]:
        formatted = message_text(
            params.text("text"),
            params.optional("parse_mode"),
            params.decoded("entities", _ENTITIES_ERROR),
            strict_html=self.options.strict_html,
        )
        return formatted.text, self._entities_json(formatted)

    def _caption(self, params: Params) -> tuple[str, list[JSONDict]]:
        formatted = caption_text(
            params.text("caption"),
            params.optional("parse_mode"),
            params.decoded("caption_entities", _ENTITIES_ERROR),
            strict_html=self.options.strict_html,
        )
        return formatted.text, self._entities_json(formatted)

    async def send_message(self, params: Params) -> JSONDict:
        text, entities = self._text(params)
        markup = reply_markup_arg(params.optional("reply_markup"))
        chat = self.state.find_chat(params.text("chat_id"))
        reply_to = self.state.reply_target(chat, params)
        self.state.check_can_send(chat)
        self._charge(chat)
        message = self.state.add_message(
            chat,
            self.state.bot,
            from_bot=True,
            text=text,
            entities=entities,
            reply_markup=markup.inline,
            other_markup=markup.other,
            reply_to=reply_to,
        )
        return message.to_api()

    def _editable(self, params: Params) -> ChatMessage:
        if params.optional("inline_message_id"):
            raise ApiError.bad_request("MESSAGE_ID_INVALID")
        chat = self.state.find_chat(params.text("chat_id"))
        message = chat.messages.get(params.integer("message_id"))
        if message is None:
            raise ApiError.bad_request(MESSAGE_TO_EDIT_NOT_FOUND)
        if not message.from_bot:
            raise ApiError.bad_request(MESSAGE_CANT_BE_EDITED)
        return message

    @staticmethod
    def _inline_only(markup: ReplyMarkup) -> JSONDict | None:
        if markup.other is not None:
            raise ApiError.bad_request("inline keyboard expected")
        return markup.inline

    def _edit(self, message: ChatMessage, reply_markup: JSONDict | None, **changes: object) -> JSONDict:
        """Charge the chat, then change what ``changes`` names (the rest stays) and the keyboard."""
        self._charge(message.chat)
        current: dict[str, object] = {
            "text": message.text,
            "entities": message.entities,
            "caption": message.caption,
            "caption_entities": message.caption_entities,
        }
        self.state.edit_message(message, **(current | changes), reply_markup=reply_markup)  # type: ignore[arg-type]
        return message.to_api()

    async def edit_message_text(self, params: Params) -> JSONDict:
        """Without ``reply_markup`` the inline keyboard goes away, as on Telegram."""
        text, entities = self._text(params)
        new_markup = self._inline_only(reply_markup_arg(params.optional("reply_markup")))
        message = self._editable(params)
        if message.text is None:
            raise ApiError.bad_request(NO_TEXT_TO_EDIT)
        if (text, entities, new_markup) == (message.text, message.entities, message.reply_markup):
            raise ApiError.bad_request(MESSAGE_NOT_MODIFIED)
        return self._edit(message, new_markup, text=text, entities=entities)

    async def edit_message_reply_markup(self, params: Params) -> JSONDict:
        new_markup = self._inline_only(reply_markup_arg(params.optional("reply_markup")))
        message = self._editable(params)
        if new_markup == message.reply_markup:
            raise ApiError.bad_request(MESSAGE_NOT_MODIFIED)
        return self._edit(message, new_markup)

    async def edit_message_caption(self, params: Params) -> JSONDict:
        """Without ``reply_markup`` the inline keyboard goes away, as on Telegram."""
        caption, caption_entities = self._caption(params)
        new_markup = self._inline_only(reply_markup_arg(params.optional("reply_markup")))
        message = self._editable(params)
        if message.media_kind is None:
            raise ApiError.bad_request(NO_CAPTION_TO_EDIT)
        if (caption, caption_entities, new_markup) == (
            message.caption or "",
            message.caption_entities,
            message.reply_markup,
        ):
            raise ApiError.bad_request(MESSAGE_NOT_MODIFIED)
        return self._edit(message, new_markup, caption=caption or None, caption_entities=caption_entities)

    async def delete_message(self, params: Params) -> bool:
        """A bot deletes its own messages, and others' in a private chat; deletion is not flood-limited."""
        chat = self.state.find_chat(params.text("chat_id"))
        message = chat.messages.get(params.integer("message_id"))
        if message is None:
            raise ApiError.bad_request(MESSAGE_TO_DELETE_NOT_FOUND)
        if not message.from_bot and chat.is_group:
            raise ApiError.bad_request(MESSAGE_CANT_BE_DELETED)
        self.state.delete_message(message)
        return True

    def _upload_source(self, params: Params, field: str) -> UploadedFile | StoredFile:
        reference = params.text(field)
        upload = params.file(field)
        if reference.startswith("attach://"):
            upload = params.file(reference.removeprefix("attach://"))
        if upload is not None:
            if not upload.data:
                raise ApiError.bad_request("file must be non-empty")
            if len(upload.data) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            return upload
        if not reference:
            raise ApiError.bad_request(f"there is no {field} in the request")
        if reference.startswith(("http://", "https://")):
            # relaxation: the emulator does not fetch URLs
            raise ApiError.bad_request("failed to get HTTP URL content")
        stored = self.state.files.get(reference)
        if stored is None:
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        return stored

    async def send_video(self, params: Params) -> JSONDict:
        """The Video object carries what the bot declared (duration, width, height): Telegram takes them as given
        for an upload, and a player shows the video at that size and length."""
        thumbnail = params.file(params.text("thumbnail").removeprefix("attach://")) or params.file("thumbnail")

        def video(stored: StoredFile) -> JSONDict:
            media: JSONDict = {
                **stored.document_api(),
                "duration": params.integer("duration"),
                "width": params.integer("width"),
                "height": params.integer("height"),
            }
            if thumbnail is not None and thumbnail.data:
                thumb = self.state.store_file("photo", data=thumbnail.data, file_name=thumbnail.file_name)
                media["thumbnail"] = {**thumb.to_api(), "width": 320, "height": 180}
            return media

        return await self._send_media(params, "video", video, default_mime="video/mp4")

    async def send_document(self, params: Params) -> JSONDict:
        return await self._send_media(params, "document", StoredFile.document_api)

    async def _send_media(
        self,
        params: Params,
        kind: str,
        describe: Callable[[StoredFile], JSONDict],
        *,
        default_mime: str | None = None,
    ) -> JSONDict:
        """sendDocument and sendVideo: the file (an upload or a file_id sent before) with a caption and markup,
        checked in the real server's order; ``describe`` makes the message's Document or Video object."""
        source = self._upload_source(params, kind)
        caption, caption_entities = self._caption(params)
        markup = reply_markup_arg(params.optional("reply_markup"))
        chat = self.state.find_chat(params.text("chat_id"))
        reply_to = self.state.reply_target(chat, params)
        self.state.check_can_send(chat)
        self._charge(chat)
        stored = source if isinstance(source, StoredFile) else self._store(source, kind, default_mime)
        message = self.state.add_message(
            chat,
            self.state.bot,
            from_bot=True,
            caption=caption or None,
            caption_entities=caption_entities,
            media_kind=kind,
            media=describe(stored),
            reply_markup=markup.inline,
            other_markup=markup.other,
            reply_to=reply_to,
        )
        return message.to_api()

    def _store(self, upload: UploadedFile, kind: str, default_mime: str | None) -> StoredFile:
        mime_type = upload.content_type
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = default_mime or mimetypes.guess_type(upload.file_name or "")[0] or mime_type
        return self.state.store_file(kind, data=upload.data, file_name=upload.file_name, mime_type=mime_type)

    async def send_chat_action(self, params: Params) -> bool:
        chat = self.state.find_chat(params.text("chat_id"))
        action = params.text("action").strip().lower()
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        self.state.check_can_send(chat)
        chat.actions.append(action)
        self.state.record_event("action", chat, data={"action": action})
        return True

    async def answer_callback_query(self, params: Params) -> bool:
        text = callback_answer_text(params.optional("text"))
        query = self.state.callback_queries.get(params.text("callback_query_id"))
        too_old = query is not None and (self.state.clock() - query.created > self.options.callback_query_timeout_s)
        if query is None or query.answer is not None or too_old:
            raise ApiError.bad_request(QUERY_INVALID)
        answer = CallbackAnswer(text, params.flag("show_alert"), params.optional("url"), params.integer("cache_time"))
        query.answer = answer
        if not query.future.done():
            query.future.set_result(answer)
        chat = self.state.chats[query.chat_id]
        data: JSONDict = {"callback_query_id": query.id, "data": query.data, **answer.to_dict()}
        self.state.record_event("callback_answer", chat, data=data)
        return True

    async def get_file(self, params: Params) -> JSONDict:
        stored = self.state.files.get(params.text("file_id").strip())
        if stored is None:
            raise ApiError.bad_request("invalid file_id")
        if stored.size > self.options.max_download_bytes:
            raise ApiError.bad_request(FILE_TOO_BIG)
        return {**stored.to_api(), "file_path": stored.path}
