"""Holding an LM's storyboard to the script's scenes: a reply that drops, merges, reorders or rewords them is repaired
from the script, never passed through.

The script is split into scenes before the LM sees it (``core.formats``), and the LM is asked for exactly one
storyboard scene per script scene, in order. ``anchor`` then matches each script scene to the reply scene that holds
its words (by the share of the scene's words found there, so a model that renumbers or reorders is still read
right) and builds the storyboard in the script's order:

- a scene found alone in a reply scene takes the LM's duration and visual note; its words are always the script's
  (the LM's text only finds the scene: a small model pads it with stray punctuation), and a reply scene that kept
  less than ``KEEP_WORDS`` of them counts as "reworded";
- scenes the LM merged into one share its visual note, and its duration in proportion to their lengths ("merged");
- a scene found in no reply scene keeps the script's text and duration, with no visual note ("dropped");
- reply scenes that hold no script scene are left out ("invented"); a reply out of order is put back ("reordered").

``Anchored.structural`` says whether the reply's scenes were not the script's (worth asking the LM once more);
``Anchored.usable`` whether enough of it came from the LM to call the result the LM's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from core.storyboard import SceneDraft

MATCH_WORDS = 0.6  # a reply scene holding this share of a script scene's words is that scene
KEEP_WORDS = 0.9  # a reply scene keeping less of a scene's words than this reworded it
MAX_GROWTH = 2.0  # ... as did one more than this many times as long
MIN_SHARE_S = 1.0  # a merged scene's part of the LM's duration is at least this
_WORD = re.compile(r"\w+")


class Repair(StrEnum):
    DROPPED = "dropped"
    MERGED = "merged"
    REORDERED = "reordered"
    REWORDED = "reworded"
    INVENTED = "invented"


@dataclass(frozen=True, slots=True)
class Anchored:
    scenes: list[SceneDraft]
    repairs: dict[Repair, list[int]] = field(default_factory=dict)  # 1-based script scenes (reply scenes: INVENTED)
    from_lm: int = 0  # script scenes that took the LM's duration or visual note

    @property
    def structural(self) -> bool:
        return any(kind is not Repair.REWORDED for kind in self.repairs)

    @property
    def usable(self) -> bool:
        return self.from_lm * 2 >= len(self.scenes)

    def correction(self) -> str:
        """What to tell the LM when asking again."""
        told = []
        for kind, scenes in self.repairs.items():
            numbers = ", ".join(str(n) for n in scenes[:20])
            if kind is Repair.INVENTED:
                told.append(f"your scenes {numbers} are not in the script")
            else:
                told.append(f"script scenes {numbers} were {kind.value}")
        return (
            f"Your last answer did not follow the script's scenes: {'; '.join(told)}. Answer again with exactly "
            f"{len(self.scenes)} scenes, one for each numbered scene, in the same order, each with that scene's words."
        )


def anchor(script: Sequence[SceneDraft], reply: Sequence[SceneDraft]) -> Anchored:
    """The storyboard's scenes: ``script``'s, in its order, with what ``reply`` gives for each."""
    words = [_words(scene.text) for scene in script]
    replied = [_words(scene.text) for scene in reply]
    owner = _match(words, replied)
    repairs: dict[Repair, list[int]] = {}
    sharing = Counter(j for j in owner if j is not None)
    matched = [j for j in owner if j is not None]
    if matched != sorted(matched):
        repairs[Repair.REORDERED] = [i + 1 for i, j in enumerate(owner) if j is not None and j != i]
    invented = [j + 1 for j in range(len(reply)) if j not in sharing]
    if invented:
        repairs[Repair.INVENTED] = invented
    scenes: list[SceneDraft] = []
    from_lm = 0
    for i, (source, j) in enumerate(zip(script, owner, strict=True)):
        if j is None:
            repairs.setdefault(Repair.DROPPED, []).append(i + 1)
            scenes.append(source)
            continue
        from_lm += 1
        lm_scene = reply[j]
        if sharing[j] > 1:
            repairs.setdefault(Repair.MERGED, []).append(i + 1)
            share = _length_share(script, owner, i, j)
            duration_s = max(MIN_SHARE_S, lm_scene.duration_s * share)
            scenes.append(source.model_copy(update={"duration_s": duration_s, "visual": _visual(lm_scene)}))
            continue
        if _kept(words[i], replied[j]) < KEEP_WORDS or len(replied[j]) > MAX_GROWTH * len(words[i]) + 3:
            repairs.setdefault(Repair.REWORDED, []).append(i + 1)
        scenes.append(
            source.model_copy(update={"duration_s": lm_scene.duration_s, "visual": _visual(lm_scene) or source.visual})
        )
    return Anchored(scenes, repairs, from_lm)


def _match(words: list[Counter[str]], replied: list[Counter[str]]) -> list[int | None]:
    """For each script scene, the reply scene that holds it (None: none does). Same place first when the counts
    agree, then the best holder, nearer places winning ties (a script that repeats a line); when the counts agree,
    a scene no reply scene holds takes the unclaimed one in its place (reworded, not dropped)."""
    owner: list[int | None] = [None] * len(words)
    same_count = len(words) == len(replied)
    for i, scene in enumerate(words):
        if same_count and _kept(scene, replied[i]) >= MATCH_WORDS:
            owner[i] = i
            continue
        expected = i * len(replied) / max(1, len(words))
        best = max(
            range(len(replied)),
            key=lambda j, scene=scene, expected=expected: (_kept(scene, replied[j]), -abs(j - expected)),
            default=None,
        )
        if best is not None and _kept(scene, replied[best]) >= MATCH_WORDS:
            owner[i] = best
    if same_count:  # a scene in its place that the LM wrote in other words: its words come from the script
        claimed = set(owner)
        for i in range(len(words)):
            if owner[i] is None and i not in claimed:
                owner[i] = i
    return owner


def _visual(scene: SceneDraft) -> str | None:
    """The LM's visual note, unless it says nothing (a small model writes "###")."""
    return scene.visual if scene.visual and _WORD.search(scene.visual) else None


def _kept(scene: Counter[str], reply: Counter[str]) -> float:
    """The share of a scene's words that a reply scene holds (a scene of no words: held only by one of none)."""
    total = sum(scene.values())
    if total == 0:
        return 1.0 if not reply else 0.0
    return sum((scene & reply).values()) / total


def _length_share(script: Sequence[SceneDraft], owner: list[int | None], i: int, j: int) -> float:
    together = [len(script[k].text) for k, o in enumerate(owner) if o == j]
    return len(script[i].text) / max(1, sum(together))


def _words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.casefold()))
