"""The built-in generator: a script's scenes as its format gives them (``core.formats``), timed by their length.

Plain text makes one scene per non-empty line, timed from the line's length within 3..6 s (CONTRACT.md); a
screenplay's scenes keep their action and dialogue as frames and the time it takes to say and read them.
"""

from __future__ import annotations

from core.formats import ParsedScript, parse_script
from core.storyboard import SceneDraft, Storyboard, assemble, make_title


def source_scenes(parsed: ParsedScript) -> list[SceneDraft]:
    """The script's scenes as drafts: the frames its format gave, the suggested duration, no visual note yet."""
    return [
        SceneDraft(text=scene.text, frames=scene.frames, duration_s=scene.duration_s, visual=scene.heading)
        for scene in parsed.scenes
    ]


def title_of(parsed: ParsedScript) -> str:
    return parsed.title or make_title(parsed.scenes[0].text)


def generate_local(script: str, *, file_name: str | None = None, method: str = "local") -> Storyboard:
    """The storyboard the built-in generator makes of ``script`` (ValueError when it holds no scene)."""
    parsed = parse_script(script, file_name)
    return assemble(title_of(parsed), method, source_scenes(parsed))
