"""Long pastes: Telegram takes at most 4096 characters a message, so a client splits a longer text into several
messages sent together. Text messages of one chat that follow each other within ``JOIN_WINDOW_S``, each but the
last at least ``MIN_PART_CHARS`` long, are one script (CONTRACT.md).

How a client cuts (Telegram Desktop's ``CutPart``; the mobile apps cut the same way): in the second half of the
limit, at the last line break there is, else at the last space, else at the limit itself; the break is dropped
(each part is trimmed, and the server trims again). So ``join`` puts one line break back at a cut, except where
a part has no whitespace at all in its second half: the client found nothing to cut at and cut at the limit, in
the middle of a word, so nothing was dropped there. A script line longer than half the limit is the one case a
cut cannot be told from a line break; its words are all kept, as two lines.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

MESSAGE_LIMIT = 4096  # characters in one Telegram message
MIN_PART_CHARS = 3000  # a message this long may have a next part
JOIN_WINDOW_S = 2.0  # the next part arrives within this (the parts of one paste are sent together)
MAX_PARTS = 16  # parts joined at most; a 17th starts a script of its own (a script is 20,000 characters at most)


@dataclass(frozen=True, slots=True)
class TextPart:
    """What the joiner needs of a text message: its text, when Telegram dated it, and whether it is a command."""

    text: str
    date: int  # Telegram's timestamp, in seconds
    command: bool = False

    @property
    def may_continue(self) -> bool:
        """Long enough that a next part may follow."""
        return not self.command and len(self.text) >= MIN_PART_CHARS


def continues(previous: TextPart, following: TextPart) -> bool:
    """Whether ``following`` (the chat's next message, arrived within the window) is the next part of a paste
    that ``previous`` is a part of."""
    if not previous.may_continue or following.command:
        return False
    return 0 <= following.date - previous.date <= JOIN_WINDOW_S


def join(parts: Sequence[str]) -> str:
    """The text a client split into ``parts``: every line kept, the join exactly at each cut."""
    pieces = [parts[0]]
    for previous, following in itertools.pairwise(parts):
        pieces += ["" if _cut_at_limit(previous) else "\n", following]
    return "".join(pieces)


def _cut_at_limit(part: str) -> bool:
    """A full part with no whitespace where a client looks for a break: it was cut mid-word."""
    return len(part) == MESSAGE_LIMIT and not any(ch.isspace() for ch in part[MESSAGE_LIMIT // 2 + 1 :])


def split(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut ``text`` as a Telegram client does before sending it (the demo sends a long paste this way)."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]  # a break right at the limit still ends a full part
        cut = _best_cut(window, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return [part for part in parts if part]


def _best_cut(window: str, limit: int) -> int:
    half = limit // 2
    for breaks in ("\n", " "):
        position = max(window.rfind(ch, half + 1) for ch in breaks)
        if position > half:
            return position
    return limit
