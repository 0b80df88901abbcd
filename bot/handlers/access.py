"""The allowlist, checked before every other handler: messages, commands and button presses alike."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from bot.throttle import Verdict

logger = logging.getLogger(__name__)

REFUSAL = "Sorry, this bot is private. Ask its owner to add your Telegram id ({user_id}) to the allowed list."


async def gate(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:  # channel posts and the like: nothing for us to do
        raise ApplicationHandlerStop
    if user.is_bot:
        raise ApplicationHandlerStop
    if context.services.access.is_allowed(user.id):
        await _throttle(update, context, user.id)
        return
    logger.info("refused user %s (not in ALLOWED_USER_IDS)", user.id)
    if update.callback_query is not None:
        await update.callback_query.answer(REFUSAL.format(user_id=user.id)[:200], show_alert=True)
    elif update.message is not None:
        await update.message.reply_text(REFUSAL.format(user_id=user.id))
    raise ApplicationHandlerStop


async def _throttle(update: Update, context: BotContext, user_id: int) -> None:
    verdict = context.services.throttle.check(user_id)
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.NOTIFY:
        logger.warning("user %s is flooding; dropping their updates for a while", user_id)
        window_s = context.services.telegram.flood_window_s
        notice = f"Whoa, that's a lot at once. I'll ignore your messages for about {window_s:.0f} s."
        if update.callback_query is not None:
            await update.callback_query.answer(notice)
        elif update.message is not None:
            await update.message.reply_text(notice)
    elif update.callback_query is not None:
        await update.callback_query.answer()  # a press is always answered, even when dropped
    raise ApplicationHandlerStop
