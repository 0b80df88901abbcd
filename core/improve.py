"""The built-in improver: what a note asks of the timing and of single scenes, done, and the rest said.

It reads a note in clauses ("make it 30 seconds, scene 3 longer; scene 2: a close-up of the cup") and understands:

- the pace of the whole: "faster", "too slow", "slower", "rushed" (and their Russian and Hindi words);
- a length for the whole: "make it 30 seconds", "a 1 minute ad", "under 20 s";
- one scene by number or place ("scene 3", "the 2nd scene", "the last scene", "the ending"): longer, shorter, a
  length ("scene 3 5 s"), a change ("scene 2 2 s longer"), or a note for its picture ("scene 2: show the cup").

A clause it cannot act on is kept, as written, in the revision's ``not_followed``; a wish the scene lengths cannot
meet (every scene already the shortest) is a ``Limit``. Without a note the rating decides, as before: slower for
1-2, tighter for 4-5, nothing for 3. The caller gets the storyboard and the honest ``Revision`` of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.revision import Limit, Revision, compare
from core.storyboard import SceneDraft, Storyboard, assemble

SHORTEST_SCENE_S = 1.5
LONGEST_SCENE_S = 30.0
FASTER_FACTOR = 0.75
SLOWER_FACTOR = 4 / 3
SCENE_LONGER_FACTOR = 1.5
SCENE_SHORTER_FACTOR = 2 / 3
SCENE_STEP_S = 1.0  # a scene made longer or shorter changes by at least this much
LOW_RATING_FACTOR = 1.2  # no note: the seed's rule
HIGH_RATING_FACTOR = 0.9
MAX_NOTE_CLAUSES = 40

FASTER = (
    "faster", "quicker", "shorter", "tighter", "too slow", "too long", "speed up", "speed it up", "drags",
    "less time", "snappier", "punchier",
    "быстрее", "короче", "динамичнее", "затянуто", "слишком медленно", "слишком долго", "меньше времени",
    "तेज़", "तेज", "छोटा", "जल्दी", "कम समय",
)  # fmt: skip
SLOWER = (
    "slower", "longer", "more time", "too fast", "too quick", "too short", "rushed", "slow down", "linger",
    "медленнее", "длиннее", "дольше", "больше времени", "слишком быстро", "торопливо",
    "धीमा", "धीरे", "लंबा", "ज़्यादा समय", "ज्यादा समय", "अधिक समय",
)  # fmt: skip
FIRST_WORDS = ("first", "opening", "beginning", "start", "intro", "перв", "начало", "पहला", "पहले", "शुरुआत")
LAST_WORDS = ("last", "final", "ending", "the end", "outro", "последн", "концовк", "финал", "आखिरी", "अंतिम", "अंत")
FILLER = frozenset(
    ("please", "pls", "thanks", "thank you", "ok", "okay", "also", "so", "just", "maybe",
     "пожалуйста", "спасибо", "просто", "कृपया", "धन्यवाद")
)  # fmt: skip
LEAD_WORDS = ("should", "needs to", "needs", "need", "must", "could", "would", "is", "to", "with", "has", "have")

_NUMBER = r"(\d{1,4}(?:[.,]\d{1,2})?)"
_SECONDS = re.compile(_NUMBER + r"\s*-?\s*(?:seconds?|secs?|s|sec\.|секунд[аы]?|сек\.?|с|सेकंड|सेकेंड)(?!\w)")
_MINUTES = re.compile(_NUMBER + r"\s*-?\s*(?:minutes?|mins?|минут[аы]?|мин\.?|मिनट)(?!\w)")
_ONE_MINUTE = re.compile(r"\b(?:a|one)\s+minute\b|\bминут[ау]\b(?!\s*\d)")
_HALF_MINUTE = re.compile(r"\bhalf\s+a\s+minute\b|\bполминуты\b")
_SCENE_NUMBER = re.compile(
    r"(?:scene|shot|сцен[аеуыой]?|кадр[аеу]?|दृश्य|सीन)\s*(?:no\.?\s*|number\s*|#|№\s*)?(\d{1,3})(?!\d)"
    r"|(\d{1,3})(?:st|nd|rd|th|-?я|-?й)?\s+(?:scene|сцен[аеуыой]?)"
)
_SCENE_WORD = re.compile(r"(?:scene|shot|сцен[аеуыой]?|दृश्य|सीन)")
_DELTA = re.compile(r"\bby\b|\+|\bmore\b|\bless\b|\bна\b|\bऔर\b")
_CLAUSE_SPLIT = re.compile(r"(?<!\d)[.;!?\n]+(?!\d)|,|\s+(?:and|but|also|then|и|а|но|और|लेकिन|तथा)\s+")
_LEADING_PREPOSITIONS = re.compile(r"^\s*(?:(?:in|on|for|at|the|в|на|में)\s+)+", re.IGNORECASE)
_SEPARATORS = " :-–—,\"'“”«»"


@dataclass
class _Plan:
    """What the note asks for, scene by scene (0-based), before it is applied."""

    pace: float | None = None
    total_s: float | None = None
    scene_factor: dict[int, float] = field(default_factory=dict)
    scene_length_s: dict[int, float] = field(default_factory=dict)
    scene_delta_s: dict[int, float] = field(default_factory=dict)
    visuals: dict[int, str] = field(default_factory=dict)
    not_followed: list[str] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)


def improve(storyboard: Storyboard, rating: int, note: str | None = None) -> tuple[Storyboard, Revision]:
    """The storyboard with the note (or, without one, the rating) applied, and the account of what changed."""
    plan = read_note(note or "", scene_count=storyboard.scene_count)
    if not (note or "").strip():
        plan.pace = LOW_RATING_FACTOR if rating <= 2 else HIGH_RATING_FACTOR if rating >= 4 else None
    tenths = _apply_timing(plan, [round(scene.duration * 10) for scene in storyboard.scenes])
    drafts = [
        SceneDraft(
            text="".join(frame.text for frame in scene.frames),
            frames=tuple(frame.text for frame in scene.frames),
            duration_s=tenths[i] / 10,
            visual=plan.visuals.get(i, scene.frames[0].visual),
        )
        for i, scene in enumerate(storyboard.scenes)
    ]
    improved = assemble(storyboard.title, "local_heuristic", drafts)
    revision = compare(
        storyboard, improved, not_followed=plan.not_followed, limits=plan.limits, note_given=bool((note or "").strip())
    )
    return improved, revision


def read_note(note: str, *, scene_count: int) -> _Plan:
    """The note's clauses turned into a plan; a clause understood in no way goes to ``not_followed``."""
    plan = _Plan()
    pace_words: set[float] = set()
    last_visual: int | None = None
    for clause in [c.strip(_SEPARATORS) for c in _CLAUSE_SPLIT.split(note)][:MAX_NOTE_CLAUSES]:
        if not clause or clause.lower() in FILLER:
            continue
        scene = _scene_of(clause.lower(), scene_count)
        if scene is not None and not 0 <= scene < scene_count:
            plan.limits.append(Limit.NO_SUCH_SCENE)
            plan.not_followed.append(clause)
            last_visual = None
            continue
        understood = _read_clause(clause, scene, plan, pace_words)
        if understood == "visual":
            last_visual = scene
        elif understood == "nothing" and last_visual is not None and scene is None:
            plan.visuals[last_visual] += ", " + clause  # "scene 2: show the cup, close up"
        elif understood == "nothing":
            plan.not_followed.append(clause)
            last_visual = None
        else:
            last_visual = None
    if len(pace_words) > 1:  # "faster and slower": no way to do both
        plan.pace = None
    return plan


