"""Bot API failures, worded as the real server words them.

    ApiError        one failed call: HTTP status, Telegram's description, optional retry_after
      .bad_request  400 "Bad Request: ..."
      .forbidden    403 "Forbidden: ..."
      .too_many     429 "Too Many Requests: retry after N" with parameters.retry_after

The texts below were taken from tdlib/telegram-bot-api (Client.cpp) and tdlib (MessageEntity.cpp, BotCommand.cpp);
the few marked "emulator" are ours, for rules the real server leaves unchecked.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

JSONDict = dict[str, object]

CHAT_NOT_FOUND = "chat not found"
CHAT_ID_EMPTY = "chat_id is empty"
MESSAGE_TEXT_EMPTY = "message text is empty"
MESSAGE_MUST_BE_NON_EMPTY = "message must be non-empty"
MESSAGE_TOO_LONG = "message is too long"
CAPTION_TOO_LONG = "message caption is too long"
BUTTON_DATA_INVALID = "BUTTON_DATA_INVALID"
BUTTON_TEXT_INVALID = "BUTTON_TEXT_INVALID"
BUTTON_URL_INVALID = "BUTTON_URL_INVALID"
MESSAGE_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)
MESSAGE_TO_EDIT_NOT_FOUND = "message to edit not found"
MESSAGE_CANT_BE_EDITED = "message can't be edited"
NO_TEXT_TO_EDIT = "there is no text in the message to edit"
NO_CAPTION_TO_EDIT = "there is no caption in the message to edit"
MESSAGE_TO_DELETE_NOT_FOUND = "message to delete not found"
MESSAGE_CANT_BE_DELETED = "message can't be deleted"
REPLIED_NOT_FOUND = "message to be replied not found"
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
BOT_BLOCKED = "bot was blocked by the user"
CANT_INITIATE = "bot can't initiate conversation with a user"
FILE_TOO_BIG = "file is too big"
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
SET_WEBHOOK_CONFLICT = "Conflict: terminated by setWebhook request"


class ApiError(Exception):
    """A Bot API call that fails; ``to_json`` is the body the real server sends."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    @classmethod
    def bad_request(cls, text: str) -> ApiError:
        return cls(400, f"Bad Request: {text}")

    @classmethod
    def forbidden(cls, text: str) -> ApiError:
        return cls(403, f"Forbidden: {text}")

    @classmethod
    def too_many(cls, retry_after: int) -> ApiError:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def conflict(cls, description: str) -> ApiError:
        return cls(409, description)

    @classmethod
    def parse_entities(cls, reason: str) -> ApiError:
        return cls.bad_request(f"can't parse entities: {reason}")

    def to_json(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body
