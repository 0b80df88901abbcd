"""Inline markup taken out of one line of text: backslash escapes, emphasis, and for Markdown code spans, links,
images and HTML tags. What is left is the text a reader sees, raw (never HTML-escaped).

Scripts are untrusted and a line may be 100 000 characters long, so every pass here is one scan from left to
right: no regular expression that can backtrack, and every "find the closing mark" search starts where the last one
ended, never again from the start. A mark that is never closed stays in the text as it was written.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

Segment = tuple[str, bool]  # (text, literal): a literal segment (escaped, code) is never parsed any further

MARKDOWN_ESCAPABLE = frozenset(string.punctuation)
FOUNTAIN_ESCAPABLE = frozenset("*_\\")
_RUN = re.compile(r"`+")  # one possessive-in-effect run: nothing can follow it that would make it backtrack


@dataclass(frozen=True, slots=True)
class Emphasis:
    """Which runs of marks are emphasis: ``runs[char]`` is the run lengths that open and close one."""

    runs: dict[str, frozenset[int]]
    intraword_underscore: bool  # Fountain's ``snake_case`` is underlined; Markdown's is not


FOUNTAIN_EMPHASIS = Emphasis({"*": frozenset({1, 2, 3}), "_": frozenset({1})}, intraword_underscore=True)
MARKDOWN_EMPHASIS = Emphasis(
    {"*": frozenset({1, 2, 3}), "_": frozenset({1, 2, 3}), "~": frozenset({2})}, intraword_underscore=False
)


class _Next:
    """The next index of ``char`` at or after a position, for positions that only grow: linear in all."""

    def __init__(self, text: str, char: str) -> None:
        self._text, self._char, self._found = text, char, -2

    def at_or_after(self, pos: int) -> int:
        if self._found != -1 and self._found < pos:
            self._found = self._text.find(self._char, pos)
        return self._found


def unescape(text: str, escapable: frozenset[str]) -> list[Segment]:
    """``\\*`` and the like become literal characters; other text stays open to further parsing."""
    segments: list[Segment] = []
    start = pos = 0
    while (pos := text.find("\\", pos)) != -1:
        if pos + 1 < len(text) and text[pos + 1] in escapable:
            segments += [(text[start:pos], False), (text[pos + 1], True)]
            start = pos = pos + 2
        else:
            pos += 1
    segments.append((text[start:], False))
    return segments


def markdown_segments(text: str) -> list[Segment]:
    """A Markdown line's code spans and escapes as literal segments, then its links, images and tags resolved."""
    segments: list[Segment] = []
    for piece, literal in _code_spans(text):
        if literal:
            segments.append((piece, True))
            continue
        for part, escaped in unescape(piece, MARKDOWN_ESCAPABLE):
            segments += [(part, True)] if escaped else _links_and_tags(part)
    return segments


def _code_spans(text: str) -> list[Segment]:
    """Backtick code spans (a run of n backticks closed by the next run of exactly n) as literal segments."""
    runs = [(match.start(), match.end()) for match in _RUN.finditer(text)]
    later: dict[int, list[int]] = {}  # run length -> indexes of the runs of that length, in order
    for index, (start, end) in enumerate(runs):
        later.setdefault(end - start, []).append(index)
    cursor = dict.fromkeys(later, 0)
    segments: list[Segment] = []
    done = index = 0
    while index < len(runs):
        start, end = runs[index]
        length = end - start
        same = later[length]
        while cursor[length] < len(same) and same[cursor[length]] <= index:
            cursor[length] += 1
        if cursor[length] == len(same):
            index += 1
            continue
        closing = same[cursor[length]]
        segments += [(text[done:start], False), (_code_text(text[end : runs[closing][0]]), True)]
        done = runs[closing][1]
        index = closing + 1
    segments.append((text[done:], False))
    return segments


def _code_text(code: str) -> str:
    return code[1:-1] if len(code) >= 2 and code[0] == code[-1] == " " and code.strip() else code


