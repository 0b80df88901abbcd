"""The LM held to the script's scenes: merged, dropped, reordered, reworded and invented scenes are repaired from
the script or asked for again, never passed through. The LM is the fake server on loopback, answering as a small
model that ignores the scene split would."""

from __future__ import annotations

import json

import pytest

from core.anchor import Repair, anchor
from core.lm import LMClient
from core.metrics import LM_REPAIRS
from core.pipeline import Pipeline
from core.settings import LMSettings
from core.storyboard import SceneDraft
from tests.fakes.fake_lm import FakeLM, Reply

FAST = {"lm_backoff_min_s": 0.01, "lm_backoff_max_s": 0.02, "lm_timeout_s": 2.0, "lm_connect_timeout_s": 0.5}
SCRIPT = "A door opens slowly.\nA black cat walks in.\nIt jumps on the table.\nThe lights go out."
LINES = SCRIPT.splitlines()


def reply(*scenes: tuple[str, float, str]) -> Reply:
    return Reply.ok({"title": "Cat", "scenes": [{"text": t, "duration": d, "visual": v} for t, d, v in scenes]})


def good() -> Reply:
    return reply(*[(line, 4.0, f"Shot {n}") for n, line in enumerate(LINES, 1)])


async def run(fake_lm: FakeLM, *replies: Reply, script: str = SCRIPT, file_name: str | None = None):
    fake_lm.script(list(replies))
    async with LMClient(LMSettings(lm_base_url=fake_lm.base_url, **FAST)) as lm:
        return await Pipeline(lm).generate(script, file_name=file_name)


def texts(result) -> list[str]:
    return ["".join(frame.text for frame in scene.frames) for scene in result.storyboard.scenes]


def visuals(result) -> list[str | None]:
    return [scene.frames[0].visual for scene in result.storyboard.scenes]


async def test_the_lm_gets_the_script_s_scenes_numbered(fake_lm: FakeLM) -> None:
    result = await run(fake_lm, good())

    sent = json.loads(fake_lm.requests[0].message("user"))
    assert [scene["n"] for scene in sent["scenes"]] == [1, 2, 3, 4]
    assert [scene["text"] for scene in sent["scenes"]] == LINES
    assert result.storyboard.generation_method == "lm"
    assert texts(result) == LINES
    assert visuals(result) == ["Shot 1", "Shot 2", "Shot 3", "Shot 4"]
    assert len(fake_lm.requests) == 1


async def test_a_reply_of_one_merged_scene_is_asked_again_then_repaired(fake_lm: FakeLM) -> None:
    merged = reply((" ".join(LINES), 8.0, "A cat in a dark room"))
    result = await run(fake_lm, merged, merged)

    assert len(fake_lm.requests) == 2
    correction = fake_lm.requests[1].message("user")
    assert "exactly 4 scenes" in correction and "merged" in correction
    assert texts(result) == LINES  # every scene kept, in order
    assert visuals(result) == ["A cat in a dark room"] * 4
    assert result.storyboard.total_duration == pytest.approx(8.0, abs=0.2)
    assert result.storyboard.generation_method == "lm"


async def test_a_merged_reply_fixed_on_the_second_ask_is_taken(fake_lm: FakeLM) -> None:
    merged = reply((" ".join(LINES), 8.0, "A cat in a dark room"))
    result = await run(fake_lm, merged, good())

    assert visuals(result) == ["Shot 1", "Shot 2", "Shot 3", "Shot 4"]


async def test_dropped_scenes_come_back_from_the_script(fake_lm: FakeLM) -> None:
    dropped = reply((LINES[0], 4.0, "Door"), (LINES[2], 5.0, "Jump"), (LINES[3], 3.0, "Dark"))
    result = await run(fake_lm, dropped, dropped)

    assert texts(result) == LINES
    assert visuals(result) == ["Door", None, "Jump", "Dark"]
    assert result.storyboard.scenes[1].duration == 3.0  # the generator's time for the line


async def test_reordered_scenes_are_put_back_in_the_script_s_order(fake_lm: FakeLM) -> None:
    shuffled = reply(*[(LINES[i], 4.0 + i, f"Shot {i + 1}") for i in (2, 0, 3, 1)])
    result = await run(fake_lm, shuffled, shuffled)

    assert texts(result) == LINES
    assert visuals(result) == ["Shot 1", "Shot 2", "Shot 3", "Shot 4"]
    assert [scene.duration for scene in result.storyboard.scenes] == [4.0, 5.0, 6.0, 7.0]


