"""Inline keyboards (pure builders) and the parsing of their callback data.

Callback data is compact ASCII, far under Telegram's 64-byte limit:
    r:<version_id>:<rating>   rate a storyboard version 1..5
    s:<feedback_id>           skip the comment and improve now
    dx:<user_id>              /delete's confirmation: erase the data of the user who pressed
    dk:<user_id>              /delete's "Keep": change nothing
    l:<locale>                /language: speak this locale ("en", "ru", "hi"); l:- follows Telegram's setting again
Anything else (stale layouts, forged or truncated data) parses to None.

A client can send any callback data for a message it sees, so none of it is trusted with whose data to touch:
a press acts for ``from_user`` (set by Telegram, not the client), and the user id in the data only has to match
it, so a confirmation never outlives its addressee (a forwarded message carries no buttons anyway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import ENGLISH, LANGUAGE_NAMES, LOCALES, Texts

MAX_CALLBACK_BYTES = 64
MAX_ID = 2**31 - 1  # version and feedback ids are SQL INTEGER: a larger one is forged, and would overflow a query
_RATE = re.compile(r"r:([1-9][0-9]{0,9}):([1-5])")
_SKIP = re.compile(r"s:([1-9][0-9]{0,9})")
_ERASE = re.compile(r"d([xk]):([1-9][0-9]{0,15})")
ERASE_PATTERN = r"^d[xk]:"  # the presses the /delete handler takes (then parsed strictly by parse_erase)
MAX_USER_ID = 2**53 - 1  # Telegram's user ids fit 52 bits
_LANGUAGE = re.compile(r"l:(" + "|".join(map(re.escape, LOCALES)) + r"|-)")
TELEGRAMS_LANGUAGE = "-"  # l:- forgets the choice


@dataclass(frozen=True, slots=True)
class RateCallback:
    version_id: int
    rating: int


@dataclass(frozen=True, slots=True)
class SkipCallback:
    feedback_id: int


@dataclass(frozen=True, slots=True)
class LanguageCallback:
    locale: str | None  # None: follow the user's Telegram setting


def rate_data(version_id: int, rating: int) -> str:
    return f"r:{version_id}:{rating}"


def skip_data(feedback_id: int) -> str:
    return f"s:{feedback_id}"


def language_data(locale: str | None) -> str:
    return f"l:{locale or TELEGRAMS_LANGUAGE}"


def parse_callback(data: str | None) -> RateCallback | SkipCallback | LanguageCallback | None:
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    if (match := _RATE.fullmatch(data)) and int(match[1]) <= MAX_ID:
        return RateCallback(int(match[1]), int(match[2]))
    if (match := _SKIP.fullmatch(data)) and int(match[1]) <= MAX_ID:
        return SkipCallback(int(match[1]))
    if match := _LANGUAGE.fullmatch(data):
        return LanguageCallback(None if match[1] == TELEGRAMS_LANGUAGE else match[1])
    return None


def rating_label(rating: int, *, chosen: bool) -> str:
    return f"✅ {rating}" if chosen else f"{rating} ⭐"


def build_rating_keyboard(
    version_id: int, *, chosen: int | None = None, skip_feedback_id: int | None = None, t: Texts = ENGLISH
) -> InlineKeyboardMarkup:
    """Five buttons 1..5 (the chosen one marked), and a Skip button while a comment is awaited."""
    rows = [
        [
            InlineKeyboardButton(rating_label(n, chosen=n == chosen), callback_data=rate_data(version_id, n))
            for n in range(1, 6)
        ]
    ]
    if skip_feedback_id is not None:
        rows.append(
            [InlineKeyboardButton(t("⏭ Skip: improve without a note"), callback_data=skip_data(skip_feedback_id))]
        )
    return InlineKeyboardMarkup(rows)


def build_language_keyboard(chosen: str | None, *, t: Texts = ENGLISH) -> InlineKeyboardMarkup:
    """One button per language, each in its own words (the chosen one marked), and "Telegram's setting"."""
    rows = [
        [
            InlineKeyboardButton(
                ("✅ " if locale == chosen else "") + LANGUAGE_NAMES[locale], callback_data=language_data(locale)
            )
            for locale in LOCALES
        ],
        [
            InlineKeyboardButton(
                ("✅ " if chosen is None else "") + t("Telegram's setting"), callback_data=language_data(None)
            )
        ],
    ]
    return InlineKeyboardMarkup(rows)


@dataclass(frozen=True, slots=True)
class EraseCallback:
    user_id: int
    confirmed: bool  # False: "Keep"


def erase_data(user_id: int, *, confirmed: bool) -> str:
    return f"d{'x' if confirmed else 'k'}:{user_id}"


def parse_erase(data: str | None) -> EraseCallback | None:
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    if (match := _ERASE.fullmatch(data)) and int(match[2]) <= MAX_USER_ID:
        return EraseCallback(int(match[2]), confirmed=match[1] == "x")
    return None


def build_erase_keyboard(user_id: int, *, confirm_label: str, keep_label: str) -> InlineKeyboardMarkup:
    """/delete's question: erase everything, or keep it (labels in the user's language)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(confirm_label, callback_data=erase_data(user_id, confirmed=True)),
                InlineKeyboardButton(keep_label, callback_data=erase_data(user_id, confirmed=False)),
            ]
        ]
    )
