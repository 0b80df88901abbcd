"""A Fountain screenplay (fountain.io/syntax) read for a storyboard: its title and, per scene heading, what is
done (action) and said (dialogue), in order, without markup.

Written here rather than taken from PyPI. screenplain 0.12 (MIT) backtracks on untrusted text: 100 000
characters of unclosed ``/*``, of unclosed ``[[`` or of ``**a `` take it 17 s, 14 s and over a minute; it also
upper-cases every heading (``int. house`` comes out ``INT. HOUSE``), reads ``~lyrics`` and a synopsis after action
as action, and turns a whole title page into action when an inline value goes on on an indented line. Jouvence
0.4.2 (Apache-2.0) never returns on a boneyard closed on a line with text (``/* cut */``), and keeps ``[[notes]]``,
inline boneyard, ``#1#`` scene numbers and emphasis marks in its text and a dual dialogue's ``^`` cue as action.

Choices where the spec leaves room or where a storyboard needs less than a printed page:
- Action paragraphs and dialogue blocks are frames; a heading is no frame (it is the scene's ``heading``) unless
  nothing follows it, when it is the scene's one frame.
- Dialogue becomes one frame ``NAME: what is said``, the cue as written (extensions such as ``(V.O.)`` kept,
  ``@`` and a dual dialogue's ``^`` dropped), parentheticals kept in parentheses where they stand.
- Transitions (``CUT TO:``, ``> FADE OUT.``, a bare ``FADE IN:`` or ``FADE OUT.``), notes, boneyard, sections,
  synopses and page breaks are left out: they tell an editor or a reader, not a viewer. Centered text and lyrics
  are kept as action.
- A scene heading that starts a paragraph starts a scene even when action follows it on the next line (the spec
  wants a blank line after it; writers often forget, and the heading's prefix is unmistakable).
- A title page is the first paragraph if it is made of ``Key: value`` lines (a value may go on on indented lines)
  and names at least one key of the spec's list, so an opening line like ``Night: the city sleeps.`` is action.
- An unclosed ``/*`` or ``[[`` is text, not the start of something that hides the rest of the script.
- Durations: what is done at reading pace (CHARS_PER_SECOND), what is said or sung at SPEAKING_WORDS_PER_S but
  never below its reading time (a script without spaces between words has few "words"); parentheticals and names
  are not timed. A scene is the sum of its frames, within SCREENPLAY_MIN_SCENE_S..SCREENPLAY_MAX_SCENE_S.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from core.inline import FOUNTAIN_EMPHASIS, FOUNTAIN_ESCAPABLE, plain_text, strip_emphasis, unescape
from core.storyboard import CHARS_PER_SECOND

SCREENPLAY_MIN_SCENE_S = 3.0
SCREENPLAY_MAX_SCENE_S = 30.0
SPEAKING_WORDS_PER_S = 2.5  # 150 words a minute
HEADING_PREFIXES = ("INT./EXT", "INT/EXT", "INT", "EXT", "EST", "I/E")
BARE_TRANSITIONS = ("FADE IN:", "FADE OUT.")  # the spec wants a '>' before them; writers mostly leave it out
TITLE_PAGE_KEYS = frozenset(
    {"title", "credit", "author", "authors", "source", "draft date", "date", "contact", "copyright", "notes"}
)


@dataclass(frozen=True, slots=True)
class ScreenplayScene:
    heading: str | None  # None for what comes before the first heading
    frames: tuple[str, ...]
    duration_s: float


@dataclass(frozen=True, slots=True)
class _Heading:
    text: str


@dataclass(frozen=True, slots=True)
class _Frame:
    text: str
    duration_s: float


def parse_fountain(text: str) -> tuple[str | None, list[ScreenplayScene]]:
    """The title page's title (None without one) and the scenes, in order; possibly none."""
    blocks = _blocks(_without_boneyard(text.lstrip("\ufeff")).splitlines())
    title: str | None = None
    if blocks and (page := _title_page(blocks[0])) is not None:
        title = page.get("title")
        blocks = blocks[1:]
    return title, _scenes(element for block in blocks for element in _elements(block))


def _without_boneyard(text: str) -> str:
    """``/* ... */`` taken out, across lines; an unclosed ``/*`` stays text."""
    parts: list[str] = []
    done = 0
    while (start := text.find("/*", done)) != -1 and (end := text.find("*/", start + 2)) != -1:
        parts.append(text[done:start])
        done = end + 2
    parts.append(text[done:])
    return "".join(parts)


def _blank(line: str) -> bool:
    """Blank lines (white space and invisible format characters only) part paragraphs; a line of exactly two
    spaces is the spec's way to keep one going."""
    return line != "  " and not any(not char.isspace() and unicodedata.category(char) != "Cf" for char in line)