def _read_clause(clause: str, scene: int | None, plan: _Plan, pace_words: set[float]) -> str:
    """Fill the plan from one clause; what it was: "timing", "visual" or "nothing"."""
    lower = clause.lower()
    seconds = _seconds(lower)
    direction = _direction(lower)
    if scene is None:
        if seconds is not None:
            plan.total_s = seconds
            return "timing"
        if direction:
            factor = FASTER_FACTOR if direction < 0 else SLOWER_FACTOR
            pace_words.add(factor)
            plan.pace = factor
            return "timing"
        return "nothing"
    if seconds is not None and direction and _DELTA.search(lower):
        plan.scene_delta_s[scene] = direction * seconds
        return "timing"
    if seconds is not None:
        plan.scene_length_s[scene] = seconds
        return "timing"
    if direction:
        plan.scene_factor[scene] = SCENE_SHORTER_FACTOR if direction < 0 else SCENE_LONGER_FACTOR
        return "timing"
    picture = _picture_note(clause)
    if picture:
        plan.visuals[scene] = picture
        return "visual"
    return "nothing"


def _scene_of(lower: str, scene_count: int) -> int | None:
    """The 0-based scene a clause is about, if it names one (a number past the end is returned as it is)."""
    match = _SCENE_NUMBER.search(lower)
    if match:
        return int(match.group(1) or match.group(2)) - 1
    names_scene = _SCENE_WORD.search(lower) is not None
    if any(word in lower for word in LAST_WORDS) and (names_scene or "ending" in lower or "the end" in lower):
        return scene_count - 1
    if any(word in lower for word in ("ending", "концовк", "финал")):
        return scene_count - 1
    if names_scene and any(word in lower for word in FIRST_WORDS):
        return 0
    return None


