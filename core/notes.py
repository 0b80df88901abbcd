"""A user's note on a storyboard ("make it 30 seconds, scene 3 longer; scene 2: a close-up of the cup") read into a
``Plan`` of what to change, in English, Russian or Hindi; ``core.improve`` applies it.

The note is read in clauses. A clause may speak of the whole or of scenes, named by number ("scene 3", "scenes 2
and 3", "scene two"), by place ("the first scene", "the ending") or all at once ("every scene"), and ask for:

- a pace: "faster", "too slow", "twice as fast", "half as long", "10% shorter", "scene 2 3x longer";
- a length: "make it 30 seconds", "a 1 minute 30 s ad", "scene 3 5 s", "every scene 3 seconds";
- a change of length: "5 seconds longer", "add 2 seconds to scene 3", "extend scene 2 by 2 s", "scene 2 -1 s";
- a cap: "under 20 s", "at most a minute" (nothing changes when the storyboard is within it already);
- a note for a scene's picture: "scene 2: show the cup", "add a dog to scene 2".

What it cannot do goes, as written, to ``not_followed``: a clause it does not understand, one that says "not" of
a timing ("don't make it longer"), one with two amounts it cannot tell apart, wishes that contradict each other
("faster and slower", "scene 2 longer, scene 2 shorter", two totals), and asks to add or remove scenes (the
scenes are the script's). All matching is linear: a note is at most 500 characters, read in at most 40 clauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.revision import Limit

FASTER_FACTOR = 0.75
SLOWER_FACTOR = 4 / 3
SCENE_LONGER_FACTOR = 1.5
SCENE_SHORTER_FACTOR = 2 / 3
MAX_NOTE_CLAUSES = 40

FASTER = (
    "faster", "quicker", "shorter", "tighter", "too slow", "too long", "speed up", "speed it up", "drags",
    "less time", "snappier", "punchier", "shorten", "reduce", "condense",
    "быстрее", "короче", "динамичнее", "затянуто", "слишком медленно", "слишком долго", "меньше времени", "сократи",
    "तेज़", "तेज", "छोटा", "छोटे", "जल्दी", "कम समय", "घटा",
)  # fmt: skip
SLOWER = (
    "slower", "longer", "more time", "too fast", "too quick", "too short", "rushed", "slow down", "linger",
    "lengthen", "extend", "stretch", "prolong",
    "медленнее", "длиннее", "дольше", "больше времени", "слишком быстро", "торопливо", "растяни", "удлини",
    "धीमा", "धीरे", "लंबा", "लंबे", "लम्बा", "ज़्यादा समय", "ज्यादा समय", "अधिक समय", "बढ़ा",
)  # fmt: skip
FILLER = frozenset(
    ("please", "pls", "thanks", "thank you", "ok", "okay", "also", "so", "just", "maybe",
     "пожалуйста", "спасибо", "просто", "कृपया", "धन्यवाद")
)  # fmt: skip
LEAD_WORDS = ("should", "needs to", "needs", "need", "must", "could", "would", "is", "to", "with", "has", "have")
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}  # fmt: skip
RU_ORDINALS = {"перв": 1, "втор": 2, "трет": 3, "четв": 4, "пят": 5, "шест": 6, "седьм": 7, "восьм": 8}
HI_ORDINALS = {"पहला": 1, "पहले": 1, "दूसरा": 2, "दूसरे": 2, "तीसरा": 3, "तीसरे": 3, "चौथा": 4, "चौथे": 4}

_NUMBER = r"(\d{1,4}(?:[.,]\d{1,2})?)"
_SECOND_UNIT = r"(?:seconds?|secs?|sec\.|s|секунд[аыу]?|сек\.?|с|सेकंड|सेकेंड)"
_MINUTE_UNIT = r"(?:minutes?|mins?|минут[аыу]?|мин\.?|मिनट)"
_MORE = r"(?:(?:more|extra|additional|fewer|less|больше|меньше)\s+)?"  # "3 more seconds"
_SECONDS = re.compile(_NUMBER + r"[ \t]?-?[ \t]?" + _MORE + _SECOND_UNIT + r"(?!\w)")
_MINUTES = re.compile(_NUMBER + r"[ \t]?-?[ \t]?" + _MORE + _MINUTE_UNIT + r"(?!\w)")
_ONE_MINUTE = re.compile(r"\b(?:a|one)\s+minute\b|\bминут[ау]\b(?!\s*\d)")
_HALF_MINUTE = re.compile(r"\bhalf\s+a\s+minute\b|\bполминуты\b")
_PERCENT = re.compile(r"(\d{1,3})\s?%")
_TIMES = re.compile(r"\b(\d{1,2}(?:[.,]\d)?)\s?(?:x|×|times)(?!\w)")
_SCENE_WORD = re.compile(r"\b(?:scenes?|shots?)\b|сцен|кадр|दृश्य|सीन")
_SCENE_WORDS = r"(?:scenes?|shots?|сцен[аеуыойм]?|сцены|кадр[аеуы]?|दृश्य|सीन)"
_NOT_A_LENGTH = r"(?!\d)(?![ \t]?-?[ \t]?(?:" + _SECOND_UNIT + "|" + _MINUTE_UNIT + r")(?!\w))"
# "scenes 2, 3 and 5": joined into "scenes 2+3+5" before the note is cut into clauses
_SCENE_LIST = re.compile(_SCENE_WORDS + r" ?(\d{1,3}(?: ?(?:,|&|\band\b|\bи\b|और) ?\d{1,3}" + _NOT_A_LENGTH + r")+)")
_LIST_SEPARATOR = re.compile(r" ?(?:,|&|\band\b|\bи\b|और) ?")
_SCENE_NUMBER = re.compile(
    _SCENE_WORDS + r" ?(?:no\.? ?|number ?|# ?|№ ?)?(\d{1,3}(?:\+\d{1,3})*)" + _NOT_A_LENGTH
    + r"|(\d{1,3})(?:st|nd|rd|th|-?я|-?й)? (?:scene|shot|сцен[аеуыой]?|दृश्य|सीन)"
)  # fmt: skip
_WORD_NUMBER = re.compile(
    r"\b(?:scene|shot)\s+(one|two|three|four|five|six|seven|eight|nine|ten)\b"
    r"|\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\s+(?:scene|shot)\b"
)
_RU_ORDINAL = re.compile(r"(перв|втор|трет|четв|пят|шест|седьм|восьм)\w*\s+сцен")
_HI_ORDINAL = re.compile(r"(पहला|पहले|दूसरा|दूसरे|तीसरा|तीसरे|चौथा|चौथे)\s+(?:दृश्य|सीन)")
_EVERY = re.compile(
    r"\b(?:every|each|all(?: the)?|per)\s+(?:scenes?|shots?)\b|кажд\w*\s+сцен|все\s+сцены|हर\s+(?:दृश्य|सीन)"
)
_FIRST = re.compile(r"\b(?:beginning|opening|intro)\b|\bначал[оеау]\b|शुरुआत")
_LAST = re.compile(
    r"\b(?:last|final)\s+(?:scene|shot)\b|\b(?:ending|outro)\b|\bthe\s+end\b|последн\w*\s+сцен|концовк|финал"
    r"|(?:आखिरी|अंतिम)\s+(?:दृश्य|सीन)"
)
_PLUS = re.compile(
    r"\b(?:more|add|added|extra|plus|longer|extend|lengthen|stretch|increase)\b|(?:^|\s)\+\s?\d|больше|добав|дольше"
    r"|длиннее|увелич|удлин|растян|ज़्यादा|ज्यादा|अधिक|बढ़ा|और\s+(?:लंबा|लंबे|लम्बा)"
)
_MINUS = re.compile(
    r"\b(?:less|fewer|cut|remove|minus|shorter|shorten|trim|reduce|shave|decrease)\b|(?:^|\s)-\s?\d|меньше|короче"
    r"|убер|убав|сократ|уменьш|\bकम\b|घटा|और\s+(?:छोटा|छोटे)"
)
_BY = re.compile(r"\bby\b|\bна\b")
_CAP = re.compile(
    r"\b(?:under|below|within|at most|no more than|max(?:imum)?|up to)\b|не больше|не длиннее|до\s+\d|से कम"
)
_SPEED = re.compile(r"\b(?:fast|faster|quick|quicker|speed)\b|быстр|तेज")
_TWICE = re.compile(r"\b(?:twice|double|doubled)\b|вдвое|दोगुना")
_HALF = re.compile(r"\b(?:half|halve)\b|\bвполовину\b|आधा")
_NEGATION = re.compile(r"\b(?:not|don't|dont|do not|never|no need)\b|\bне\b|नहीं|मत")
_STRUCTURE = re.compile(
    r"\b(?:add|insert|remove|delete|drop|cut|merge|split)\s+(?:a |an |one |another |new |the )?(?:scenes?|shots?)\b"
    r"|добав\w*\s+сцен|убер\w*\s+сцен|удал\w*\s+сцен"
)
_KEEP = re.compile(r"\b(?:as it is|as is|keep it|leave it|unchanged|the same)\b|\bkeep\b|оставь|без изменений")
_TIME_WORD = re.compile(
    r"\b(?:seconds?|secs?|minutes?|longer|shorter|faster|slower|twice|double|half|pace|duration|length|time)\b"
    r"|секунд|минут|дольш|длинн|коротк|быстр|медлен|вдвое|सेकंड|मिनट|लंबा|लंबे|छोटा|छोटे|तेज|धीम|दोगुना|आधा"
)
_CLAUSE_SPLIT = re.compile(
    r"(?<!\d)(?<!\bno)[.;!?\n]+|[.;!?\n]+(?!\d)|(?<!\d),|,(?!\d)|\s+(?:and|but|also|then|и|а|но|लेकिन|तथा)\s+"
)
_NUMBER_SIGN = re.compile(r"\bno\.\s*(?=\d)", re.IGNORECASE)
_LEADING = re.compile(r"^\s*(?:(?:in|on|for|at|the|of|в|на|में|को)\s+)+", re.IGNORECASE)
_TRAILING = re.compile(r"(?:\s+(?:to|in|on|for|at|of|в|на|में|को))+\s*$", re.IGNORECASE)
_SEPARATORS = " :-–—,\"'“”«»"


@dataclass
class Plan:
    """What a note asks for, scene by scene (0-based)."""

    pace: float | None = None
    total_s: float | None = None
    total_delta_s: float | None = None
    total_cap_s: float | None = None
    scene_factor: dict[int, float] = field(default_factory=dict)
    scene_length_s: dict[int, float] = field(default_factory=dict)
    scene_delta_s: dict[int, float] = field(default_factory=dict)
    visuals: dict[int, str] = field(default_factory=dict)
    not_followed: list[str] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    asked: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # scene -> (longer +1 / shorter -1, clause)
    wholes: list[tuple[str, float, str]] = field(default_factory=list)  # ("pace" | "total", value, clause)


def read_note(note: str, *, scene_count: int) -> Plan:
    """The note's clauses turned into a plan (see the module's docstring)."""
    plan = Plan()
    last_visual: list[int] = []  # the scenes the last clause gave a picture note: a clause after it may go on
    pending: list[int] | None = None  # a clause that only named scenes ("scene 2, 3 seconds longer")
    pending_clause = ""
    note = _NUMBER_SIGN.sub("no ", note)  # "scene no. 2": no clause ends there
    note = _SCENE_LIST.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + _LIST_SEPARATOR.sub("+", m.group(1)), note)
    for clause in [c.strip(_SEPARATORS) for c in _CLAUSE_SPLIT.split(note) if c][:MAX_NOTE_CLAUSES]:
        if not clause or clause.lower() in FILLER:
            continue
        lower = clause.lower()
        scenes = _scenes_of(lower, scene_count)
        if scenes is None and pending is not None:
            scenes, pending = pending, None
            clause = f"{pending_clause}, {clause}"
        if scenes is not None and not all(0 <= scene < scene_count for scene in scenes):
            plan.limits.append(Limit.NO_SUCH_SCENE)
            _not_done(plan, clause)
            last_visual = []
            continue
        if scenes is not None and _only_names_scenes(clause):
            pending, pending_clause = scenes, clause
            continue
        understood = _read_clause(clause, scenes, plan, scene_count)
        if understood == "visual" and scenes:
            last_visual = scenes
        elif understood == "nothing" and last_visual and scenes is None and not _TIME_WORD.search(lower):
            for scene in last_visual:  # "scene 2: show the cup, close up"
                plan.visuals[scene] += ", " + clause
        else:
            if understood == "nothing":
                _not_done(plan, clause)
            last_visual = []
    if pending is not None:  # a scene named, and nothing asked of it
        _not_done(plan, pending_clause)
    _drop_contradictions(plan)
    return plan


def _read_clause(clause: str, scenes: list[int] | None, plan: Plan, scene_count: int) -> str:
    """Fill the plan from one clause; what it was: "timing", "visual", "kept" or "nothing"."""
    lower = clause.lower()
    negated = _NEGATION.search(lower) and _TIME_WORD.search(lower) and not _CAP.search(lower)  # "не больше" caps
    if _STRUCTURE.search(lower) or negated:
        return "nothing"  # the scenes are the script's; "don't make it longer" asks for nothing to be done
    amounts = len(_SECONDS.findall(lower)) + len(_MINUTES.findall(lower))
    if amounts > 1 and not (_MINUTES.search(lower) and _SECONDS.search(lower) and amounts == 2):
        return "nothing"  # "make it 20 s with scene 1 at 10 s": which is which is a guess
    seconds = _seconds(lower)
    factor = _factor(lower) if seconds is None else None
    sign = _change_sign(lower) if seconds is not None else 0
    if scenes is None and _EVERY.search(lower) and seconds is not None:
        scenes = list(range(scene_count))  # "every scene 3 seconds"; "make every scene faster" is the whole's pace
    if scenes is None:
        if _SCENE_WORD.search(lower) and not _EVERY.search(lower):
            return "nothing"  # a scene it could not tell ("the middle scene longer"): named, not done to the whole
        if seconds is not None and _CAP.search(lower):
            plan.total_cap_s = seconds
        elif seconds is not None and sign:
            plan.total_delta_s = sign * seconds
        elif seconds is not None:
            plan.total_s = seconds
        elif factor is not None:
            plan.pace = factor
        elif _KEEP.search(lower):
            return "kept"
        else:
            return "nothing"
        kind = "pace" if factor is not None else "total"
        plan.wholes.append((kind, factor if factor is not None else (seconds or 0.0) * (sign or 1), clause))
        return "timing"
    if _KEEP.search(lower) and seconds is None and factor is None:
        return "kept"
    pictured = False
    for scene in scenes:
        if seconds is not None and sign:
            plan.scene_delta_s[scene] = sign * seconds
            plan.asked.setdefault(scene, []).append((sign, clause))
        elif seconds is not None:
            plan.scene_length_s[scene] = seconds
            plan.asked.setdefault(scene, []).append((0, clause))
        elif factor is not None:
            plan.scene_factor[scene] = _for_a_scene(factor)
            plan.asked.setdefault(scene, []).append((1 if factor > 1 else -1, clause))
        else:
            picture = _picture_note(clause)
            if not picture:
                return "nothing"
            plan.visuals[scene] = picture
            pictured = True
    return "visual" if pictured else "timing"


def _not_done(plan: Plan, clause: str) -> None:
    plan.not_followed.append(clause.replace("+", ", "))


def _only_names_scenes(clause: str) -> bool:
    rest = _LEADING.sub("", _cut(clause, _SCENE_NUMBER))
    return not rest.strip(_SEPARATORS)


def _drop_contradictions(plan: Plan) -> None:
    """Wishes that cannot all be met are none of them done, and are all named."""
    for scene, wishes in plan.asked.items():
        signs = {sign for sign, _ in wishes}
        if len(wishes) > 1 and (signs == {1, -1} or 0 in signs):
            for store in (plan.scene_factor, plan.scene_delta_s, plan.scene_length_s):
                store.pop(scene, None)
            plan.not_followed.extend(clause.replace("+", ", ") for _, clause in wishes)
    for kind in ("pace", "total"):
        wishes = [(value, clause) for what, value, clause in plan.wholes if what == kind]
        clauses = [clause for _, clause in wishes]
        if len({value for value, _ in wishes}) > 1:  # "faster and slower", "make it 20 seconds, make it 30 seconds"
            if kind == "pace":
                plan.pace = None
            else:
                plan.total_s = plan.total_delta_s = plan.total_cap_s = None
            plan.not_followed.extend(clauses)


def _scenes_of(lower: str, scene_count: int) -> list[int] | None:
    """The 0-based scenes a clause is about, if it names any (numbers past the end are returned as they are)."""
    if match := _SCENE_NUMBER.search(lower):
        return [int(n) - 1 for n in (match.group(1) or match.group(2)).split("+")]
    if match := _WORD_NUMBER.search(lower):
        return [NUMBER_WORDS[match.group(1) or match.group(2)] - 1]
    if match := _RU_ORDINAL.search(lower):
        return [RU_ORDINALS[match.group(1)] - 1]
    if match := _HI_ORDINAL.search(lower):
        return [HI_ORDINALS[match.group(1)] - 1]
    if _LAST.search(lower):
        return [scene_count - 1]
    if _FIRST.search(lower):
        return [0]
    return None


def _seconds(lower: str) -> float | None:
    minutes = _MINUTES.search(lower)
    seconds = _SECONDS.search(lower)
    total = 0.0
    if minutes:
        total += float(minutes.group(1).replace(",", ".")) * 60
    if seconds:
        total += float(seconds.group(1).replace(",", "."))
    if minutes or seconds:
        return total
    if _HALF_MINUTE.search(lower):
        return 30.0
    if _ONE_MINUTE.search(lower):
        return 60.0
    return None


def _change_sign(lower: str) -> int:
    """For a clause with an amount: +1 when it is to be added ("2 s longer", "add 3 seconds"), -1 when taken
    away, 0 when it is the length itself ("scene 3 5 s", "make it 30 seconds")."""
    plus, minus = _PLUS.search(lower) is not None, _MINUS.search(lower) is not None
    if plus != minus:
        return 1 if plus else -1
    return _direction(lower) if _BY.search(lower) else 0


def _factor(lower: str) -> float | None:
    """How much longer a clause asks things to last: "twice as long" 2, "twice as fast" 0.5, "10% shorter" 0.9,
    "faster" 0.75 (None: it says nothing of the pace)."""
    direction = _direction(lower)
    speed = _SPEED.search(lower) is not None
    if match := _PERCENT.search(lower):
        share = float(match.group(1)) / 100
        if not direction or share >= 1:
            return None
        return 1 + share if direction > 0 else 1 - share
    times = None
    if match := _TIMES.search(lower):
        times = float(match.group(1).replace(",", "."))
    elif _TWICE.search(lower):
        times = 2.0
    elif _HALF.search(lower):
        times = 0.5
    if times is not None and times > 0:
        return 1 / times if speed else times  # "twice as fast" is half as long
    if direction:
        return FASTER_FACTOR if direction < 0 else SLOWER_FACTOR
    return None


def _for_a_scene(factor: float) -> float:
    """The pace words ("longer") mean more for one scene than for the whole: half again, a third off."""
    if factor == SLOWER_FACTOR:
        return SCENE_LONGER_FACTOR
    if factor == FASTER_FACTOR:
        return SCENE_SHORTER_FACTOR
    return factor


def _direction(lower: str) -> int:
    """-1 for shorter or faster, +1 for longer or slower, 0 for neither or both."""
    faster = any(word in lower for word in FASTER)
    slower = any(word in lower for word in SLOWER)
    return 0 if faster == slower else (-1 if faster else 1)


def _cut(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` without the first place the (lower-case) ``pattern`` matches it, whatever the case it is in."""
    lower = text.lower()
    match = pattern.search(lower)
    if match is None or len(lower) != len(text):
        return pattern.sub(" ", text, count=1) if match else text
    return text[: match.start()] + " " + text[match.end() :]


def _picture_note(clause: str) -> str | None:
    """What a clause that names a scene says of its picture, once the scene's name is out ("scene 2: show the
    cup"); None when it speaks of time, or says too little."""
    lower = clause.lower()
    if _TIME_WORD.search(lower) and ":" not in clause:
        return None
    if _SECONDS.search(lower) or _MINUTES.search(lower) or _TIMES.search(lower) or _PERCENT.search(lower):
        return None
    rest = clause
    for pattern in (_SCENE_NUMBER, _WORD_NUMBER, _RU_ORDINAL, _HI_ORDINAL, _LAST, _FIRST):
        rest = _cut(rest, pattern)
    rest = _TRAILING.sub("", _LEADING.sub("", " ".join(rest.split())))
    rest = rest.strip(_SEPARATORS)
    for lead in LEAD_WORDS:
        if rest.lower().startswith(lead + " "):
            rest = rest[len(lead) + 1 :]
            break
    rest = _TRAILING.sub("", rest).strip(_SEPARATORS)
    return rest if len(rest.split()) >= 2 else None
