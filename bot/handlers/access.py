"""The gate before every other handler: messages, commands and button presses alike.

1. Updates from groups and channels, and from bots, are dropped without a word: the bot talks in private chats.
2. The flood guard counts every update of a user, allowed or not, so a flood costs one check an update.
3. The allowlist: a user not on it is told so in a message at most once a flood window (one log line with
   it), however much they send; a press is always answered, with the refusal as its toast.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from bot.i18n import N_, texts_for, texts_of
from bot.throttle import Verdict

logger = logging.getLogger(__name__)

REFUSAL = N_("Sorry, this bot is private. Ask its owner to add your Telegram id ({user_id}) to the allowed list.")


async def gate(update: Update, context: BotContext) -> None:
    user = update.effective_user
    chat = update.effective_chat
    if user is None or user.is_bot:  # channel posts and the like: nothing for us to do
        raise ApplicationHandlerStop
    if chat is not None and chat.type != ChatType.PRIVATE:  # groups, channels: the bot has nothing to say there
        if update.callback_query is not None:
            await update.callback_query.answer()
        raise ApplicationHandlerStop
    throttle = context.services.throttle
    sent_at = update.message.date.timestamp() if update.message is not None else None
    # An update tried again after a transient failure was counted the first time.
    first_try = context.services.updates.first_try(update)
    verdict = throttle.check(user.id, at=sent_at) if first_try else Verdict.ALLOW
    if not context.services.access.is_allowed(user.id):
        await _refuse(update, throttle.first_refusal(user.id, at=sent_at), user.id, user.language_code)
        raise ApplicationHandlerStop
    await _throttle(update, context, user.id, verdict)


async def _refuse(update: Update, first: bool, user_id: int, language_code: str | None) -> None:
    # Telegram's language only: a stranger cannot have chosen one, and costs no query.
    refusal = texts_for(language_code)(REFUSAL, user_id=user_id)
    if first:
        logger.info("refused user %s (not in ALLOWED_USER_IDS); more of theirs go unanswered for a while", user_id)
    if update.callback_query is not None:  # a toast, which costs no message
        await update.callback_query.answer(refusal[:200], show_alert=True)
    elif update.message is not None and first:
        await update.message.reply_text(refusal)


async def _throttle(update: Update, context: BotContext, user_id: int, verdict: Verdict) -> None:
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.NOTIFY:
        logger.warning("user %s is flooding; dropping their updates for a while", user_id)
        window_s = context.services.telegram.flood_window_s
        t = await texts_of(update, context)
        notice = t(
            "Whoa, that's a lot at once. I'll ignore your messages for about {seconds} s.", seconds=round(window_s)
        )
        if update.callback_query is not None:
            await update.callback_query.answer(notice)
        elif update.message is not None:
            await update.message.reply_text(notice)
    elif update.callback_query is not None:
        await update.callback_query.answer()  # a press is always answered, even when dropped
    raise ApplicationHandlerStop
