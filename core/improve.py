"""The built-in improver: what a note asks of the timing and of single scenes, done, and the rest said.

It reads a note in clauses ("make it 30 seconds, scene 3 longer; scene 2: a close-up of the cup") and understands:

- the pace of the whole: "faster", "too slow", "slower", "rushed", "half as long" (and Russian and Hindi words);
- a length for the whole: "make it 30 seconds", "a 1 minute ad", "under 20 s", or a change: "5 seconds longer";
- scenes by number or place ("scene 3", "scenes 2 and 3", "the 2nd scene", "the last scene", "the ending"):
  longer, shorter, "twice as long", a length ("scene 3 5 s"), a change ("scene 2 2 s longer", "add 2 seconds to
  scene 3"), or a note for their picture ("scene 2: show the cup").

A clause it cannot act on is kept, as written, in the revision's ``not_followed``, and so are wishes that contradict
each other; a wish the scene lengths cannot meet (every scene already the shortest) is a ``Limit``. Without a note
the rating decides, as before: slower for 1-2, tighter for 4-5, nothing for 3. The caller gets the storyboard and
the honest ``Revision`` of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.revision import Limit, Revision, compare
from core.storyboard import Storyboard, assemble, drafts_of

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
FILLER = frozenset(
    ("please", "pls", "thanks", "thank you", "ok", "okay", "also", "so", "just", "maybe",
     "пожалуйста", "спасибо", "просто", "कृपया", "धन्यवाद")
)  # fmt: skip
LEAD_WORDS = ("should", "needs to", "needs", "need", "must", "could", "would", "is", "to", "with", "has", "have")
# Words of timing: a clause holding one is about time, never a note for a scene's picture.
TIME_WORDS = (
    "second", "sec", "minute", "long", "short", "time", "fast", "slow", "quick", "twice", "double", "half", "pace",
    "секунд", "минут", "дольш", "длин", "корот", "быстр", "медлен", "времен", "вдвое",
    "सेकंड", "मिनट", "लंबा", "छोटा", "तेज", "धीम", "समय", "दोगुना", "आधा",
)  # fmt: skip

_NUMBER = r"(\d{1,4}(?:[.,]\d{1,2})?)"
_SECOND_UNIT = r"(?:seconds?|secs?|sec\.|s|секунд[аы]?|сек\.?|с|सेकंड|सेकेंड)"
_MINUTE_UNIT = r"(?:minutes?|mins?|минут[аы]?|мин\.?|मिनट)"
_MORE = r"(?:(?:more|extra|additional|fewer|less|больше|меньше)\s+)?"  # "3 more seconds"
_SECONDS = re.compile(_NUMBER + r"\s*-?\s*" + _MORE + _SECOND_UNIT + r"(?!\w)")
_MINUTES = re.compile(_NUMBER + r"\s*-?\s*" + _MORE + _MINUTE_UNIT + r"(?!\w)")
_ONE_MINUTE = re.compile(r"\b(?:a|one)\s+minute\b|\bминут[ау]\b(?!\s*\d)")
_HALF_MINUTE = re.compile(r"\bhalf\s+a\s+minute\b|\bполминуты\b")
_SCENE_WORDS = r"(?:scenes?|shots?|сцен[аеуыойм]?|сцены|кадр[аеуы]?|दृश्य|सीन)"
_NOT_A_LENGTH = r"(?!\d)(?!\s*-?\s*(?:" + _SECOND_UNIT + "|" + _MINUTE_UNIT + r")(?!\w))"
# "scenes 2, 3 and 5": joined into "scenes 2+3+5" before the note is cut into clauses
_SCENE_LIST = re.compile(_SCENE_WORDS + r"\s*(\d{1,3}(?:\s*(?:,|&|\band\b|\bи\b|और)\s*\d{1,3}" + _NOT_A_LENGTH + r")+)")
_LIST_SEPARATOR = re.compile(r"\s*(?:,|&|\band\b|\bи\b|और)\s*")
_SCENE_NUMBER = re.compile(
    _SCENE_WORDS + r"\s*(?:no\.?\s*|number\s*|#|№\s*)?(\d{1,3}(?:\+\d{1,3})*)" + _NOT_A_LENGTH
    + r"|(\d{1,3})(?:st|nd|rd|th|-?я|-?й)?\s+(?:scene|shot|сцен[аеуыой]?|दृश्य|सीन)"
)  # fmt: skip
_ORDINAL_WORDS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5}
_ORDINAL = re.compile(r"\b(second|third|fourth|fifth)\s+(?:scene|shot)\b")
_FIRST = re.compile(
    r"\b(?:first|opening)\s+(?:scene|shot)\b|\b(?:beginning|opening|intro)\b|\bперв\w*\s+сцен|\bначал[оеау]\b"
    r"|(?:पहला|पहले)\s+(?:दृश्य|सीन)|शुरुआत"
)
_LAST = re.compile(
    r"\b(?:last|final)\s+(?:scene|shot)\b|\b(?:ending|outro)\b|\bthe\s+end\b|\bпоследн\w*\s+сцен|концовк|финал"
    r"|(?:आखिरी|अंतिम)\s+(?:दृश्य|सीन)"
)
_PLUS = re.compile(r"\b(?:more|add|added|extra|plus|longer)\b|\+|больше|добав|дольше|длиннее|ज़्यादा|ज्यादा|अधिक")
_MINUS = re.compile(r"\b(?:less|fewer|cut|remove|minus|shorter|trim)\b|меньше|короче|убер|убав|\bकम\b")
_BY = re.compile(r"\bby\b|\bна\b")
_TWICE = re.compile(r"\b(?:twice|double|doubled)\b|\b2\s*x\b|\b2\s+times\b|вдвое\s+(?:длиннее|дольше)|दोगुना")
_HALF = re.compile(r"\b(?:half|halve)\b|вдвое\s+(?:короче|быстрее)|आधा")
_CLAUSE_SPLIT = re.compile(
    r"(?<!\d)[.;!?\n]+|[.;!?\n]+(?!\d)|(?<!\d),|,(?!\d)|\s+(?:and|but|also|then|и|а|но|और|लेकिन|तथा)\s+"
)
_LEADING_PREPOSITIONS = re.compile(r"^\s*(?:(?:in|on|for|at|the|в|на|में)\s+)+", re.IGNORECASE)
_SEPARATORS = " :-–—,\"'“”«»"


@dataclass
class _Plan:
    """What the note asks for, scene by scene (0-based), before it is applied."""

    pace: float | None = None
    total_s: float | None = None
    total_delta_s: float | None = None
    scene_factor: dict[int, float] = field(default_factory=dict)
    scene_length_s: dict[int, float] = field(default_factory=dict)
    scene_delta_s: dict[int, float] = field(default_factory=dict)
    visuals: dict[int, str] = field(default_factory=dict)
    not_followed: list[str] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    asked: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # scene -> (longer +1 / shorter -1, clause)


def improve(storyboard: Storyboard, rating: int, note: str | None = None) -> tuple[Storyboard, Revision]:
    """The storyboard with the note (or, without one, the rating) applied, and the account of what changed."""
    plan = read_note(note or "", scene_count=storyboard.scene_count)
    if not (note or "").strip():
        plan.pace = LOW_RATING_FACTOR if rating <= 2 else HIGH_RATING_FACTOR if rating >= 4 else None
    tenths = _apply_timing(plan, [round(scene.duration * 10) for scene in storyboard.scenes])
    drafts = [
        draft.model_copy(update={"duration_s": tenths[i] / 10, "visual": plan.visuals.get(i, draft.visual)})
        for i, draft in enumerate(drafts_of(storyboard))
    ]
    improved = assemble(storyboard.title, "local_heuristic", drafts)
    revision = compare(
        storyboard, improved, not_followed=plan.not_followed, limits=plan.limits, note_given=bool((note or "").strip())
    )
    return improved, revision


def read_note(note: str, *, scene_count: int) -> _Plan:
    """The note's clauses turned into a plan; a clause understood in no way goes to ``not_followed``, and so do
    wishes that contradict each other ("faster and slower", "scene 2 longer, scene 2 shorter")."""
    plan = _Plan()
    pace_words: set[float] = set()
    last_visual: list[int] = []  # the scenes the last clause gave a picture note: a clause after it may go on
    note = _SCENE_LIST.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + _LIST_SEPARATOR.sub("+", m.group(1)), note)
    for clause in [c.strip(_SEPARATORS) for c in _CLAUSE_SPLIT.split(note) if c][:MAX_NOTE_CLAUSES]:
        if not clause or clause.lower() in FILLER:
            continue
        scenes = _scenes_of(clause.lower(), scene_count)
        if scenes is not None and not all(0 <= scene < scene_count for scene in scenes):
            plan.limits.append(Limit.NO_SUCH_SCENE)
            plan.not_followed.append(clause.replace("+", ", "))
            last_visual = []
            continue
        understood = _read_clause(clause, scenes, plan, pace_words)
        if understood == "visual" and scenes:
            last_visual = scenes
        elif understood == "nothing" and last_visual and scenes is None and not _about_time(clause):
            for scene in last_visual:  # "scene 2: show the cup, close up"
                plan.visuals[scene] += ", " + clause
        elif understood == "nothing":
            plan.not_followed.append(clause.replace("+", ", "))
            last_visual = []
        else:
            last_visual = []
    if len(pace_words) > 1:  # "faster and slower": no way to do both
        plan.pace = None
    _drop_contradictions(plan)
    return plan


def _read_clause(clause: str, scenes: list[int] | None, plan: _Plan, pace_words: set[float]) -> str:
    """Fill the plan from one clause; what it was: "timing", "visual" or "nothing"."""
    lower = clause.lower()
    seconds = _seconds(lower)
    sign = _change_sign(lower)
    factor = _multiplier(lower) if seconds is None else None
    direction = _direction(lower)
    if scenes is None:
        if seconds is not None and sign:
            plan.total_delta_s = sign * seconds
        elif seconds is not None:
            plan.total_s = seconds
        elif factor is not None or direction:
            factor = factor or (FASTER_FACTOR if direction < 0 else SLOWER_FACTOR)
            pace_words.add(factor)
            plan.pace = factor
        else:
            return "nothing"
        return "timing"
    for scene in scenes:
        if seconds is not None and sign:
            plan.scene_delta_s[scene] = sign * seconds
            plan.asked.setdefault(scene, []).append((sign, clause))
        elif seconds is not None:
            plan.scene_length_s[scene] = seconds
            plan.asked.setdefault(scene, []).append((0, clause))
        elif factor is not None or direction:
            chosen = factor or (SCENE_SHORTER_FACTOR if direction < 0 else SCENE_LONGER_FACTOR)
            plan.scene_factor[scene] = chosen
            plan.asked.setdefault(scene, []).append((1 if chosen > 1 else -1, clause))
        else:
            picture = None if _about_time(clause) else _picture_note(clause)
            if not picture:
                return "nothing"
            plan.visuals[scene] = picture
    return "visual" if scenes and scenes[-1] in plan.visuals and not plan.asked.get(scenes[-1]) else "timing"


def _drop_contradictions(plan: _Plan) -> None:
    """A scene asked to be both longer and shorter, or given two lengths, is left as it is, and the note's words
    for it are named as not done."""
    for scene, wishes in plan.asked.items():
        signs = {sign for sign, _ in wishes}
        if len(wishes) > 1 and (signs == {1, -1} or 0 in signs):
            for store in (plan.scene_factor, plan.scene_delta_s, plan.scene_length_s):
                store.pop(scene, None)
            plan.not_followed.extend(clause.replace("+", ", ") for _, clause in wishes)


def _scenes_of(lower: str, scene_count: int) -> list[int] | None:
    """The 0-based scenes a clause is about, if it names any (numbers past the end are returned as they are)."""
    match = _SCENE_NUMBER.search(lower)
    if match:
        return [int(n) - 1 for n in (match.group(1) or match.group(2)).split("+")]
    if ordinal := _ORDINAL.search(lower):
        return [_ORDINAL_WORDS[ordinal.group(1)] - 1]
    if _LAST.search(lower):
        return [scene_count - 1]
    if _FIRST.search(lower):
        return [0]
    return None


def _seconds(lower: str) -> float | None:
    if match := _MINUTES.search(lower):
        return float(match.group(1).replace(",", ".")) * 60
    if _HALF_MINUTE.search(lower):
        return 30.0
    if match := _SECONDS.search(lower):
        return float(match.group(1).replace(",", "."))
    if _ONE_MINUTE.search(lower):
        return 60.0
    return None


def _change_sign(lower: str) -> int:
    """For a clause with seconds: +1 when they are to be added ("2 s longer", "add 3 seconds"), -1 when taken
    away, 0 when they are the length itself ("scene 3 5 s", "make it 30 seconds")."""
    plus, minus = _PLUS.search(lower) is not None, _MINUS.search(lower) is not None
    if plus != minus:
        return 1 if plus else -1
    return _direction(lower) if _BY.search(lower) else 0


def _multiplier(lower: str) -> float | None:
    if _TWICE.search(lower):
        return 2.0
    if _HALF.search(lower):
        return 0.5
    return None


def _direction(lower: str) -> int:
    """-1 for shorter or faster, +1 for longer or slower, 0 for neither or both."""
    faster = any(word in lower for word in FASTER)
    slower = any(word in lower for word in SLOWER)
    return 0 if faster == slower else (-1 if faster else 1)


def _about_time(clause: str) -> bool:
    lower = clause.lower()
    return any(word in lower for word in TIME_WORDS) or _SECONDS.search(lower) is not None


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
    if plan.total_delta_s is not None and plan.total_s is None:
        plan.total_s = sum(tenths) / 10 + plan.total_delta_s
    if plan.total_s is not None:
        result = _fit_total(result, round(plan.total_s * 10), fixed, low, high, plan)
    return result


def _fit_total(tenths: list[int], target: int, fixed: set[int], low: int, high: int, plan: _Plan) -> list[int]:
    """Scale the scenes the note did not set so that all add up to ``target`` exactly; a scene the scaling pushes
    past a bound stays at it and the others are scaled again. A Limit when the bounds cannot get there."""
    n = len(tenths)
    free = [i for i in range(n) if i not in fixed] or list(range(n))
    result, pinned = list(tenths), set()
    while True:
        moving = [i for i in free if i not in pinned]
        room = target - sum(result[i] for i in range(n) if i not in moving)
        base = sum(tenths[i] for i in moving)
        newly = False
        for i in moving:
            wanted = round(tenths[i] * room / base) if base > 0 and room > 0 else low
            if not low <= wanted <= high:
                pinned.add(i)
                newly = True
            result[i] = _bounded(wanted, low, high)
        if not newly or len(pinned) == len(free):
            break
    gap = target - sum(result)
    while gap:  # the rounding's tenths, one at a time, to the longest scenes that can take them
        step = 1 if gap > 0 else -1
        movable = sorted((i for i in free if low <= result[i] + step <= high), key=lambda i: -result[i])
        if not movable:
            break
        for i in movable[: abs(gap)]:
            result[i] += step
            gap -= step
    if gap:
        plan.limits.append(Limit.TARGET)
    return result


def _bounded(value: int, low: int, high: int) -> int:
    return min(high, max(low, value))
