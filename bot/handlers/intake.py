"""Where a script enters: a text message or a text document. Everything else gets a friendly "send text"."""

from __future__ import annotations

import logging
from pathlib import PurePath

from telegram import Document, Message, Update
from telegram.error import TelegramError

from bot.context import BotContext
from bot.handlers.feedback import take_comment
from bot.render import human_size
from bot.texts import SEND_TEXT, refusal_text, rejection_text
from core.errors import QuotaExceededError, ScriptRejectedError
from core.scripts import decode_script
from core.types import Author, ScriptSubmission

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".fountain", ".text"}
NOT_A_SCRIPT = {
    "photo": "That's a photo. ",
    "sticker": "Nice sticker! ",
    "voice": "I can't listen to voice messages yet. ",
    "video": "I can't watch videos. ",
    "video_note": "I can't watch videos. ",
    "audio": "I can't listen to audio. ",
    "animation": "That's an animation. ",
    "location": "That's a location. ",
    "contact": "That's a contact. ",
    "poll": "That's a poll. ",
}


def author_of(update: Update) -> Author:
    user = update.effective_user
    assert user is not None  # the intake filters admit messages from users only
    return Author(user_id=user.id, name=user.full_name, username=user.username)


async def on_text(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    if await take_comment(update, context):
        return
    await submit(update, context, message.text, source="text")


async def on_document(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    problem = document_problem(document, context.services.telegram.max_document_bytes)
    if problem:
        await message.reply_text(problem)
        return
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        logger.warning("could not download document from user %s: %s", author_of(update).user_id, exc)
        await message.reply_text("I couldn't download that file from Telegram. Please send it again.")
        return
    if len(data) > context.services.telegram.max_document_bytes:  # the declared size may lie
        await message.reply_text(too_big(len(data), context.services.telegram.max_document_bytes))
        return
    try:
        text = decode_script(data)
    except ScriptRejectedError as exc:
        await message.reply_text(rejection_text(exc))
        return
    await submit(update, context, text, source="document", file_name=document.file_name)


async def on_other(update: Update, _context: BotContext) -> None:
    message = update.effective_message
    if message is None:
        return
    kind = next((attribute for attribute in NOT_A_SCRIPT if getattr(message, attribute, None)), None)
    await message.reply_text((NOT_A_SCRIPT[kind] if kind else "") + SEND_TEXT)


async def on_edited(update: Update, _context: BotContext) -> None:
    message = update.edited_message
    if message is not None and message.text and not message.text.startswith("/"):
        await message.reply_text("Edits don't change a job that's already made. Send the new version as a new message.")


def document_problem(document: Document, max_bytes: int) -> str | None:
    """Why a document cannot be a script, from what Telegram says about it (None: try to read it)."""
    suffix = PurePath(document.file_name or "").suffix.lower()
    mime = (document.mime_type or "").lower()
    if suffix not in TEXT_SUFFIXES and not mime.startswith("text/"):
        name = document.file_name or "That file"
        return f"{name} doesn't look like a text file. " + SEND_TEXT
    if document.file_size is not None and document.file_size > max_bytes:
        return too_big(document.file_size, max_bytes)
    if document.file_size == 0:
        return "That file is empty. " + SEND_TEXT
    return None


def too_big(size: int, max_bytes: int) -> str:
    return f"That file is {human_size(size)}; the limit is {human_size(max_bytes)}. Please send a shorter script."


async def submit(update: Update, context: BotContext, text: str, *, source: str, file_name: str | None = None) -> None:
    message: Message | None = update.effective_message
    assert message is not None
    services = context.services
    try:
        submitted = await services.intake.submit(
            ScriptSubmission(
                author=author_of(update),
                chat_id=message.chat_id,
                message_id=message.message_id,
                text=text,
                source="document" if source == "document" else "text",
                file_name=file_name,
                update_ids=services.updates.update_ids_of(update),
            ),
            take_ack=True,
        )
    except (ScriptRejectedError, QuotaExceededError) as exc:
        await message.reply_text(refusal_text(exc))
        return
    # The ack waits in the outbox (so it survives a crash); deliver it now rather than at the next poll.
    await services.delivery.deliver_ack(submitted)
