"""/jobs naming each script, /version bringing an earlier storyboard back, /delete erasing a user's data: the real
bot against the emulator, with a real SQLite file."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.app import create_application, running
from bot.emulator import BotAPIEmulator
from bot.emulator.model import ChatMessage
from bot.emulator.users import EmulatedUser
from storage.db import open_database
from storage.tables import feedback, inbox, jobs, outbox, prompts, scripts, users, versions
from tests.e2e.conftest import (
    BotConfig,
    RunBot,
    improved_by_note,
    is_ack,
    is_document,
    is_result,
    job_id_of,
    storyboard_for,
)
from tests.fakes.fake_lm import FakeLM, Reply

pytestmark = pytest.mark.slow

SCRIPT = "INT. KITCHEN - NIGHT\nA kettle whistles.\nRain on the window."


def _file(emulator: BotAPIEmulator, message: ChatMessage) -> tuple[str, bytes]:
    assert message.document is not None
    return str(message.document["file_name"]), emulator.state.files[str(message.document["file_id"])].content()


async def _answer(user: EmulatedUser, command: str) -> str:
    mark = user.chat.mark()
    await user.send_command(command)
    return (await user.chat.wait_for(lambda m: m.text is not None and not is_ack(m), after=mark)).text or ""


async def _improved(user: EmulatedUser, result: ChatMessage, note: str = "Slower please") -> ChatMessage:
    """Rate ``result`` 1 and answer the question: the improved result, once its JSON file is in too."""
    improved = await improved_by_note(user, result, note)
    await user.chat.wait_for(lambda m: is_document(m) and m.message_id > improved.message_id)
    return improved


# -- /jobs -----------------------------------------------------------------------------------------------------


async def test_jobs_names_each_script_by_its_title_or_first_line_escaped(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig, fake_lm: FakeLM
) -> None:
    scenes = [{"text": line, "duration": 4} for line in SCRIPT.splitlines()]
    story = {"title": "The <Kettle> & the Cat", "scenes": scenes}
    fake_lm.script([Reply.content(json.dumps(story))])
    config.lm_base_url = fake_lm.base_url
    user = emulator.user(3001, "Jo")
    async with run_bot() as app:
        await storyboard_for(user, SCRIPT)
        await user.chat.wait_for(is_document)
        await app.bot_data["bhiv_services"].core.workers.stop(grace_s=0)  # the next job stays queued
        mark = user.chat.mark()
        await user.send_text("\n\n   <i>First</i> line & more   \nsecond line")
        queued = job_id_of(await user.chat.wait_for(is_ack, after=mark))
        listing = await _answer(user, "/jobs")

    lines = listing.splitlines()
    assert "The <Kettle> & the Cat" in listing  # the storyboard's title, escaped on the wire, shown as sent
    assert "INT. KITCHEN" not in listing  # the title, not the script's first line, once there is one
    queued_line = next(line for line in lines if queued in line)
    assert "<i>First</i> line & more" in queued_line and "Queued" in queued_line
    assert emulator.errors((400, 499)) == []


async def test_jobs_shows_an_improvement_with_its_version_number(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    user = emulator.user(3002, "Ann")
    async with run_bot():
        result = await storyboard_for(user, SCRIPT)
        improved = await _improved(user, result)
        listing = await _answer(user, "/jobs")

    improvement = next(line for line in listing.splitlines() if job_id_of(improved) in line)
    assert "improvement" in improvement and "v2" in improvement
    assert "INT. KITCHEN - NIGHT" in improvement
    assert emulator.errors((400, 499)) == []


# -- /version --------------------------------------------------------------------------------------------------


async def test_version_sends_an_earlier_storyboard_back_as_the_result_was(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    user = emulator.user(3003, "Bea")
    async with run_bot():
        first = await storyboard_for(user, SCRIPT)
        first_file = await user.chat.wait_for(is_document)
        improved = await _improved(user, first)
        job_id, improvement_id = job_id_of(first), job_id_of(improved)
        listing = await _answer(user, f"/version {improvement_id}")
        mark = user.chat.mark()
        await user.send_command(f"/version {improvement_id} 1")  # any job of the script names it
        again = await user.chat.wait_for(is_result, after=mark)
        again_file = await user.chat.wait_for(is_document, after=mark)
        rated = await (await user.press(again.message_id, again.callback_data[4]))  # an old version can be rated

    assert _file(emulator, again_file) == _file(emulator, first_file)  # the same JSON, the same file name
    assert _file(emulator, again_file)[0] == f"storyboard-{job_id}-v1.json"
    assert job_id in (again.body or "") and "version 1" in (again.body or "")
    assert len(again.callback_data) == 5 and "5" in (rated.text or "")
    version_lines = [line for line in listing.splitlines() if line.lstrip().startswith(("1", "2"))]
    assert len(version_lines) == 2 and "scene" in listing
    assert f"/version {improvement_id} 2" in listing or f"/version {job_id}" in listing  # the hint
    assert emulator.errors((400, 499)) == []


async def test_version_answers_every_wrong_request_clearly(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    owner, other = emulator.user(3004, "Owner"), emulator.user(3005, "Other")
    async with run_bot():
        result = await storyboard_for(owner, SCRIPT)
        await owner.chat.wait_for(is_document)
        job_id = job_id_of(result)
        answers = {
            command: await _answer(user, command)
            for user, command in [
                (owner, "/version"),
                (owner, "/version nosuchjob 1"),
                (owner, f"/version {job_id} two"),
                (owner, f"/version {job_id} 0"),
                (owner, f"/version {job_id} 4"),
                (owner, f"/version {job_id} 99999999999999999999"),
                (owner, "/version <b>x</b> 1"),
                (other, f"/version {job_id} 1"),
            ]
        }

    assert "Usage: /version" in answers["/version"]
    assert "can't find" in answers["/version nosuchjob 1"]
    assert "not a version number" in answers[f"/version {job_id} two"]
    assert "only version 1" in answers[f"/version {job_id} 0"]
    assert "only version 1" in answers[f"/version {job_id} 4"]
    assert "only version 1" in answers[f"/version {job_id} 99999999999999999999"]
    assert "<b>x</b>" in answers["/version <b>x</b> 1"]  # shown, escaped, not parsed
    assert "can't find" in answers[f"/version {job_id} 1"]  # somebody else's job
    assert emulator.errors((400, 499)) == []


async def test_version_of_another_bots_job_is_not_found(config: BotConfig) -> None:
    found = []
    job_id = ""
    for token in ("424242:E2E-first_bot", "525252:E2E-second_bot"):
        async with BotAPIEmulator(token=token) as emu:
            user = emu.user(3006, "Cy")
            application = create_application(config.telegram_settings(emu), config.core_settings())
            async with running(application, poll_timeout_s=1):
                if not job_id:
                    job_id = job_id_of(await storyboard_for(user, SCRIPT))
                    await user.chat.wait_for(is_document)
                found.append(await _answer(user, f"/version {job_id} 1"))

    assert "can't find" not in found[0] and "can't find" in found[1]


# -- /delete ---------------------------------------------------------------------------------------------------


async def _user_rows(database_url: str, user_id: int) -> dict[str, int]:
    """Rows of the user's data in each table, counted on the database itself."""
    user_jobs = select(jobs.c.id).where(jobs.c.user_id == user_id)
    user_feedback = select(feedback.c.id).where(feedback.c.user_id == user_id)
    where = {
        "scripts": (scripts, scripts.c.user_id == user_id),
        "jobs": (jobs, jobs.c.user_id == user_id),
        "versions": (versions, versions.c.job_id.in_(user_jobs)),
        "feedback": (feedback, feedback.c.user_id == user_id),
        "prompts": (prompts, prompts.c.feedback_id.in_(user_feedback)),
        "outbox": (outbox, outbox.c.chat_id == user_id),
        "handled updates": (inbox, (inbox.c.chat_id == user_id) & inbox.c.handled_at.is_not(None)),
        "users": (users, users.c.id == user_id),
    }
    db = await open_database(database_url)
    try:
        return {
            name: int(
                await db.read(lambda c, t=t, w=w: c.execute(select(func.count()).select_from(t).where(w)).scalar())
            )
            for name, (t, w) in where.items()
        }
    finally:
        await db.close()


