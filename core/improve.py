"""The built-in improver: what a note asks of the timing and of single scenes (read by ``core.notes``), done, and
the rest said.

A clause it cannot act on is kept, as written, in the revision's ``not_followed``, and so are wishes that contradict
each other; a wish the scene lengths cannot meet (every scene already the shortest) is a ``Limit``. Without a note
the rating decides, as before: slower for 1-2, tighter for 4-5, nothing for 3. The caller gets the storyboard and
the honest ``Revision`` of it.
"""

from __future__ import annotations

from core.notes import Plan, read_note
from core.revision import Limit, Revision, compare
from core.storyboard import Storyboard, assemble, drafts_of

SHORTEST_SCENE_S = 1.5
LONGEST_SCENE_S = 30.0
SCENE_STEP_S = 1.0  # a scene made longer or shorter changes by at least this much
LOW_RATING_FACTOR = 1.2  # no note: the seed's rule
HIGH_RATING_FACTOR = 0.9


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


def _apply_timing(plan: Plan, tenths: list[int]) -> list[int]:
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
        wanted = tenths[i] + round(delta_s * 10)
        result[i] = _bounded(wanted, low, high)
        if result[i] != wanted:
            plan.limits.append(Limit.SHORTEST if wanted < low else Limit.LONGEST)
        fixed.add(i)
    for i, length_s in plan.scene_length_s.items():
        wanted = round(length_s * 10)
        result[i] = _bounded(wanted, low, high)
        if result[i] != wanted:
            plan.limits.append(Limit.SHORTEST if wanted < low else Limit.LONGEST)
        fixed.add(i)
    if plan.total_delta_s is not None and plan.total_s is None:
        plan.total_s = sum(tenths) / 10 + plan.total_delta_s
    if plan.total_cap_s is not None and plan.total_s is None and sum(result) > round(plan.total_cap_s * 10):
        plan.total_s = plan.total_cap_s  # "under 20 s": only a storyboard over it is cut down to it
    if plan.total_s is not None:
        result = _fit_total(result, round(plan.total_s * 10), fixed, low, high, plan)
    return result


def _fit_total(tenths: list[int], target: int, fixed: set[int], low: int, high: int, plan: Plan) -> list[int]:
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
