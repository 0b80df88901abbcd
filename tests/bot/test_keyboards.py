from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.keyboards import (
    MAX_CALLBACK_BYTES,
    RateCallback,
    SkipCallback,
    build_rating_keyboard,
    parse_callback,
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