def _links_and_tags(text: str) -> list[Segment]:
    """``[text](url)`` -> text, ``![alt](url)`` -> nothing, ``<https://x>`` -> the address, ``<tag>`` -> nothing."""
    close_bracket, open_bracket = _Next(text, "]"), _Next(text, "[")
    close_paren, close_angle = _Next(text, ")"), _Next(text, ">")
    segments: list[Segment] = []
    done = pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "[" or (char == "!" and text.startswith("[", pos + 1)):
            opening = pos + (char == "!")
            end = close_bracket.at_or_after(opening)
            nested = open_bracket.at_or_after(opening + 1)
            url_end = close_paren.at_or_after(end + 2) if end != -1 and text.startswith("(", end + 1) else -1
            if end != -1 and (nested == -1 or nested > end) and url_end != -1:
                segments.append((text[done:pos], False))
                if char == "[":
                    segments.append((text[opening + 1 : end], False))
                done = pos = url_end + 1
                continue
        elif char == "<" and pos + 1 < len(text) and (text[pos + 1].isalpha() or text[pos + 1] in "/!"):
            end = close_angle.at_or_after(pos)
            inner = text[pos + 1 : end] if end != -1 else ""
            autolink = ":" in inner and not any(c.isspace() for c in inner)
            if end != -1 and (autolink or _is_html_tag(inner)):  # "<beat>" or "He <whispers>" is the script's own
                segments.append((text[done:pos], False))
                if autolink:  # an autolink keeps its address
                    segments.append((inner, True))
                done = pos = end + 1
                continue
        pos += 1
    segments.append((text[done:], False))
    return segments


def strip_emphasis(segments: list[Segment], emphasis: Emphasis) -> str:
    """The text without the emphasis marks that pair up; a mark that opens and never closes stays."""
    tokens: list[tuple[str, int]] = []  # (text, mark length; 0 for text)
    for text, literal in segments:
        tokens += [(text, 0)] if literal else _mark_tokens(text, emphasis)
    keep = [True] * len(tokens)
    pending: dict[tuple[str, int], int] = {}
    for index, (text, length) in enumerate(tokens):
        if not length:
            continue
        before = _edge(tokens, index, -1)
        after = _edge(tokens, index, +1)
        can_open = after != "" and not after.isspace()
        can_close = before != "" and not before.isspace()
        if text[0] == "_" and not emphasis.intraword_underscore:
            can_open, can_close = can_open and not before.isalnum(), can_close and not after.isalnum()
        kind = (text[0], length)
        if kind in pending and can_close:
            keep[pending.pop(kind)] = keep[index] = False
        elif can_open:
            pending[kind] = index
    return "".join(text for (text, _), kept in zip(tokens, keep, strict=True) if kept)


def _mark_tokens(text: str, emphasis: Emphasis) -> list[tuple[str, int]]:
    tokens: list[tuple[str, int]] = []
    start = pos = 0
    while pos < len(text):
        char = text[pos]
        if char not in emphasis.runs:
            pos += 1
            continue
        end = pos
        while end < len(text) and text[end] == char:
            end += 1
        if end - pos in emphasis.runs[char]:
            tokens += [(text[start:pos], 0), (text[pos:end], end - pos)]
            start = end
        pos = end
    tokens.append((text[start:], 0))
    return [token for token in tokens if token[0]]


def _edge(tokens: list[tuple[str, int]], index: int, step: int) -> str:
    """The character just before (step -1) or after (+1) token ``index``; "" at the line's ends."""
    neighbour = index + step
    if not 0 <= neighbour < len(tokens):
        return ""
    text = tokens[neighbour][0]
    return text[-1] if step < 0 else text[0]


def plain_text(text: str) -> str:
    """White space collapsed to single spaces, ends stripped."""
    return " ".join(text.split())


HTML_TAGS = frozenset((
    "a", "abbr", "b", "br", "blockquote", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
))  # fmt: skip


def _is_html_tag(inner: str) -> bool:
    """``<b>``, ``</em>``, ``<br/>``, ``<span class="x">``, ``<!-- ... -->``: HTML, which Markdown may carry; any
    other ``<word>`` is text."""
    if inner.startswith("!"):
        return True
    name = inner.lstrip("/").split(None, 1)[0].rstrip("/").lower() if inner.strip("/ ") else ""
    return name in HTML_TAGS
