"""Ratings: every button press answered; low ratings ask what should change, then improve."""

from __future__ import annotations

import contextlib
import logging

from telegram import CallbackQuery, ForceReply, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.context import BotContext
from bot.handlers.language import on_language_press
from bot.i18n import N_, Texts, texts_of
from bot.keyboards import LanguageCallback, RateCallback, SkipCallback, build_rating_keyboard, parse_callback
from bot.render import render_prompt
from bot.texts import refusal_text
from core.errors import JobNotFoundError, QuotaExceededError, ScriptRejectedError
from core.feedback import LOW_RATING, MAX_COMMENT_CHARS, Prompt
from core.types import Submitted

logger = logging.getLogger(__name__)

STALE = N_("That button has expired. Send the script again for a fresh storyboard.")
NOT_YOURS = N_("That storyboard isn't yours to rate.")


async def on_callback(update: Update, context: BotContext) -> None:
    """A press. Updates of one chat are handled one at a time (bot.updates), so a second tap waits for the first
    to finish (its prompt recorded, its keyboard drawn) instead of racing it."""
    query = update.callback_query
    assert query is not None
    await _on_press(update, query, context)


class _Answer:
    """Answers a press once and remembers it did, so a failure after the toast cannot answer it twice."""

    def __init__(self, query: CallbackQuery, t: Texts) -> None:
        self.query = query
        self.t = t  # the press's user's
        self.done = False

    async def __call__(self, text: str) -> None:
        await self.query.answer(text)
        self.done = True


async def _on_press(update: Update, query: CallbackQuery, context: BotContext) -> None:
    answer = _Answer(query, await texts_of(update, context))
    t = answer.t
    try:
        parsed = parse_callback(query.data)
        if isinstance(parsed, RateCallback):
            await _rate(query, answer, context, parsed)
        elif isinstance(parsed, SkipCallback):
            await _skip(update, query, answer, context, parsed)
        elif isinstance(parsed, LanguageCallback):
            await on_language_press(update, query, context, parsed, answer=answer)
        else:
            await answer(t(STALE))
    finally:
        if not answer.done:  # never leave a button spinning, whatever went wrong
            with contextlib.suppress(TelegramError):
                await answer(t("Sorry, something went wrong. Please try again."))


async def _rate(query: CallbackQuery, answer: _Answer, context: BotContext, pressed: RateCallback) -> None:
    services, t = context.services, answer.t
    try:
        rated = await services.feedback.rate(
            user_id=query.from_user.id, version_id=pressed.version_id, rating=pressed.rating
        )
    except JobNotFoundError:
        await answer(t(NOT_YOURS))
        return
    if rated.previous is None:
        toast = t("Thanks! You rated it {rating} ⭐.", rating=pressed.rating)
    elif rated.previous == pressed.rating:
        toast = t("You rated it {rating} ⭐ already.", rating=pressed.rating)
    else:
        toast = t("Changed your rating from {previous} to {rating} ⭐.", previous=rated.previous, rating=pressed.rating)
    if rated.wants_comment:
        toast += " " + (
            t("What should change?") if rated.open_prompt is None else t("Reply to my question above, or Skip.")
        )
    await answer(toast)
    message = query.message if isinstance(query.message, Message) else None
    skip_id = rated.feedback.id if rated.wants_comment else None
    if rated.wants_comment and rated.open_prompt is None and message is not None:
        prompt = await message.reply_text(
            render_prompt(t=t),
            parse_mode=ParseMode.HTML,
            reply_markup=ForceReply(input_field_placeholder=t("What should change?")),
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )
        await services.feedback.attach_prompt(rated.feedback.id, chat_id=prompt.chat_id, message_id=prompt.message_id)
    if message is not None and rated.previous != pressed.rating:
        # Same rating again: the press that set it has drawn (or is drawing) this keyboard already.
        await _show_keyboard(message, rated.version.id, chosen=pressed.rating, skip_feedback_id=skip_id, t=t)


async def _skip(
    update: Update, query: CallbackQuery, answer: _Answer, context: BotContext, pressed: SkipCallback
) -> None:
    t = answer.t
    prompt = await context.services.feedback.latest_prompt(user_id=query.from_user.id, feedback_id=pressed.feedback_id)
    if prompt is None:
        await answer(t(NOT_YOURS))
        return
    if prompt.feedback.rating > LOW_RATING:
        await answer(t("Nothing to skip: rate it 1 or 2 to ask for an improvement."))
        return
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat_id if message is not None else query.from_user.id
    submitted = await _improve(update, context, prompt, comment=None, chat_id=chat_id, reply_to=None, t=t)
    if isinstance(submitted, str):
        await answer(submitted)
        return
    await answer(
        t("Improving it now.") if submitted.created else t("Already on it: job {job_id}.", job_id=submitted.job.id)
    )
    if message is not None:
        await _show_keyboard(
            message, prompt.feedback.version_id, chosen=prompt.feedback.rating, skip_feedback_id=None, t=t
        )


async def take_comment(update: Update, context: BotContext) -> bool:
    """A note for a "what should change?" question: a reply to it, or a one-line message sent soon after it
    while it is unanswered (people often type instead of replying). False when the text is no such note."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.text is None:
        return False
    feedback = context.services.feedback
    # A press before this message has been handled whole (one chat's updates go one at a time), so the
    # question it asked is on record.
    if message.reply_to_message is not None:
        prompt = await feedback.find_prompt(
            user_id=user.id, chat_id=message.chat_id, message_id=message.reply_to_message.message_id
        )
    elif "\n" not in message.text.strip() and len(message.text) <= MAX_COMMENT_CHARS:
        prompt = await feedback.waiting_prompt(user_id=user.id, chat_id=message.chat_id)
    else:
        prompt = None
    if prompt is None:
        return False
    t = await texts_of(update, context)
    if prompt.answered_by is not None:
        await message.reply_text(
            t(
                "I already have a note for that one (job <code>{job_id}</code>). "
                "Rate the new version to ask for another change.",
                job_id=prompt.answered_by.id,
            ),
            parse_mode=ParseMode.HTML,
        )
        return True
    submitted = await _improve(
        update, context, prompt, comment=message.text, chat_id=message.chat_id, reply_to=message.message_id, t=t
    )
    if isinstance(submitted, str):
        await message.reply_text(submitted)
    return True


async def _improve(
    update: Update,
    context: BotContext,
    prompt: Prompt,
    *,
    comment: str | None,
    chat_id: int,
    reply_to: int | None,
    t: Texts,
) -> Submitted | str:
    """Queue the improvement and deliver its ack; a message for the user instead when it cannot be queued."""
    services = context.services
    try:
        submitted = await services.feedback.improve(
            prompt,
            comment=comment,
            chat_id=chat_id,
            reply_to=reply_to,
            update_ids=services.updates.update_ids_of(update),
            language=t.locale,
        )
    except (ScriptRejectedError, QuotaExceededError) as exc:
        return refusal_text(exc, t=t)
    except JobNotFoundError:
        return t(STALE)
    await services.delivery.deliver_ack(submitted)
    return submitted


async def _show_keyboard(
    message: Message, version_id: int, *, chosen: int, skip_feedback_id: int | None, t: Texts
) -> None:
    keyboard = build_rating_keyboard(version_id, chosen=chosen, skip_feedback_id=skip_feedback_id, t=t)
    if message.reply_markup == keyboard:
        return  # Telegram refuses an edit that changes nothing
    try:
        await message.edit_reply_markup(reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
