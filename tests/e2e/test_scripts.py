"""Screenplays, Markdown scripts and notes the improver follows, end to end: the real bot against the emulator,
the storyboard read back from the JSON file it sends."""

from __future__ import annotations

import json

import pytest

from bot.emulator import BotAPIEmulator
from bot.emulator.users import EmulatedUser
from tests.e2e.conftest import BotConfig, RunBot, has_ratings, improved_by_note, is_document, is_result, storyboard_for
from tests.fakes.fake_lm import FakeLM

pytestmark = pytest.mark.slow

SCREENPLAY = """\
Title: The Kettle
Author: Jo March

.COLD OPEN

A kettle whistles in the dark. [[a note to self]]

INT. KITCHEN - NIGHT #1#

MARY enters, soaked.

MARY
(shivering)
Who left this on?

/* a cut scene
that nobody sees */

EXT. GARDEN - NIGHT

Rain on the empty chairs.

TOM
Not me.
"""
MARKDOWN = "# Fresh Roast\n\n- **A barista grinds beans.**\n- Steam rises from a [cup](http://x.example).\n\n---\n"
PLAIN = "A door opens slowly.\nA black cat walks in.\nIt jumps on the table."


async def storyboard_of(emulator: BotAPIEmulator, user: EmulatedUser, after: int) -> dict[str, object]:
    document = await user.chat.wait_for(lambda m: is_document(m) and m.message_id > after)
    assert document.document is not None
    return json.loads(emulator.state.files[str(document.document["file_id"])].content())


def frames(board: dict[str, object]) -> list[list[str]]:
    return [[frame["text"] for frame in scene["frames"]] for scene in board["scenes"]]  # type: ignore[index,union-attr]


async def test_a_fountain_screenplay_becomes_one_scene_per_heading(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    jo = emulator.user(4001, "Jo")
    async with run_bot():
        await jo.send_document(SCREENPLAY.encode(), file_name="kettle.fountain", mime_type="")
        result = await jo.chat.wait_for(is_result, timeout_s=10)
        board = await storyboard_of(emulator, jo, result.message_id)

    assert board["title"] == "The Kettle"  # the title page, which is no scene
    assert frames(board) == [
        ["A kettle whistles in the dark."],
        ["MARY enters, soaked.", "MARY: (shivering) Who left this on?"],
        ["Rain on the empty chairs.", "TOM: Not me."],
    ]
    visuals = [scene["frames"][0].get("visual") for scene in board["scenes"]]  # type: ignore[index,union-attr]
    assert visuals == ["COLD OPEN", "INT. KITCHEN - NIGHT", "EXT. GARDEN - NIGHT"]
    assert "note to self" not in json.dumps(board) and "nobody sees" not in json.dumps(board)
    assert "3 scenes" in (result.body or "")
    assert emulator.errors((400, 499)) == []


async def test_a_markdown_script_loses_its_markup(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    mo = emulator.user(4002, "Mo")
    async with run_bot():
        await mo.send_document(MARKDOWN.encode(), file_name="roast.md", mime_type="text/markdown")
        result = await mo.chat.wait_for(is_result, timeout_s=10)
        board = await storyboard_of(emulator, mo, result.message_id)

    assert board["title"] == "Fresh Roast"
    assert frames(board) == [["A barista grinds beans."], ["Steam rises from a cup."]]


@pytest.mark.parametrize(
    ("note", "expected", "told"),
    [
        ("make it faster", [2.2, 2.2, 2.2], "9 → 6.6 s in all"),  # under the generator's 3 s floor at last
        ("scene 2 longer", [3.0, 4.5, 3.0], "scene 2: 3 → 4.5 s"),
        ("make it a 20 second ad", [6.6, 6.7, 6.7], "9 → 20 s in all"),
    ],
)
async def test_a_note_about_timing_is_followed_without_an_lm(
    emulator: BotAPIEmulator, run_bot: RunBot, note: str, expected: list[float], told: str
) -> None:
    lee = emulator.user(4003, "Lee")
    async with run_bot():
        first = await storyboard_for(lee, PLAIN)
        improved = await improved_by_note(lee, first, note)
        board = await storyboard_of(emulator, lee, improved.message_id)

    assert [scene["duration"] for scene in board["scenes"]] == expected  # type: ignore[index,union-attr]
    assert board["generation_method"] == "local_heuristic"
    assert "version 2" in (improved.body or "")
    assert "What changed" in (improved.body or "") and told in (improved.body or "")


async def test_a_note_that_cannot_be_followed_says_so_and_claims_nothing(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    ann = emulator.user(4004, "Ann")
    async with run_bot():
        first = await storyboard_for(ann, PLAIN)
        improved = await improved_by_note(ann, first, "add some music")
        board = await storyboard_of(emulator, ann, improved.message_id)

    body = improved.body or ""
    assert "Nothing changed" in body and "What changed" not in body
    assert "Not done: “add some music”" in body
    assert "Without a language model I can change the timing" in body
    assert [scene["duration"] for scene in board["scenes"]] == [3.0, 3.0, 3.0]  # type: ignore[index,union-attr]


async def test_with_an_lm_the_note_and_the_storyboard_go_to_it_and_the_result_says_what_changed(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig, fake_lm: FakeLM
) -> None:
    config.lm_base_url = fake_lm.base_url
    kim = emulator.user(4005, "Kim")
    async with run_bot():
        first = await storyboard_for(kim, PLAIN)
        improved = await improved_by_note(kim, first, "slower, more time on scene 3")
        board = await storyboard_of(emulator, kim, improved.message_id)

    asked = json.loads(fake_lm.requests[-1].message("user"))
    assert asked["note"] == "slower, more time on scene 3" and asked["rating"] == 1
    assert [scene["text"] for scene in asked["scenes"]] == PLAIN.splitlines()
    assert board["generation_method"] == "lm"
    assert frames(board) == [[line] for line in PLAIN.splitlines()]  # the fake slows every scene by a quarter
    assert "What changed" in (improved.body or "") and "scene 3:" in (improved.body or "")


async def test_a_russian_note_is_followed_and_the_account_is_in_russian(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    ivan = emulator.user(4006, "Ivan", language_code="ru")
    async with run_bot():
        await ivan.send_text(PLAIN)
        first = await ivan.chat.wait_for(has_ratings, timeout_s=10)
        improved = await improved_by_note(ivan, first, "сцена 2 длиннее")
        board = await storyboard_of(emulator, ivan, improved.message_id)

    assert [scene["duration"] for scene in board["scenes"]] == [3.0, 4.5, 3.0]  # type: ignore[index,union-attr]
    assert "✏️ Что изменилось:" in (improved.body or "") and "сцена 2: 3 → 4.5 с" in (improved.body or "")
