"""The built-in improver: a note's timing and per-scene wishes done, and the rest said, never a silent copy."""

from __future__ import annotations

import pytest

from core.generator import generate_local
from core.improve import SHORTEST_SCENE_S, improve, read_note
from core.revision import Limit, parse_revision
from core.storyboard import SceneDraft, Storyboard, assemble

THREE_SHORT_LINES = "A door opens.\nA cat walks in.\nIt sits."


def board(*durations: float) -> Storyboard:
    return assemble("T", "local", [SceneDraft(text=f"Scene {n}", duration_s=d) for n, d in enumerate(durations, 1)])


def durations(storyboard: Storyboard) -> list[float]:
    return [scene.duration for scene in storyboard.scenes]


def test_faster_on_three_short_lines_makes_a_shorter_version_not_a_copy() -> None:
    first = generate_local(THREE_SHORT_LINES)  # each at the generator's 3 s floor
    improved, revision = improve(first, 2, "make it faster")

    assert improved.total_duration < first.total_duration
    assert all(d >= SHORTEST_SCENE_S for d in durations(improved))
    assert not revision.unchanged
    assert [c.scene for c in revision.changes] == [1, 2, 3]
    assert revision.not_followed == []
    assert [f.text for s in improved.scenes for f in s.frames] == [f.text for s in first.scenes for f in s.frames]


def test_slower_lengthens_every_scene() -> None:
    improved, revision = improve(board(3, 4, 5), 1, "too fast, slow down")
    assert durations(improved) == [4.0, 5.3, 6.7]
    assert revision.total_after == 16.0


def test_a_scene_by_number_gets_more_time_and_only_it() -> None:
    improved, revision = improve(board(3, 4, 5), 2, "scene 3 longer")
    assert durations(improved) == [3.0, 4.0, 7.5]
    assert [(c.scene, c.duration_before, c.duration_after) for c in revision.changes] == [(3, 5.0, 7.5)]


def test_the_ending_is_the_last_scene() -> None:
    improved, _ = improve(board(3, 4, 5), 2, "the ending needs more time")
    assert durations(improved) == [3.0, 4.0, 7.5]


@pytest.mark.parametrize("note", ["make it a 30 s ad", "30 seconds please", "make it 30-second", "полминуты"])
def test_a_length_for_the_whole_is_met_exactly(note: str) -> None:
    improved, revision = improve(board(3, 4, 5, 6), 2, note)
    assert improved.total_duration == 30.0
    assert sum(durations(improved)) == pytest.approx(30.0)
    assert revision.limits == []


def test_a_length_for_the_whole_keeps_a_scene_the_note_set() -> None:
    improved, _ = improve(board(3, 4, 5, 6), 2, "make it 20 seconds, scene 1 8 s")
    assert durations(improved)[0] == 8.0
    assert improved.total_duration == 20.0


def test_a_scene_can_be_changed_by_seconds() -> None:
    improved, _ = improve(board(3, 4, 5), 2, "scene 2 by 2 seconds longer")
    assert durations(improved) == [3.0, 6.0, 5.0]


def test_a_note_for_a_scene_becomes_its_picture() -> None:
    improved, revision = improve(board(3, 4, 5), 2, "scene 2: show the cup, close up")
    assert improved.scenes[1].frames[0].visual == "show the cup, close up"
    assert durations(improved) == [3.0, 4.0, 5.0]
    assert revision.changes[0].visual_after == "show the cup, close up"


def test_a_note_that_cannot_be_followed_changes_nothing_and_says_so() -> None:
    first = board(3, 4, 5)
    improved, revision = improve(first, 1, "add some music")

    assert durations(improved) == durations(first)
    assert revision.unchanged
    assert revision.not_followed == ["add some music"]


def test_a_note_is_followed_in_part_and_the_rest_is_named() -> None:
    _, revision = improve(board(3, 4, 5), 2, "faster. Add some music!")
    assert not revision.unchanged
    assert revision.not_followed == ["Add some music"]


def test_a_wish_for_the_end_is_the_last_scene_s_picture() -> None:
    improved, _ = improve(board(3, 4, 5), 2, "add a logo at the end")
    assert improved.scenes[2].frames[0].visual == "add a logo"


def test_a_scene_past_the_end_is_not_followed() -> None:
    _, revision = improve(board(3, 4, 5), 2, "scene 9 longer")
    assert revision.unchanged
    assert revision.limits == [Limit.NO_SUCH_SCENE]
    assert revision.not_followed == ["scene 9 longer"]


