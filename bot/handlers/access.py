"""The allowlist, checked before every other handler: messages, commands and button presses alike."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext

logger = logging.getLogger(__name__)

REFUSAL = "Sorry, this bot is private. Ask its owner to add your Telegram id ({user_id}) to the allowed list."


async def gate(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:  # channel posts and the like: nothing for us to do
        raise ApplicationHandlerStop
    if user.is_bot:
        raise ApplicationHandlerStop
    if context.services.access.is_allowed(user.id):
        return
    logger.info("refused user %s (not in ALLOWED_USER_IDS)", user.id)
    if update.callback_query is not None:
        await update.callback_query.answer(REFUSAL.format(user_id=user.id)[:200], show_alert=True)
    elif update.message is not None:
        await update.message.reply_text(REFUSAL.format(user_id=user.id))
    raise ApplicationHandlerStop