async def test_a_reworded_scene_keeps_the_script_s_words(fake_lm: FakeLM) -> None:
    reworded = reply(
        (LINES[0], 4.0, "Door"),
        ("A feline strolls inside.", 4.0, "Cat"),
        (LINES[2], 4.0, "Jump"),
        (LINES[3], 4.0, "Dark"),
    )
    result = await run(fake_lm, reworded)

    assert len(fake_lm.requests) == 1  # the scenes were right: only the words are repaired, no second ask
    assert texts(result) == LINES
    assert visuals(result)[1] == "Cat"


async def test_invented_scenes_are_left_out(fake_lm: FakeLM) -> None:
    padded = reply(*[(line, 4.0, "x") for line in LINES], ("A dragon appears.", 5.0, "Dragon"))
    result = await run(fake_lm, padded, padded)

    assert texts(result) == LINES
    assert result.storyboard.total_duration == 16.0


async def test_a_reply_that_kept_nothing_of_the_script_falls_back_to_the_local_generator(fake_lm: FakeLM) -> None:
    unrelated = reply(("Buy our soda today!", 5.0, "Soda"))
    before = LM_REPAIRS.labels("dropped")._value.get()
    result = await run(fake_lm, unrelated, unrelated)

    assert result.storyboard.generation_method == "local_fallback"
    assert result.lm_error is not None and "kept too little" in str(result.lm_error)
    assert texts(result) == LINES
    assert LM_REPAIRS.labels("dropped")._value.get() - before == 4  # the answer kept: every scene from the script


async def test_a_failed_second_ask_keeps_the_repaired_first_answer(fake_lm: FakeLM) -> None:
    merged = reply((" ".join(LINES[:2]), 6.0, "Door and cat"), (LINES[2], 4.0, "Jump"), (LINES[3], 4.0, "Dark"))
    result = await run(fake_lm, merged, Reply.garbage())

    assert texts(result) == LINES
    assert visuals(result) == ["Door and cat", "Door and cat", "Jump", "Dark"]
    assert result.storyboard.generation_method == "lm"


async def test_an_improvement_that_drops_scenes_is_repaired_from_the_current_storyboard(fake_lm: FakeLM) -> None:
    first = await run(fake_lm, good())
    one = reply((" ".join(LINES), 12.0, "Slower"))
    fake_lm.script([one, one])
    async with LMClient(LMSettings(lm_base_url=fake_lm.base_url, **FAST)) as lm:
        result = await Pipeline(lm).improve(first.storyboard, rating=2, comment="slower")

    assert texts(result) == LINES
    assert result.revision is not None and not result.revision.unchanged


def test_anchor_matches_a_repeated_line_to_its_own_place() -> None:
    script = [SceneDraft(text=t, duration_s=3) for t in ["Knock.", "Silence.", "Knock."]]
    lm = [SceneDraft(text=t, duration_s=d, visual=v) for t, d, v in [("Knock.", 2, "A"), ("Silence.", 4, "B"),
                                                                     ("Knock.", 2, "C")]]  # fmt: skip
    anchored = anchor(script, lm)

    assert [s.visual for s in anchored.scenes] == ["A", "B", "C"]
    assert anchored.repairs == {}


def test_anchor_names_each_repair() -> None:
    script = [SceneDraft(text=t, duration_s=3) for t in ["one two three", "four five six", "seven eight nine"]]
    lm = [
        SceneDraft(text="seven eight nine", duration_s=2),
        SceneDraft(text="one two three four five six", duration_s=6),
    ]
    anchored = anchor(script, lm)

    assert anchored.repairs[Repair.MERGED] == [1, 2]
    assert Repair.REORDERED in anchored.repairs
    assert [s.text for s in anchored.scenes] == ["one two three", "four five six", "seven eight nine"]
    assert anchored.structural and anchored.usable


async def test_a_small_model_s_padding_and_empty_notes_are_not_kept(fake_lm: FakeLM) -> None:
    padded = reply(*[(f", {line}", 4.0, "###") for line in LINES[:3]], (LINES[3], 4.0, "Dark room"))
    result = await run(fake_lm, padded)

    assert texts(result) == LINES  # the script's words, not ", A door opens slowly."
    assert visuals(result) == [None, None, None, "Dark room"]
