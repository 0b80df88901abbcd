"""/version (an earlier storyboard of a script, sent again as its result was) and /delete (a user's data erased,
after a question with two buttons)."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.context import BotContext
from bot.i18n import Texts, texts_of
from bot.keyboards import build_erase_keyboard, parse_erase
from bot.render import (
    esc,
    render_erase_question,
    render_erased,
    render_not_found,
    render_versions,
    shorten,
)
from bot.sender import send_result, send_result_file
from core.errors import JobNotFoundError
from core.queries import ScriptHistory

logger = logging.getLogger(__name__)

CONFIRM_WITHIN = timedelta(minutes=15)  # a /delete question older than this asks again: its counts are stale
ALREADY_SO = ("message is not modified", "message to edit not found", "message can't be edited")


async def on_version(update: Update, context: BotContext) -> None:
    """``/version <id> <n>``: version n of the script of the user's job <id>; ``/version <id>``: its versions."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    args = context.args or []
    if not args:
        await message.reply_text(
            t(
                "Usage: /version <job id> <number>, say /version {example} 1. Without a number I list the "
                "versions of that job's script; /jobs lists your jobs.",
                example="abc123",
            )
        )
        return
    try:
        history = await context.services.queries.script_history(args[0], user.id, bot_id=context.bot.id)
    except JobNotFoundError:
        await message.reply_text(render_not_found(args[0], t), parse_mode=ParseMode.HTML)
        return
    if len(args) == 1 or not history.versions:
        await message.reply_text(render_versions(history, t), parse_mode=ParseMode.HTML)
        return
    given = args[1]
    if not (given.isascii() and given.isdigit()):
        await message.reply_text(
            t(
                "“{given}” is not a version number. Send /version {job_id} 1, say.",
                given=esc(shorten(given, 20)),
                job_id=history.job.id,
            ),
            parse_mode=ParseMode.HTML,
        )
        return
    version = history.numbered(int(given)) if len(given) <= 9 else None
    if version is None:
        await message.reply_text(_out_of_range(t, history), parse_mode=ParseMode.HTML)
        return
    await _send_version(message, context, t, history, version.version)


def _out_of_range(t: Texts, history: ScriptHistory) -> str:
    first, newest = history.versions[0].version, history.versions[-1].version
    if first == newest:
        return t(
            "This script has only version {number}. /version {job_id} lists it.", number=first, job_id=history.job.id
        )
    return t(
        "This script has versions {first}–{newest}. /version {job_id} lists them.",
        first=first,
        newest=newest,
        job_id=history.job.id,
    )


async def _send_version(message: Message, context: BotContext, t: Texts, history: ScriptHistory, number: int) -> None:
    """What the result sent, sent again the same way: its video (or summary) with the rating buttons, then the
    JSON file."""
    version = history.numbered(number)
    assert version is not None
    made_by, video = await context.services.queries.result_of(version)
    await send_result(context.bot, message.chat_id, made_by, version, video, t)
    await send_result_file(context.bot, message.chat_id, made_by.id, version, t)


# -- /delete ---------------------------------------------------------------------------------------------------


async def on_delete(update: Update, context: BotContext) -> None:
    """Say exactly what would be removed, and ask."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    counts = await context.services.user_data.count(user.id, chat_id=message.chat_id)
    if not counts.anything:
        await message.reply_text(t("Nothing of yours is stored with me: no scripts, jobs, versions or ratings."))
        return
    await message.reply_text(
        render_erase_question(counts, t),
        parse_mode=ParseMode.HTML,
        reply_markup=build_erase_keyboard(user.id, confirm_label=t("🗑 Delete everything"), keep_label=t("Keep")),
    )


async def on_erase_press(update: Update, context: BotContext) -> None:
    """A press of /delete's buttons: every one answered (first, then the message edited), stale, repeated and
    forged ones too."""
    query = update.callback_query
    assert query is not None
    t = await texts_of(update, context)
    answer = _Answer(query)
    try:
        await _on_erase_press(query, answer, context, t)
    finally:
        if not answer.done:  # never leave a button spinning, whatever went wrong
            with contextlib.suppress(TelegramError):
                await answer(t("Sorry, something went wrong. Please try again."))


class _Answer:
    """Answers a press once and remembers it did, so a failure after the toast cannot answer it twice."""

    def __init__(self, query: CallbackQuery) -> None:
        self.query = query
        self.done = False

    async def __call__(self, text: str) -> None:
        await self.query.answer(text)
        self.done = True


async def _on_erase_press(query: CallbackQuery, answer: _Answer, context: BotContext, t: Texts) -> None:
    pressed = parse_erase(query.data)
    message = query.message if isinstance(query.message, Message) else None
    if pressed is None:
        await answer(t("That button has expired. Send /delete again."))
    elif pressed.user_id != query.from_user.id:  # forged: from_user is Telegram's word, the data the client's
        await answer(t("That button isn't yours."))
    elif not pressed.confirmed:
        await answer(t("Kept: nothing was deleted."))
        if message is not None and message.reply_markup is not None:
            await _edit(message, t("Nothing was deleted: your data stays."))
    elif message is None or datetime.now(UTC) - message.date > CONFIRM_WITHIN:
        await answer(t("That button has expired. Send /delete again."))
        await _drop_buttons(message)
    else:
        erased = await context.services.user_data.erase(query.from_user.id, chat_id=message.chat_id)
        if erased.any_work:
            await answer(t("Done: your data is deleted."))
            await _edit(message, render_erased(erased, t))
        elif erased.messages and message.reply_markup is not None:  # all there was: messages
            await answer(t("Done: your stored messages are deleted."))
            await _drop_buttons(message)
        else:  # pressed twice (the first press is a stored update by now), or after another /delete went through
            await answer(t("Nothing to delete: your data is gone already."))
            await _drop_buttons(message)


async def _edit(message: Message, text: str) -> None:
    """The question replaced by its outcome; its buttons go with it."""
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML)
    except BadRequest as exc:
        if not any(what in exc.message.lower() for what in ALREADY_SO):
            raise


async def _drop_buttons(message: Message | None) -> None:
    if message is None or not isinstance(message.reply_markup, InlineKeyboardMarkup):
        return
    try:
        await message.edit_reply_markup(reply_markup=None)
    except BadRequest as exc:
        if not any(what in exc.message.lower() for what in ALREADY_SO):
            raise