def test_faster_at_the_shortest_scenes_is_a_limit_not_a_claim() -> None:
    _, revision = improve(board(1.5, 1.5), 2, "faster")
    assert revision.unchanged
    assert revision.limits == [Limit.SHORTEST]


def test_faster_and_slower_at_once_does_neither() -> None:
    _, revision = improve(board(3, 4), 2, "faster and slower")
    assert revision.unchanged


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("быстрее", [2.2, 3.0, 3.8]),
        ("сцена 2 длиннее", [3.0, 6.0, 5.0]),
        ("दृश्य 1 लंबा करो", [4.5, 4.0, 5.0]),
    ],
)
def test_notes_in_russian_and_hindi(note: str, expected: list[float]) -> None:
    improved, _ = improve(board(3, 4, 5), 2, note)
    assert durations(improved) == expected


def test_russian_seconds_for_the_whole() -> None:
    improved, _ = improve(board(3, 4, 5), 2, "сделай 20 секунд")
    assert improved.total_duration == 20.0


@pytest.mark.parametrize(("rating", "longer"), [(1, True), (2, True), (5, False)])
def test_without_a_note_the_rating_decides(rating: int, longer: bool) -> None:
    first = board(3, 4, 5)
    improved, revision = improve(first, rating, None)
    assert (improved.total_duration > first.total_duration) is longer
    assert not revision.note_given


def test_a_rating_of_three_without_a_note_changes_nothing() -> None:
    _, revision = improve(board(3, 4, 5), 3, "")
    assert revision.unchanged


def test_the_revision_round_trips_through_its_json() -> None:
    _, revision = improve(board(3, 4, 5), 2, "scene 3 longer, add music")
    assert parse_revision(revision.to_json()) == revision
    assert parse_revision(None) is None


def test_a_long_hostile_note_is_read_in_bounded_clauses() -> None:
    plan = read_note("scene 1 longer, " * 5000 + "1" * 10000, scene_count=2)
    assert plan.scene_factor == {0: 1.5}


@pytest.mark.parametrize(
    ("durations_s", "note", "expected"),
    [
        ((3, 3, 3.5), "scene 2 2 s longer", [3.0, 5.0, 3.5]),
        ((3, 3, 3.5), "add 2 seconds to scene 3", [3.0, 3.0, 5.5]),
        ((3, 3, 3), "give scene 1 3 more seconds", [6.0, 3.0, 3.0]),
        ((3, 4, 5), "scene 2 2,5 s", [3.0, 2.5, 5.0]),  # a decimal comma is no clause break
        ((3, 3, 3), "the first scene should last 5 seconds", [5.0, 3.0, 3.0]),  # "last" the verb
        ((3, 3, 3), "make the last scene 5 seconds", [3.0, 3.0, 5.0]),  # "scene 5 seconds" is no scene 5
        ((3, 3, 3), "scene 1 twice as long", [6.0, 3.0, 3.0]),
        ((3, 3, 3), "scenes 2 and 3 longer", [3.0, 4.5, 4.5]),
        ((3, 3, 3), "scene 2, 3 longer", [3.0, 4.5, 4.5]),
        ((3, 4, 5), "the second scene shorter", [3.0, 2.7, 5.0]),
        ((3, 4, 5), "half as long", [1.5, 2.0, 2.5]),
    ],
)
def test_changes_by_seconds_lists_of_scenes_and_places_are_read_right(
    durations_s: tuple[float, ...], note: str, expected: list[float]
) -> None:
    improved, revision = improve(board(*durations_s), 2, note)
    assert durations(improved) == expected
    assert revision.not_followed == []


@pytest.mark.parametrize(("note", "total"), [("make it 5 seconds longer", 17.0), ("сделай 1 минуту", 60.0)])
def test_a_change_or_a_length_of_the_whole_is_met_exactly(note: str, total: float) -> None:
    improved, revision = improve(board(3, 4, 5), 2, note)
    assert improved.total_duration == total
    assert revision.limits == []


def test_a_length_for_the_whole_is_met_when_some_scenes_hit_their_bounds() -> None:
    improved, revision = improve(board(1.5, 1.5, 1.5, 1.5, 30), 2, "make it 20 seconds")
    assert durations(improved) == [1.5, 1.5, 1.5, 1.5, 14.0]
    assert revision.limits == []


def test_a_timing_wish_is_never_taken_for_a_picture_note() -> None:
    improved, revision = improve(board(3, 3, 3), 2, "scene 2 should take its time to breathe")
    assert [s.frames[0].visual for s in improved.scenes] == [None, None, None]
    assert revision.not_followed == ["scene 2 should take its time to breathe"]


