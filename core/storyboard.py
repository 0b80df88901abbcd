"""The storyboard model (CONTRACT.md, version "1.0") and the local generator.

Text is kept raw everywhere: escaping belongs to whoever renders it (the Telegram side escapes HTML).
Durations are computed in tenths of a second as integers, so start times add up exactly.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STORYBOARD_VERSION = "1.0"
LOCAL_MIN_SCENE_S = 3.0
LOCAL_MAX_SCENE_S = 6.0
CHARS_PER_SECOND = 15.0
FRAME_CHARS = 100  # the seed wrapped a frame to two lines of 50 characters
TITLE_CHARS = 60

GenerationMethod = Literal["lm", "local", "local_fallback", "local_heuristic"]


class Frame(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    visual: str | None = None


class Scene(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    start_time: float
    duration: float
    frames: list[Frame] = Field(min_length=1)

    @property
    def text(self) -> str:
        """The scene's words, its frames joined by single spaces (a screenplay's action and lines stay apart)."""
        return " ".join(frame.text.strip() for frame in self.frames if frame.text.strip())


class Storyboard(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: Literal["1.0"] = STORYBOARD_VERSION
    title: str
    generation_method: str
    total_duration: float
    scenes: list[Scene] = Field(min_length=1)

    def to_json(self) -> str:
        """The storyboard document as users and programs get it (UTF-8, no escaping of text)."""
        return self.model_dump_json(exclude_none=True, indent=2)

    @property
    def scene_count(self) -> int:
        return len(self.scenes)


class SceneDraft(BaseModel):
    """One scene before ids and start times are assigned: what the generators and the LM produce.

    ``frames`` are the scene's frames as its source gave them (a screenplay's action and dialogue); without them
    the scene's ``text`` is cut into frames. Either way no frame is longer than FRAME_CHARS.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    duration_s: float
    visual: str | None = None
    frames: tuple[str, ...] = ()


def drafts_of(storyboard: Storyboard) -> list[SceneDraft]:
    """A storyboard's scenes as drafts again, their frames as they are: to change and assemble anew."""
    return [
        SceneDraft(
            text=scene.text,
            frames=tuple(frame.text for frame in scene.frames),
            duration_s=scene.duration,
            visual=scene.frames[0].visual,
        )
        for scene in storyboard.scenes
    ]


def _tenths(seconds: float) -> int:
    return round(seconds * 10)


def assemble(title: str, method: str, drafts: list[SceneDraft]) -> Storyboard:
    """Give drafts their ids, frames and cumulative start times; the total is the exact sum."""
    scenes: list[Scene] = []
    start = 0
    for number, draft in enumerate(drafts, start=1):
        length = _tenths(draft.duration_s)
        frames = [
            Frame(id=f"frame_{number}_{i}", text=chunk, visual=draft.visual if i == 1 else None)
            for i, chunk in enumerate(_frames_of(draft), start=1)
        ]
        scenes.append(Scene(id=f"scene_{number}", start_time=start / 10, duration=length / 10, frames=frames))
        start += length
    return Storyboard(title=title, generation_method=method, total_duration=start / 10, scenes=scenes)


def _frames_of(draft: SceneDraft) -> list[str]:
    if not draft.frames:
        return split_frames(draft.text)
    return [chunk for frame in draft.frames for chunk in split_frames(frame)]


def split_frames(text: str) -> list[str]:
    """Cut a scene's text into frames of at most FRAME_CHARS, at a space where one is near.

    The cut keeps every character: ``"".join(split_frames(t)) == t``.
    """
    chunks: list[str] = []
    rest = text
    while len(rest) > FRAME_CHARS:
        space = rest.rfind(" ", 0, FRAME_CHARS)
        cut = space + 1 if space > 0 else FRAME_CHARS
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    return chunks


def script_lines(script: str) -> list[str]:
    """The non-empty lines of a script, stripped: one scene each. A line of nothing but white space and
    invisible format characters (zero-width spaces, direction marks, BOMs) counts as empty."""
    return [line.strip() for line in script.splitlines() if _visible(line)]


def _visible(line: str) -> bool:
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in line)


def make_title(script: str) -> str:
    lines = script_lines(script)
    first = lines[0] if lines else "Untitled"
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


def local_duration_s(line: str) -> float:
    return min(LOCAL_MAX_SCENE_S, max(LOCAL_MIN_SCENE_S, round(len(line) / CHARS_PER_SECOND, 1)))


def parse_storyboard(document: str) -> Storyboard:
    """Read a stored storyboard document back."""
    return Storyboard.model_validate_json(document)