def _blocks(lines: list[str]) -> list[list[str]]:
    """Paragraphs (runs of non-blank lines), notes taken out; a paragraph that was only notes is gone."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if not _blank(line):
            current.append(line)
            continue
        if current:
            kept = [line for line in _without_notes("\n".join(current)).split("\n") if line.strip() or line == "  "]
            if any(line.strip() for line in kept):
                blocks.append(kept)
        current = []
    return blocks


def _without_notes(text: str) -> str:
    parts: list[str] = []
    done = 0
    while (start := text.find("[[", done)) != -1 and (end := text.find("]]", start + 2)) != -1:
        parts.append(text[done:start])
        done = end + 2
    parts.append(text[done:])
    return "".join(parts)


def _title_page(block: list[str]) -> dict[str, str] | None:
    """``{key: value}`` (keys lower-case, a value's lines joined) when the paragraph is a title page."""
    values: dict[str, list[str]] = {}
    key: str | None = None
    for line in block:
        if key is not None and line[:1].isspace():
            values[key].append(line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not _title_key(name):
            return None
        key = name.strip().lower()
        values.setdefault(key, []).append(value.strip())
    if not TITLE_PAGE_KEYS & values.keys():
        return None
    page = {name: _clean(" ".join(lines)) for name, lines in values.items()}
    return {name: value for name, value in page.items() if value}


def _title_key(name: str) -> bool:
    return 0 < len(name) <= 40 and name[0].isalpha() and all(c.isalnum() or c in " -_'" for c in name)


def _clean(text: str) -> str:
    return plain_text(strip_emphasis(unescape(text, FOUNTAIN_ESCAPABLE), FOUNTAIN_EMPHASIS))


def _elements(block: list[str]) -> Iterator[_Heading | _Frame]:
    """What one paragraph holds; a heading, section or synopsis line that opens it lets the rest be read anew."""
    lines = [line.strip() for line in block if line.strip()]
    for start, line in enumerate(lines):
        if line.startswith(("#", "=")):  # a section, synopsis or page break
            continue
        if (heading := _heading(line)) is None:
            yield from _body(lines[start:])
            return
        yield _Heading(heading)


def _heading(line: str) -> str | None:
    """The heading as written (a forced one without its '.', no #scene number#), or None if the line is none."""
    if line.startswith(".") and len(line) > 1 and line[1].isalnum():
        line = line[1:]
    else:
        upper = line.upper()
        if not any(upper.startswith(p) and upper[len(p) : len(p) + 1] in (".", " ") for p in HEADING_PREFIXES):
            return None
    if line.endswith("#") and (mark := line.rfind("#", 0, len(line) - 1)) != -1:
        number = line[mark + 1 : -1]
        if number and all(c.isalnum() or c in "-." for c in number):
            line = line[:mark]
    return _clean(line) or None


def _body(lines: list[str]) -> Iterator[_Frame]:
    """Stripped, non-empty lines of a paragraph that is no heading: action, dialogue, lyrics or a transition."""
    first = lines[0]
    if first.startswith("!"):
        yield _action([lines[0][1:], *lines[1:]])
    elif first.startswith("~"):
        yield _spoken("", [line.removeprefix("~") for line in lines])
    elif all(len(line) >= 2 and line[0] == ">" and line[-1] == "<" for line in lines):
        yield _action([line[1:-1] for line in lines])
    elif len(lines) == 1 and (first.startswith(">") or first in BARE_TRANSITIONS or _ends_to(first)):
        return  # a transition
    elif len(lines) >= 2 and (name := _cue(first)) is not None:
        yield _spoken(name, lines[1:])
    else:
        yield _action(lines)


def _ends_to(line: str) -> bool:
    return line.endswith("TO:") and line.isupper()


def _cue(line: str) -> str | None:
    """A character's name (with its extension) when the line is a cue: all capitals, or forced with '@'."""
    line = line.removesuffix("^").rstrip()
    if line.startswith("@") and len(line) > 1:
        return _clean(line[1:]) or None
    name = line.partition("(")[0]
    return _clean(line) if name.isupper() else None


def _action(lines: list[str]) -> _Frame:
    text = plain_text(" ".join(_clean(line) for line in lines))  # emphasis does not run across lines
    return _Frame(text, len(text) / CHARS_PER_SECOND)


def _spoken(name: str, lines: list[str]) -> _Frame:
    """Dialogue (or lyrics, with no name): timed at speaking pace on what is said, never below reading time."""
    parts: list[str] = []
    said: list[str] = []
    aside = False
    for line in (_clean(line) for line in lines):
        aside = aside or line.startswith("(")
        parts.append(line)
        if not aside:
            said.append(line)
        aside = aside and not line.endswith(")")
    words = " ".join(said)
    text = " ".join(part for part in parts if part)
    spoken_s = max(len(words.split()) / SPEAKING_WORDS_PER_S, len(words) / CHARS_PER_SECOND)
    return _Frame(f"{name}: {text}" if name else text, spoken_s)


def _scenes(elements: Iterator[_Heading | _Frame]) -> list[ScreenplayScene]:
    scenes: list[ScreenplayScene] = []
    heading: str | None = None
    frames: list[_Frame] = []
    started = False  # a heading was seen: its scene exists even with no frame
    for element in elements:
        if isinstance(element, _Heading):
            if started or frames:
                scenes.append(_scene(heading, frames))
            heading, frames, started = element.text, [], True
        elif element.text:
            frames.append(element)
    if started or frames:
        scenes.append(_scene(heading, frames))
    return scenes


def _scene(heading: str | None, frames: list[_Frame]) -> ScreenplayScene:
    if not frames:  # a heading and nothing else: the heading is what there is to show
        return ScreenplayScene(heading, (heading or "",), SCREENPLAY_MIN_SCENE_S)
    duration_s = sum(frame.duration_s for frame in frames)
    duration_s = min(SCREENPLAY_MAX_SCENE_S, max(SCREENPLAY_MIN_SCENE_S, round(duration_s, 1)))
    return ScreenplayScene(heading, tuple(frame.text for frame in frames), duration_s)