def test_a_scene_asked_longer_and_shorter_is_left_and_both_are_named() -> None:
    improved, revision = improve(board(3, 3, 3), 2, "scene 2 longer and scene 2 shorter")
    assert durations(improved) == [3.0, 3.0, 3.0]
    assert revision.not_followed == ["scene 2 longer", "scene 2 shorter"]


def test_a_picture_note_for_a_list_of_scenes_goes_to_each() -> None:
    improved, _ = improve(board(3, 4, 5), 2, "scenes 1 and 3: a wide shot of the sea")
    assert [s.frames[0].visual for s in improved.scenes] == ["a wide shot of the sea", None, "a wide shot of the sea"]


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("make it twice as fast", [1.5, 2.0, 2.5]),
        ("half the speed", [6.0, 8.0, 10.0]),
        ("scene 2 twice as fast", [3.0, 2.0, 5.0]),
        ("scene 2 3x longer", [3.0, 12.0, 5.0]),
        ("make it 10% shorter", [2.7, 3.6, 4.5]),
        ("extend scene 2 by 2 seconds", [3.0, 6.0, 5.0]),
        ("reduce scene 2 by 1 second", [3.0, 3.0, 5.0]),
        ("scene 2 -1s", [3.0, 3.0, 5.0]),
        ("scene 2, 3 seconds longer", [3.0, 7.0, 5.0]),
        ("scene two longer", [3.0, 6.0, 5.0]),
        ("scene no. 2 longer", [3.0, 6.0, 5.0]),
        ("третья сцена длиннее", [3.0, 4.0, 7.5]),
        ("दूसरा दृश्य लंबा करो", [3.0, 6.0, 5.0]),
        ("दृश्य 3 को 2 सेकंड और लंबा करो", [3.0, 4.0, 7.0]),
        ("сцена 3 на 1 секунду короче", [3.0, 4.0, 4.0]),
        ("make every scene 3 seconds", [3.0, 3.0, 3.0]),
        ("make it 1 min 30 s", [30.0, 30.0, 30.0]),
        ("make it under 20 s", [3.0, 4.0, 5.0]),  # within it already
        ("make it under 10 s", [2.5, 3.3, 4.2]),
        ("сократи до 20 секунд", [3.0, 4.0, 5.0]),
        ("не больше 10 секунд", [2.5, 3.3, 4.2]),
    ],
)
def test_more_ways_of_saying_it(note: str, expected: list[float]) -> None:
    improved, revision = improve(board(3, 4, 5), 2, note)
    assert durations(improved) == expected
    assert revision.not_followed == []


@pytest.mark.parametrize(
    "note",
    [
        "the middle scene longer",  # a scene it cannot tell: not the whole storyboard
        "don't make it longer",
        "не быстрее",
        "add a scene at the end",  # the scenes are the script's
        "make it 20 s with scene 1 at 10 s",  # two amounts: which is which is a guess
    ],
)
def test_what_it_cannot_tell_or_do_changes_nothing_and_is_named(note: str) -> None:
    improved, revision = improve(board(3, 4, 5), 2, note)
    assert durations(improved) == [3.0, 4.0, 5.0]
    assert revision.not_followed == [note]


def test_two_totals_contradict_and_both_are_named() -> None:
    _, revision = improve(board(3, 4, 5), 2, "make it 20 seconds, make it 30 seconds")
    assert revision.unchanged
    assert revision.not_followed == ["make it 20 seconds", "make it 30 seconds"]


@pytest.mark.parametrize(
    ("note", "scene", "picture"),
    [
        ("scene 2: breakfast on the table", 1, "breakfast on the table"),  # "fast" inside a word
        ("scene 3: walking along the beach", 2, "walking along the beach"),
        ("Scene 2: Show The Cup", 1, "Show The Cup"),
        ("add a dog to scene 2", 1, "add a dog"),
        ("third scene: a wide shot", 2, "a wide shot"),
    ],
)
def test_picture_notes_keep_what_they_say_and_lose_the_scene_s_name(note: str, scene: int, picture: str) -> None:
    improved, _ = improve(board(3, 4, 5), 2, note)
    assert improved.scenes[scene].frames[0].visual == picture


def test_a_change_past_a_scene_s_bound_is_a_limit() -> None:
    _, revision = improve(board(3, 4, 5), 2, "scene 1 3 seconds shorter")
    assert revision.limits == [Limit.SHORTEST]
