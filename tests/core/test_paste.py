"""Long pastes: a text cut as a Telegram client cuts it is joined back exactly, every line kept."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from core import paste
from core.paste import MESSAGE_LIMIT, TextPart, continues, join, split
from core.storyboard import script_lines

LETTERS = "abcdefghijklmnopqrstuvwxyzéжअ.,!?-'"


def script_of(rng: random.Random) -> str:
    """5,000 to 20,000 characters of lines of 1 to 900 characters (no line long enough to be cut inside)."""
    size = rng.randint(5_000, 20_000)
    lines: list[str] = []
    while sum(map(len, lines)) < size:
        words = ["".join(rng.choices(LETTERS, k=rng.randint(1, 12))) for _ in range(rng.randint(1, 70))]
        lines.append(" ".join(words)[:900])
    return "\n".join(lines)


@settings(max_examples=60)
@given(st.integers(min_value=0))
def test_a_split_script_joins_back_with_every_line_at_its_place(seed: int) -> None:
    text = script_of(random.Random(seed))
    parts = split(text)

    assert len(parts) >= 2
    assert all(0 < len(part) <= MESSAGE_LIMIT for part in parts)
    assert script_lines(join(parts)) == script_lines(text)


def test_a_text_with_no_break_in_reach_is_cut_at_the_limit_and_joined_without_a_gap() -> None:
    text = "intro line\n" + "x" * 9000 + "\nlast line"

    parts = split(text)

    assert len(parts[0]) == MESSAGE_LIMIT
    assert join(parts) == text


def test_a_client_cuts_at_the_last_line_break_in_the_second_half_and_drops_it() -> None:
    lines = [f"Scene {n}: " + "a" * 90 for n in range(100)]  # 100 lines of about 100 characters

    first, *_ = split("\n".join(lines))

    assert MESSAGE_LIMIT - 110 < len(first) <= MESSAGE_LIMIT
    assert first.endswith("a") and not first.endswith("\n")


def test_only_a_long_message_waits_for_a_next_part_and_only_one_dated_within_the_window() -> None:
    long = TextPart("x" * paste.MIN_PART_CHARS, date=100)

    assert continues(long, TextPart("tail", date=102))
    assert not continues(long, TextPart("tail", date=103))  # sent 3 s later: a message of its own
    assert not continues(long, TextPart("/help", date=100, command=True))  # a command is never a part
    assert not continues(TextPart("x" * (paste.MIN_PART_CHARS - 1), date=100), TextPart("tail", date=100))
    assert not TextPart("/" + "x" * paste.MIN_PART_CHARS, date=1, command=True).may_continue
