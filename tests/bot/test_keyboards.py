from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.keyboards import (
    ERASE_PATTERN,
    MAX_CALLBACK_BYTES,
    EraseCallback,
    RateCallback,
    SkipCallback,
    build_erase_keyboard,
    build_rating_keyboard,
    parse_callback,
    parse_erase,
)


def test_five_buttons_with_digits_one_to_five_and_compact_data() -> None:
    keyboard = build_rating_keyboard(2**53)
    buttons = keyboard.inline_keyboard[0]

    assert [str(n) in button.text for n, button in zip(range(1, 6), buttons, strict=True)] == [True] * 5
    assert all(len(str(button.callback_data).encode()) <= MAX_CALLBACK_BYTES for button in buttons)
    assert len(keyboard.inline_keyboard) == 1


def test_chosen_rating_is_marked_and_skip_row_appears_while_a_comment_is_awaited() -> None:
    keyboard = build_rating_keyboard(7, chosen=2, skip_feedback_id=9)

    assert keyboard.inline_keyboard[0][1].text.startswith("✅")
    assert sum(button.text.startswith("✅") for button in keyboard.inline_keyboard[0]) == 1
    assert parse_callback(str(keyboard.inline_keyboard[1][0].callback_data)) == SkipCallback(9)


def test_callback_data_round_trips() -> None:
    for rating in range(1, 6):
        data = build_rating_keyboard(123).inline_keyboard[0][rating - 1].callback_data
        assert parse_callback(str(data)) == RateCallback(123, rating)


@pytest.mark.parametrize(
    "data",
    [
        "",
        None,
        "r:1:6",
        "r:1:0",
        "r:0:3",
        "r:-1:3",
        "r:1:3:extra",
        "s:",
        "s:0",
        "x" * 65,
        "r:1:3 ",
        "r:٣:3",
        "s:1\n",
        "r:9999999999999999999:1",
        "s:2147483648",
    ],
)
def test_forged_stale_and_malformed_data_parse_to_nothing(data: str | None) -> None:
    assert parse_callback(data) is None


@given(st.text(max_size=80))
def test_any_text_parses_to_a_valid_callback_or_nothing(data: str) -> None:
    parsed = parse_callback(data)
    if isinstance(parsed, RateCallback):
        assert 1 <= parsed.rating <= 5 and parsed.version_id > 0
    elif isinstance(parsed, SkipCallback):
        assert parsed.feedback_id > 0
    else:
        assert parsed is None


def test_erase_keyboard_has_confirm_and_keep_bound_to_the_user() -> None:
    keyboard = build_erase_keyboard(2**52, confirm_label="Delete", keep_label="Keep")
    confirm, keep = keyboard.inline_keyboard[0]

    assert (confirm.text, keep.text) == ("Delete", "Keep")
    assert parse_erase(str(confirm.callback_data)) == EraseCallback(2**52, confirmed=True)
    assert parse_erase(str(keep.callback_data)) == EraseCallback(2**52, confirmed=False)
    assert all(len(str(b.callback_data).encode()) <= MAX_CALLBACK_BYTES for b in (confirm, keep))
    assert re.match(ERASE_PATTERN, str(confirm.callback_data)) and re.match(ERASE_PATTERN, str(keep.callback_data))
    assert parse_callback(str(confirm.callback_data)) is None  # never mistaken for a rating


@pytest.mark.parametrize(
    "data",
    [
        "dx:",
        "dx:0",
        "dx:-5",
        "dy:5",
        "dx:5:extra",
        "dx:5 ",
        "dx:٥",
        "dx:99999999999999999",
        "dx:9007199254740992",
        "r:1:3",
    ],
)
def test_forged_erase_data_parses_to_nothing(data: str) -> None:
    assert parse_erase(data) is None
