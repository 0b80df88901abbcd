"""/language: the user chooses the language the bot speaks to them in, or goes back to their Telegram setting.

``/language`` answers with a button per language (and "Telegram's setting"); a press remembers the choice,
answers with a toast in the new language and redraws the message in it. ``/language ru`` chooses at once.
What was chosen is kept in ``users.language`` (core.languages), and the jobs made after it are said in it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.context import BotContext
from bot.i18n import LANGUAGE_NAMES, LOCALES, Texts, locale_of, texts_for, texts_of
from bot.keyboards import LanguageCallback, build_language_keyboard
from core.types import Author

FORGET_WORDS = frozenset({"-", "auto", "telegram", "default", "reset"})


async def on_language(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    if not context.args:
        chosen = await context.services.languages.chosen(user.id)
        await message.reply_text(
            language_menu(t, telegrams=user.language_code),
            parse_mode=ParseMode.HTML,
            reply_markup=build_language_keyboard(chosen, t=t),
        )
        return
    word = context.args[0].strip().lower()
    if word in FORGET_WORDS:
        locale: str | None = None
    elif word in LOCALES or (word.split("-")[0] in LOCALES and len(word) <= 16):
        locale = locale_of(word)
    else:
        await message.reply_text(
            t("I don't speak that one. Choose with /language, or send /language en, /language ru or /language hi.")
        )
        return
    await context.services.languages.choose(_author(update), locale)
    await message.reply_text(chosen_text(locale, telegrams=user.language_code))


async def on_language_press(
    update: Update,
    query: CallbackQuery,
    context: BotContext,
    pressed: LanguageCallback,
    *,
    answer: Callable[[str], Awaitable[None]],
) -> None:
    """A press on /language's keyboard: remember, answer in the new language, redraw the message in it."""
    user = query.from_user
    await context.services.languages.choose(_author(update), pressed.locale)
    t = texts_for(pressed.locale or user.language_code)
    await answer(chosen_text(pressed.locale, telegrams=user.language_code)[:200])
    message = query.message if isinstance(query.message, Message) else None
    keyboard = build_language_keyboard(pressed.locale, t=t)
    if message is None or message.reply_markup == keyboard:
        return  # the same choice again: the keyboard (its marks and its words) shows it already
    try:
        await message.edit_text(
            language_menu(t, telegrams=user.language_code), parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():  # the same choice pressed again: nothing to redraw
            raise


def language_menu(t: Texts, *, telegrams: str | None) -> str:
    return t(
        "🌐 Which language shall I speak to you in? Now: <b>{language}</b>.\n"
        "“Telegram's setting” follows your Telegram app's language ({telegrams}).",
        language=LANGUAGE_NAMES[t.locale],
        telegrams=LANGUAGE_NAMES[locale_of(telegrams)],
    )


def chosen_text(locale: str | None, *, telegrams: str | None) -> str:
    """What a choice is confirmed with, in the language chosen."""
    t = texts_for(locale or telegrams)
    if locale is None:
        return t("OK: I follow your Telegram app's language again.")
    return t("OK: I speak English with you from now on.")  # said in the language chosen: each catalog names its own


def _author(update: Update) -> Author:
    user = update.effective_user
    assert user is not None  # commands and presses come from users (the gate drops the rest)
    return Author(user_id=user.id, name=user.full_name, username=user.username)
