"""A script's text turned into source scenes, by its format (known from the file name it came in).

- ``fountain`` (``.fountain``): a screenplay, one scene per scene heading (core.fountain says how it is read).
- ``markdown`` (``.md``, ``.markdown``): one scene per line that still says something once its markup is gone;
  a level-1 heading on the first line is the title. Code inside a fence is kept as written.
- ``text`` (anything else, and no file name): one scene per non-empty line, as core.storyboard has it.

A scene's frames are raw text (never HTML-escaped) and are not cut to size here: the storyboard does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.fountain import parse_fountain
from core.inline import MARKDOWN_EMPHASIS, markdown_segments, plain_text, strip_emphasis
from core.storyboard import TITLE_CHARS, local_duration_s, script_lines

ScriptFormat = Literal["text", "markdown", "fountain"]

EXTENSIONS: dict[str, ScriptFormat] = {"fountain": "fountain", "md": "markdown", "markdown": "markdown"}


@dataclass(frozen=True, slots=True)
class SourceScene:
    frames: tuple[str, ...]  # non-empty texts, raw, in order; at least one
    duration_s: float  # suggested duration
    heading: str | None = None  # a screenplay's scene heading, as written (no forcing '.', no #scene number#)

    @property
    def text(self) -> str:
        """The frames joined with newlines, so that each frame still begins a line of its own."""
        return "\n".join(self.frames)


@dataclass(frozen=True, slots=True)
class ParsedScript:
    format: ScriptFormat
    title: str | None  # from a title page or a leading '# ' heading; None when the script gives none
    scenes: tuple[SourceScene, ...]


def script_format(file_name: str | None) -> ScriptFormat:
    """The format a file name's extension says, whatever its case; plain text when it says none we read."""
    stem, dot, extension = (file_name or "").rpartition(".")
    return EXTENSIONS.get(extension.lower(), "text") if dot and stem else "text"


def parse_script(text: str, file_name: str | None = None) -> ParsedScript:
    """The script's title and scenes; ValueError when it has no scene at all (only a title page, only markup)."""
    script_type = script_format(file_name)
    if script_type == "fountain":
        title, screenplay = parse_fountain(text)
        scenes = tuple(SourceScene(scene.frames, scene.duration_s, scene.heading) for scene in screenplay)
    elif script_type == "markdown":
        title, lines = _markdown_lines(text)
        scenes = tuple(SourceScene((line,), local_duration_s(line)) for line in lines)
    else:  # plain text names no title: the storyboard's is its first line (or the LM's)
        title = None
        scenes = tuple(SourceScene((line,), local_duration_s(line)) for line in script_lines(text))
    if not scenes:
        raise ValueError(f"the {script_type} script has no scene: nothing in it is action, dialogue or a line of text")
    return ParsedScript(script_type, _fit_title(title), scenes)


def _fit_title(title: str | None) -> str | None:
    if not title:
        return None
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip() + "…"


def _markdown_lines(text: str) -> tuple[str | None, list[str]]:
    """The title (a level-1 heading on the first non-empty line) and the other lines without their markup."""
    title: str | None = None
    lines: list[str] = []
    fenced = False
    for number, raw in enumerate(script_lines(_without_comments(text))):
        if _is_fence(raw):
            fenced = not fenced
        elif fenced:
            lines.append(raw)
        elif number == 0 and (raw == "#" or raw.startswith(("# ", "#\t"))):
            title = _markdown_inline(_without_block_marks(raw))
        elif line := _markdown_inline(_without_block_marks(raw)):
            lines.append(line)
    return title, lines


def _is_fence(line: str) -> bool:
    """A code fence's line: three backticks (and an info string without any) or three tildes."""
    return line.startswith("~~~") or (line.startswith("```") and "`" not in line.lstrip("`"))


def _without_comments(text: str) -> str:
    """``<!-- ... -->`` taken out, across lines; an unclosed one stays text."""
    parts: list[str] = []
    done = 0
    while (start := text.find("<!--", done)) != -1 and (end := text.find("-->", start + 4)) != -1:
        parts.append(text[done:start])
        done = end + 3
    parts.append(text[done:])
    return "".join(parts)


def _without_block_marks(line: str) -> str:
    """A stripped line without its block markup: quote marks, a heading's hashes, a list item's marker; a line
    that is only a rule or a setext underline becomes empty."""
    while line.startswith(">"):
        line = line[1:].lstrip()
    if _is_rule(line):
        return ""
    hashes = len(line) - len(line.lstrip("#"))
    if 1 <= hashes <= 6 and (len(line) == hashes or line[hashes] in " \t"):
        line = line[hashes:].strip()
        closing = line.rstrip("#")
        line = closing.rstrip() if closing != line and (not closing or closing[-1] in " \t") else line
    return _without_list_marker(line)


def _is_rule(line: str) -> bool:
    marks = line.replace(" ", "").replace("\t", "")
    return (len(marks) >= 3 and len(set(marks)) == 1 and marks[0] in "-*_") or (bool(marks) and set(marks) == {"="})


def _without_list_marker(line: str) -> str:
    if line[:1] in ("-", "*", "+") and line[1:2] in (" ", "\t"):
        line = line[2:].lstrip()
    else:
        digits = len(line) - len(line.lstrip("0123456789"))
        marker = line[digits : digits + 1] in (".", ")") and line[digits + 1 : digits + 2] in (" ", "\t")
        if 1 <= digits <= 9 and marker:
            line = line[digits + 1 :].lstrip()
    for box in ("[ ] ", "[x] ", "[X] "):
        line = line.removeprefix(box)
    return line


def _markdown_inline(line: str) -> str:
    return plain_text(strip_emphasis(markdown_segments(line), MARKDOWN_EMPHASIS))