def _seconds(lower: str) -> float | None:
    if match := _MINUTES.search(lower):
        return float(match.group(1).replace(",", ".")) * 60
    if match := _SECONDS.search(lower):
        return float(match.group(1).replace(",", "."))
    if _HALF_MINUTE.search(lower):
        return 30.0
    if _ONE_MINUTE.search(lower):
        return 60.0
    return None


def _direction(lower: str) -> int:
    """-1 for shorter or faster, +1 for longer or slower, 0 for neither or both."""
    faster = any(word in lower for word in FASTER)
    slower = any(word in lower for word in SLOWER)
    return 0 if faster == slower else (-1 if faster else 1)


def _picture_note(clause: str) -> str | None:
    """What a clause that names a scene says of it, once the scene's name is taken out ("scene 2: show the cup")."""
    rest = _SCENE_NUMBER.sub(" ", clause, count=1)
    rest = _LEADING_PREPOSITIONS.sub("", rest)  # "in scene 2 ..." -> "in  ..." -> "..."
    rest = " ".join(rest.split()).strip(_SEPARATORS)
    lowered = rest.lower()
    for lead in LEAD_WORDS:
        if lowered.startswith(lead + " "):
            rest = rest[len(lead) + 1 :]
            break
    rest = rest.strip(_SEPARATORS)
    return rest if len(rest.split()) >= 2 else None


def _apply_timing(plan: _Plan, tenths: list[int]) -> list[int]:
    low, high = round(SHORTEST_SCENE_S * 10), round(LONGEST_SCENE_S * 10)
    result = list(tenths)
    fixed: set[int] = set()
    if plan.pace is not None:
        result = [_bounded(round(t * plan.pace), low, high) for t in result]
        if result == tenths:
            plan.limits.append(Limit.SHORTEST if plan.pace < 1 else Limit.LONGEST)
    for i, factor in plan.scene_factor.items():
        step = round(SCENE_STEP_S * 10)
        scaled = round(tenths[i] * factor)
        wanted = max(scaled, tenths[i] + step) if factor > 1 else min(scaled, tenths[i] - step)
        result[i] = _bounded(wanted, low, high)
        if result[i] == tenths[i]:
            plan.limits.append(Limit.SHORTEST if factor < 1 else Limit.LONGEST)
        fixed.add(i)
    for i, delta_s in plan.scene_delta_s.items():
        result[i] = _bounded(tenths[i] + round(delta_s * 10), low, high)
        fixed.add(i)
    for i, length_s in plan.scene_length_s.items():
        wanted = round(length_s * 10)
        result[i] = _bounded(wanted, low, high)
        if result[i] != wanted:
            plan.limits.append(Limit.SHORTEST if wanted < low else Limit.LONGEST)
        fixed.add(i)
    if plan.total_s is not None:
        result = _fit_total(result, round(plan.total_s * 10), fixed, low, high, plan)
    return result


def _fit_total(tenths: list[int], target: int, fixed: set[int], low: int, high: int, plan: _Plan) -> list[int]:
    """Scale the scenes the note did not set so that all add up to ``target``; as near as the bounds allow."""
    free = [i for i in range(len(tenths)) if i not in fixed] or list(range(len(tenths)))
    others = sum(t for i, t in enumerate(tenths) if i not in free)
    room = target - others
    current = sum(tenths[i] for i in free)
    result = list(tenths)
    for i in free:
        result[i] = _bounded(round(tenths[i] * room / current), low, high) if current else low
    for _ in range(len(free) * 2):  # hand the rounding's tenths out one at a time, to scenes that can take them
        gap = target - sum(result)
        if gap == 0:
            break
        step = 1 if gap > 0 else -1
        movable = [i for i in free if low <= result[i] + step <= high]
        if not movable:
            break
        for i in sorted(movable, key=lambda i: -result[i])[: abs(gap)]:
            result[i] += step
    if sum(result) != target:
        plan.limits.append(Limit.TARGET)
    return result


def _bounded(value: int, low: int, high: int) -> int:
    return min(high, max(low, value))
