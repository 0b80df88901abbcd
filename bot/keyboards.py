"""Inline keyboards (pure builders) and the parsing of their callback data.

Callback data is compact ASCII, far under Telegram's 64-byte limit:
    r:<version_id>:<rating>   rate a storyboard version 1..5
    s:<feedback_id>           skip the comment and improve now
Anything else (stale layouts, forged or truncated data) parses to None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

MAX_CALLBACK_BYTES = 64
MAX_ID = 2**31 - 1  # version and feedback ids are SQL INTEGER: a larger one is forged, and would overflow a query
_RATE = re.compile(r"r:([1-9][0-9]{0,9}):([1-5])")
_SKIP = re.compile(r"s:([1-9][0-9]{0,9})")


@dataclass(frozen=True, slots=True)
class RateCallback:
    version_id: int
    rating: int


@dataclass(frozen=True, slots=True)
class SkipCallback:
    feedback_id: int


def rate_data(version_id: int, rating: int) -> str:
    return f"r:{version_id}:{rating}"


def skip_data(feedback_id: int) -> str:
    return f"s:{feedback_id}"


def parse_callback(data: str | None) -> RateCallback | SkipCallback | None:
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    if (match := _RATE.fullmatch(data)) and int(match[1]) <= MAX_ID:
        return RateCallback(int(match[1]), int(match[2]))
    if (match := _SKIP.fullmatch(data)) and int(match[1]) <= MAX_ID:
        return SkipCallback(int(match[1]))
    return None


def rating_label(rating: int, *, chosen: bool) -> str:
    return f"✅ {rating}" if chosen else f"{rating} ⭐"


def build_rating_keyboard(
    version_id: int, *, chosen: int | None = None, skip_feedback_id: int | None = None
) -> InlineKeyboardMarkup:
    """Five buttons 1..5 (the chosen one marked), and a Skip button while a comment is awaited."""
    rows = [
        [
            InlineKeyboardButton(rating_label(n, chosen=n == chosen), callback_data=rate_data(version_id, n))
            for n in range(1, 6)
        ]
    ]
    if skip_feedback_id is not None:
        rows.append([InlineKeyboardButton("⏭ Skip: improve without a note", callback_data=skip_data(skip_feedback_id))])
    return InlineKeyboardMarkup(rows)
