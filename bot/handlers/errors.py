"""The last resort: log with context, tell the user something short, never a traceback."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import SERVICES_KEY, BotContext
from bot.i18n import N_, texts_known
from core.errors import is_transient

logger = logging.getLogger(__name__)

SORRY = N_("Sorry, something went wrong on my side. Please try again in a moment.")


async def on_error(update: object, context: BotContext) -> None:
    user_id = chat_id = None
    if isinstance(update, Update):
        user_id = update.effective_user.id if update.effective_user else None
        chat_id = update.effective_chat.id if update.effective_chat else None
        services = context.application.bot_data.get(SERVICES_KEY)
        transient = context.error is not None and is_transient(context.error)
        if transient and services is not None and services.updates.try_again_later(update):
            # the update is stored: it is handled again in a moment, and the user need not hear of this
            logger.warning("update %s (chat %s) met %r; trying it again", update.update_id, chat_id, context.error)
            raise ApplicationHandlerStop  # no later handler sees it now: the whole update is handled again
    logger.error(
        "error handling update (user %s, chat %s): %r", user_id, chat_id, context.error, exc_info=context.error
    )
    if not isinstance(update, Update):
        return
    sorry = texts_known(update, context)(SORRY)  # no query: the database may be what failed
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(sorry)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(sorry)
    except TelegramError:
        logger.debug("could not tell user %s about the error", user_id)