async def test_delete_asks_then_removes_everything_of_the_user_and_nothing_of_anyone_else(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    alice, bob = emulator.user(3101, "Alice"), emulator.user(3102, "Bob")
    async with run_bot():
        result = await storyboard_for(alice, SCRIPT)
        await _improved(alice, result)
        await storyboard_for(bob, "Bob's own script\nwith two lines")
        await bob.chat.wait_for(is_document)
        bob_before = await _user_rows(config.database_url, bob.id)

        mark = alice.chat.mark()
        await alice.send_command("/delete")
        question = await alice.chat.wait_for(lambda m: len(m.buttons) == 2, after=mark)
        text, labels = question.text or "", [b["text"] for b in question.buttons]  # before the edits
        kept = await (await alice.press(question.message_id, question.callback_data[1]))  # Keep
        after_keep = await _user_rows(config.database_url, alice.id)

        mark = alice.chat.mark()
        await alice.send_command("/delete")
        confirm = await alice.chat.wait_for(lambda m: len(m.buttons) == 2, after=mark)
        confirm_data = confirm.callback_data[0]
        forged = await (await alice.press(confirm.message_id, f"dx:{bob.id}", check=False))
        deleted = await (await alice.press(confirm.message_id, confirm_data))
        edited = await alice.chat.wait_for(lambda m: m.message_id == confirm.message_id and not m.buttons)
        again = await (await alice.press(confirm.message_id, confirm_data, check=False))
        stale = await (await alice.press(question.message_id, confirm_data, check=False))
        listing = await _answer(alice, "/jobs")
        bob_listing = await _answer(bob, "/jobs")

    assert "1 script" in text and "2 jobs" in text and "2 storyboard versions" in text and "1 rating" in text
    assert labels == ["🗑 Delete everything", "Keep"]
    assert "Nothing was deleted" in (question.text or "")  # Keep's edit
    assert "nothing was deleted" in (kept.text or "").lower()
    assert after_keep["jobs"] == 2 and after_keep["versions"] == 2 and after_keep["feedback"] == 1
    assert "isn't yours" in (forged.text or "")
    assert "deleted" in (deleted.text or "").lower()
    assert "Deleted" in (edited.text or "") and "2 jobs" in (edited.text or "")
    assert "nothing" in (again.text or "").lower() and "nothing" in (stale.text or "").lower()
    gone = await _user_rows(config.database_url, alice.id)
    assert gone == {
        "scripts": 0,
        "jobs": 0,
        "versions": 0,
        "feedback": 0,
        "prompts": 0,
        "outbox": 0,
        "handled updates": gone["handled updates"],
        "users": 1,  # kept: id, name, language
    }
    assert gone["handled updates"] <= 2  # only what came after the erase: the second press and /jobs
    bob_after = await _user_rows(config.database_url, bob.id)
    assert bob_after | {"handled updates": 0} == bob_before | {"handled updates": 0}
    assert bob_after["handled updates"] >= bob_before["handled updates"]  # Bob's messages are his
    assert "No jobs yet" in listing
    assert "Bob's own script" in bob_listing
    assert emulator.errors((400, 499)) == []


async def test_an_old_delete_button_has_expired_and_removes_nothing(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    user = emulator.user(3103, "Dan")
    async with run_bot():
        await storyboard_for(user, SCRIPT)
        mark = user.chat.mark()
        await user.send_command("/delete")
        question = await user.chat.wait_for(lambda m: len(m.buttons) == 2, after=mark)
        user.chat.message(question.message_id).date -= 3600  # asked an hour ago
        answer = await (await user.press(question.message_id, question.callback_data[0]))

    assert "expired" in (answer.text or "") and "/delete" in (answer.text or "")
    assert (await _user_rows(config.database_url, user.id))["jobs"] == 1
    assert emulator.errors((400, 499)) == []


async def test_delete_with_nothing_stored_says_so_without_buttons(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    user = emulator.user(3104, "Eve")
    async with run_bot():
        await user.send_command("/delete")
        answer = await user.chat.wait_for()

    assert "Nothing of yours is stored" in (answer.text or "") and answer.buttons == []
    assert emulator.errors((400, 499)) == []
