"""Where a script enters: a text message or a text document. Everything else gets a friendly "send text"."""

from __future__ import annotations

import logging
from pathlib import PurePath

from telegram import Document, Message, Update
from telegram.error import TelegramError

from bot.context import BotContext
from bot.handlers.feedback import take_comment
from bot.i18n import N_, Texts, texts_of
from bot.render import human_size
from bot.texts import SEND_TEXT, refusal_text, rejection_text
from core.errors import QuotaExceededError, ScriptRejectedError
from core.scripts import decode_script
from core.types import Author, ScriptSubmission

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".fountain", ".text"}
NOT_A_SCRIPT = {
    "photo": N_("That's a photo."),
    "sticker": N_("Nice sticker!"),
    "voice": N_("I can't listen to voice messages yet."),
    "video": N_("I can't watch videos."),
    "video_note": N_("I can't watch videos."),
    "audio": N_("I can't listen to audio."),
    "animation": N_("That's an animation."),
    "location": N_("That's a location."),
    "contact": N_("That's a contact."),
    "poll": N_("That's a poll."),
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
    t = await texts_of(update, context)
    problem = document_problem(document, context.services.telegram.max_document_bytes, t=t)
    if problem:
        await message.reply_text(problem)
        return
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        logger.warning("could not download document from user %s: %s", author_of(update).user_id, exc)
        await message.reply_text(t("I couldn't download that file from Telegram. Please send it again."))
        return
    if len(data) > context.services.telegram.max_document_bytes:  # the declared size may lie
        await message.reply_text(too_big(len(data), context.services.telegram.max_document_bytes, t=t))
        return
    try:
        text = decode_script(data)
    except ScriptRejectedError as exc:
        await message.reply_text(rejection_text(exc, t=t))
        return
    await submit(update, context, text, source="document", file_name=document.file_name, t=t)


async def on_other(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None:
        return
    t = await texts_of(update, context)
    kind = next((attribute for attribute in NOT_A_SCRIPT if getattr(message, attribute, None)), None)
    await message.reply_text((t(NOT_A_SCRIPT[kind]) + " " if kind else "") + t(SEND_TEXT))


async def on_edited(update: Update, context: BotContext) -> None:
    message = update.edited_message
    if message is not None and message.text and not message.text.startswith("/"):
        t = await texts_of(update, context)
        await message.reply_text(
            t("Edits don't change a job that's already made. Send the new version as a new message.")
        )


def document_problem(document: Document, max_bytes: int, *, t: Texts) -> str | None:
    """Why a document cannot be a script, from what Telegram says about it (None: try to read it)."""
    suffix = PurePath(document.file_name or "").suffix.lower()
    mime = (document.mime_type or "").lower()
    if suffix not in TEXT_SUFFIXES and not mime.startswith("text/"):
        if document.file_name:
            problem = t("{name} doesn't look like a text file.", name=document.file_name)
        else:
            problem = t("That file doesn't look like a text file.")
        return problem + " " + t(SEND_TEXT)
    if document.file_size is not None and document.file_size > max_bytes:
        return too_big(document.file_size, max_bytes, t=t)
    if document.file_size == 0:
        return t("That file is empty.") + " " + t(SEND_TEXT)
    return None


def too_big(size: int, max_bytes: int, *, t: Texts) -> str:
    return t(
        "That file is {size}; the limit is {limit}. Please send a shorter script.",
        size=human_size(size, t=t),
        limit=human_size(max_bytes, t=t),
    )


async def submit(
    update: Update,
    context: BotContext,
    text: str,
    *,
    source: str,
    file_name: str | None = None,
    t: Texts | None = None,
) -> None:
    message: Message | None = update.effective_message
    assert message is not None
    services = context.services
    t = t or await texts_of(update, context)
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
                language=t.locale,  # its ack, status and result are said in it, whenever they are sent
            ),
            take_ack=True,
        )
    except (ScriptRejectedError, QuotaExceededError) as exc:
        await message.reply_text(refusal_text(exc, t=t))
        return
    # The ack waits in the outbox (so it survives a crash); deliver it now rather than at the next poll.
    await services.delivery.deliver_ack(submitted)
