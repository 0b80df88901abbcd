"""What the LM must answer (CONTRACT.md, "LM protocol"), the JSON schema asked for, and the checks of a reply.

One pydantic definition, ``ReplyStoryboard``, gives both the JSON schema sent in ``response_format`` and the
parser of the reply. Parsing is pure: ``parse_reply(content)`` returns an ``LMDraft`` or raises
``StoryboardInvalidError``.

Ranges are enforced here, never passed through: a duration outside ``MIN_SCENE_S..MAX_SCENE_S`` is clamped,
one that is not a finite positive number rejects the reply; blank scenes are dropped; text stays raw.

A reply is untrusted input (the prompt asks the model to copy the user's script), so parsing costs at most
linear time in its length, which is capped: JSON is tried first, fences are found by plain string search (a
regex over ``` and whitespace backtracked with the cube of the input), and JSON nested too deep to load is an
invalid reply like any other, not a RecursionError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import StoryboardInvalidError
from core.storyboard import SceneDraft, make_title

MIN_SCENE_S = 1.0
MAX_SCENE_S = 30.0
MAX_TITLE_CHARS = 200
DEFAULT_MAX_SCENES = 300
MAX_REPLY_CHARS = 1_000_000  # a storyboard of 300 scenes is a few hundred kB at most
MAX_FIELD_CHARS = 20_000  # a scene's text (a script is at most MAX_SCRIPT_CHARS), a visual note, the title
FENCE = "```"
# JSON-schema keywords that strict structured output (OpenAI) refuses or that only add noise. maxLength too: the
# parser enforces it, and a grammar-constrained server (llama.cpp) turns "maxLength": 20000 into a rule of 20 000
# repetitions, which crashed llama-cpp-python's server (a stack overflow) on the first reply.
_DROPPED_KEYWORDS = frozenset({"title", "default", "$defs", "maxLength"})


class ReplyScene(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    text: str = Field(max_length=MAX_FIELD_CHARS)
    duration: float  # strict: an int is fine, a bool or a string is not
    visual: str | None = Field(default=None, max_length=MAX_FIELD_CHARS)


class ReplyStoryboard(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    title: str = Field(default="", max_length=MAX_FIELD_CHARS)
    scenes: list[ReplyScene]


@dataclass(frozen=True, slots=True)
class LMDraft:
    """A validated LM reply; ``assemble(draft.title, "lm", draft.scenes)`` makes the storyboard."""

    title: str
    scenes: list[SceneDraft]


def reply_json_schema(*, scene_count: int | None = None) -> dict[str, object]:
    """The schema of ``ReplyStoryboard`` in the strict form: refs inlined, every property required, no extras;
    with ``scene_count``, a reply of exactly that many scenes (a server that constrains its output to the schema,
    llama.cpp's, then cannot merge or drop scenes; one that does not is held to it by ``core.anchor``).

    ``visual`` stays nullable, so "required" only means the model writes ``"visual": null`` when it has none.
    """
    raw = ReplyStoryboard.model_json_schema()
    definitions = raw.get("$defs", {})
    schema = _strict_node(raw, definitions)
    assert isinstance(schema, dict)
    if scene_count is not None:
        scenes = schema["properties"]["scenes"]  # type: ignore[index]
        scenes["minItems"] = scenes["maxItems"] = scene_count
    return schema


def _strict_node(node: object, definitions: dict[str, object]) -> object:
    if isinstance(node, list):
        return [_strict_node(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _strict_node(definitions[str(node["$ref"]).rsplit("/", 1)[-1]], definitions)
    out: dict[str, object] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _strict_node(sub, definitions) for name, sub in value.items()}
        else:
            out[key] = _strict_node(value, definitions)
    properties = out.get("properties")
    if out.get("type") == "object" and isinstance(properties, dict):
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out


def parse_reply(content: str, *, max_scenes: int = DEFAULT_MAX_SCENES) -> LMDraft:
    """Turn the assistant's message content into a draft, or raise ``StoryboardInvalidError``."""
    document = _load_json(content)
    try:
        reply = ReplyStoryboard.model_validate(document)
    except ValidationError as exc:
        raise StoryboardInvalidError(f"reply does not match the schema: {_first_problem(exc)}") from exc
    scenes = [_scene(scene) for scene in reply.scenes if scene.text.strip()]
    if not scenes:
        raise StoryboardInvalidError("reply has no scene with text")
    if len(scenes) > max_scenes:
        raise StoryboardInvalidError(f"reply has {len(scenes)} scenes, more than {max_scenes}")
    return LMDraft(title=_title(reply.title, scenes), scenes=scenes)


def _load_json(content: str) -> object:
    """The JSON document in ``content``: bare, in a ``` fence (prose around is ignored), or between braces."""
    if len(content) > MAX_REPLY_CHARS:
        raise StoryboardInvalidError(f"reply content is {len(content)} characters, more than {MAX_REPLY_CHARS}")
    for candidate in _candidates(content):
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            continue
    raise StoryboardInvalidError("reply content is not JSON")


def _candidates(content: str) -> Iterator[str]:
    """The texts that may be the document, cheapest first; each found in one pass over ``content``."""
    yield content.strip()
    start = content.find(FENCE)
    while start >= 0:
        end = content.find(FENCE, start + len(FENCE))
        if end < 0:
            break
        body = content[start + len(FENCE) : end].lstrip(" \t")
        if body[:4].lower() == "json":  # ```json
            body = body[4:]
        yield body.strip()
        start = content.find(FENCE, end + len(FENCE))
    first, last = content.find("{"), content.rfind("}")
    if 0 <= first < last:
        yield content[first : last + 1]


def _scene(scene: ReplyScene) -> SceneDraft:
    duration = float(scene.duration)
    if not math.isfinite(duration) or duration <= 0:
        raise StoryboardInvalidError(f"scene duration {scene.duration!r} is not a positive number")
    visual = scene.visual.strip() if scene.visual else None
    return SceneDraft(
        text=scene.text.strip(),
        duration_s=min(MAX_SCENE_S, max(MIN_SCENE_S, duration)),
        visual=visual or None,
    )


def _title(title: str, scenes: list[SceneDraft]) -> str:
    title = title.strip()
    if not title:
        return make_title(scenes[0].text)
    return title[:MAX_TITLE_CHARS].rstrip()


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_input=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or "reply"
    return f"{location}: {error['msg']}"
