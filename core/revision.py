"""What an improvement did to its parent, told honestly: the scenes it changed, and what of the note it could not do.

A ``Revision`` is stored with the improved version (``storyboard_versions.revision``) and shown with its result, so a
user never reads "improved" over a version that is the same as the one they rated. ``changes`` comes from comparing
the two storyboards, whoever made the new one; ``not_followed`` and ``limits`` are what the improver knows it left
undone (the built-in one knows exactly; an LM says nothing, so it is empty then).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from core.storyboard import Storyboard


class Limit(StrEnum):
    """Why a wish about timing was met only in part."""

    SHORTEST = "shortest"  # scenes already as short as a scene can be
    LONGEST = "longest"  # scenes already as long as a scene can be
    TARGET = "target"  # the total asked for is outside what the scenes can add up to
    NO_SUCH_SCENE = "no_such_scene"  # a scene number past the last scene


class SceneChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    scene: int  # 1-based, as users count
    duration_before: float
    duration_after: float
    visual_before: str | None = None
    visual_after: str | None = None

    @property
    def duration_changed(self) -> bool:
        return self.duration_before != self.duration_after

    @property
    def visual_changed(self) -> bool:
        return self.visual_before != self.visual_after


class Revision(BaseModel):
    model_config = ConfigDict(frozen=True)

    total_before: float
    total_after: float
    changes: list[SceneChange] = []
    not_followed: list[str] = []  # parts of the note, as the user wrote them, that no change answers
    limits: list[Limit] = []
    note_given: bool = False

    @property
    def unchanged(self) -> bool:
        return not self.changes

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


def compare(
    before: Storyboard,
    after: Storyboard,
    *,
    not_followed: list[str] | None = None,
    limits: list[Limit] | None = None,
    note_given: bool = False,
) -> Revision:
    """The scene-by-scene difference of two storyboards of the same scenes (an anchored improvement keeps them)."""
    changes = []
    for number, (old, new) in enumerate(zip(before.scenes, after.scenes, strict=False), start=1):
        old_visual, new_visual = old.frames[0].visual, new.frames[0].visual
        if old.duration == new.duration and old_visual == new_visual:  # the words are the script's, always
            continue
        changes.append(
            SceneChange(
                scene=number,
                duration_before=old.duration,
                duration_after=new.duration,
                visual_before=old_visual,
                visual_after=new_visual,
            )
        )
    return Revision(
        total_before=before.total_duration,
        total_after=after.total_duration,
        changes=changes,
        not_followed=list(not_followed or []),
        limits=list(dict.fromkeys(limits or [])),
        note_given=note_given,
    )


def parse_revision(document: str | None) -> Revision | None:
    return Revision.model_validate_json(document) if document else None
