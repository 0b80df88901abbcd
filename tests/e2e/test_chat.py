"""A user's whole conversation with the bot, over loopback HTTP to the emulator."""

from __future__ import annotations

import asyncio
import codecs
import json
import logging

import pytest

from bot.emulator import BotAPIEmulator
from tests.e2e.conftest import (
    BotConfig,
    RunBot,
    count_rows,
    is_ack,
    is_document,
    is_result,
    job_id_of,
    storyboard_for,
)

SCRIPT = "INT. KITCHEN - NIGHT\nA kettle <whistles> & the cat jumps.\n\nRain on the window."

pytestmark = pytest.mark.slow


async def test_text_script_gets_an_ack_at_once_then_the_result_summary_json_and_buttons(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    alice = emulator.user(1001, "Alice")
    async with run_bot():
        sent = await alice.send_text(SCRIPT)
        ack = await alice.chat.wait_for(is_ack)
        result = await alice.chat.wait_for(is_result, timeout_s=10)
        document = await alice.chat.wait_for(is_document)
        await asyncio.sleep(0.5)  # an edit of the ack would have come by now

    job_id = job_id_of(ack)
    assert ack.reply_to is not None and ack.reply_to.message_id == sent.message_id
    assert job_id in (result.body or "")
    assert "A kettle <whistles> & the cat jumps." in (result.body or "")  # escaped on the wire, raw on screen
    assert [str(n) in button["text"] for n, button in zip(range(1, 6), result.buttons, strict=False)] == [True] * 5
    assert document.document is not None and str(document.document["file_name"]).endswith(".json")
    assert sum(map(is_ack, alice.chat.bot_messages)) == 1  # never re-sent
    # A job done in a few seconds costs its chat three calls: the result says what an edit of the ack would
    assert alice.chat.message(ack.message_id).history == []
    assert [c.method for c in emulator.calls if c.method.startswith(("send", "edit"))] == [
        "sendMessage",
        "sendMessage",
        "sendDocument",
    ]
    assert emulator.errors((400, 499)) == []


async def test_document_scripts_in_utf8_and_utf16_become_jobs(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    bob = emulator.user(1002, "Bob")
    async with run_bot():
        await bob.send_document(SCRIPT.encode(), file_name="scene.txt", mime_type="text/plain")
        await bob.chat.wait_for(is_result, timeout_s=10)
        await bob.send_document(codecs.BOM_UTF16_LE + SCRIPT.encode("utf-16-le"), file_name="s.fountain", mime_type="")
        results = await _results(bob, 2)

    assert len(results) == 2
    assert emulator.errors((400, 499)) == []


async def _results(user, count: int):  # type: ignore[no-untyped-def]
    for _ in range(count):
        await user.chat.wait_for(lambda m: sum(map(is_result, user.chat.bot_messages)) >= count, timeout_s=10)
    return [m for m in user.chat.bot_messages if is_result(m)]


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (lambda u: u.send_photo(), "photo"),
        (lambda u: u.send_sticker(), "sticker"),
        (lambda u: u.send_voice(), "voice"),
        (
            lambda u: u.send_document(b"\x89PNG\r\n\x1a\n\x00\x00", file_name="x.png", mime_type="image/png"),
            "text file",
        ),
        (lambda u: u.send_document(b"\x00\x01\x02binary", file_name="x.txt", mime_type="text/plain"), "binary"),
        (lambda u: u.send_document(b"", file_name="empty.txt", mime_type="text/plain"), "empty"),
        (lambda u: u.send_document(b"   \n\n ", file_name="blank.txt", mime_type="text/plain"), "empty"),
        (lambda u: u.send_document(b"caf\xe9", file_name="latin1.txt", mime_type="text/plain"), "UTF-8"),
        (
            lambda u: u.send_document(b"", file_name="big.txt", mime_type="text/plain", declared_size=25 * 1024 * 1024),
            "limit is",
        ),
        (lambda u: u.send_text("x" * 4096 + "\n" * 0), None),
    ],
)
async def test_every_bad_input_gets_a_clear_answer_and_makes_no_job(
    emulator: BotAPIEmulator,
    run_bot: RunBot,
    config: BotConfig,
    send,
    expected: str | None,  # type: ignore[no-untyped-def]
) -> None:
    config.jobs["max_script_chars"] = 1000
    carol = emulator.user(1003, "Carol")
    async with run_bot():
        await send(carol)
        answer = await carol.chat.wait_for()

    assert answer.text
    assert expected is None or expected in answer.text, answer.text
    assert "limit is 1,000" in answer.text or expected is not None
    assert await count_rows(config.database_url, "jobs") == 0
    assert emulator.errors((400, 499)) == []


async def test_redelivered_update_makes_no_second_job(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    dave = emulator.user(1004, "Dave")
    async with run_bot():
        await dave.send_text(SCRIPT)
        await dave.chat.wait_for(is_result, timeout_s=10)
        first_update = emulator.updates[-1]["update_id"]
        emulator.resend_update(first_update)
        await dave.send_command("/jobs")
        jobs_list = await dave.chat.wait_for(lambda m: "recent jobs" in (m.text or ""))

    assert await count_rows(config.database_url, "jobs") == 1
    assert len(jobs_list.entity_texts("code")) == 1
    assert sum(map(is_ack, dave.chat.bot_messages)) == 1


async def test_low_rating_asks_what_to_change_and_the_note_brings_an_improved_version(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    erin = emulator.user(1005, "Erin")
    async with run_bot():
        result = await storyboard_for(erin, SCRIPT)
        answer = await erin.press(result.message_id, result.callback_data[1])  # 2 stars
        toast = await answer
        prompt = await erin.chat.wait_for(lambda m: m.force_reply)
        marked = await erin.chat.wait_for(
            lambda m: m.message_id == result.message_id and any("✅" in b["text"] for b in m.buttons)
        )
        await erin.reply(prompt.message_id, "Slower please, it feels rushed.")
        improved = await erin.chat.wait_for(lambda m: is_result(m) and m.message_id != result.message_id, timeout_s=10)

    assert "2" in (toast.text or "") and "What should change" in (toast.text or "")
    assert "Skip" in json.dumps(marked.buttons, ensure_ascii=False)
    assert "version 2" in (improved.body or "")
    assert len(improved.callback_data) >= 5
    assert await count_rows(config.database_url, "feedback") == 1
    assert await count_rows(config.database_url, "versions") == 2
    assert emulator.errors((400, 499)) == []


async def test_skip_improves_without_a_note(emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig) -> None:
    frank = emulator.user(1006, "Frank")
    async with run_bot():
        result = await storyboard_for(frank, SCRIPT)
        await (await frank.press(result.message_id, result.callback_data[0]))
        with_skip = await frank.chat.wait_for(lambda m: m.message_id == result.message_id and len(m.buttons) == 6)
        skip = with_skip.callback_data[5]
        toast = await (await frank.press(result.message_id, skip))
        improved = await frank.chat.wait_for(lambda m: is_result(m) and m.message_id != result.message_id, timeout_s=10)

    assert "Improving" in (toast.text or "")
    assert "version 2" in (improved.body or "")
    assert emulator.errors((400, 499)) == []


async def test_second_tap_changes_the_rating_and_high_ratings_ask_nothing(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    gina = emulator.user(1007, "Gina")
    async with run_bot():
        result = await storyboard_for(gina, SCRIPT)
        first = await (await gina.press(result.message_id, result.callback_data[4]))
        again = await (await gina.press(result.message_id, result.callback_data[3]))
        same = await (await gina.press(result.message_id, result.callback_data[3]))

    assert "5" in (first.text or "")
    assert "from 5 to 4" in (again.text or "")
    assert "already" in (same.text or "")
    assert not any(m.force_reply for m in gina.chat.bot_messages)
    assert await count_rows(config.database_url, "feedback") == 1
    assert emulator.errors((400, 499)) == []


async def test_forged_stale_and_foreign_presses_are_answered(
    emulator: BotAPIEmulator, run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    owner, stranger = emulator.user(1008, "Owner"), emulator.user(1009, "Stranger")
    async with run_bot():
        result = await storyboard_for(owner, SCRIPT)
        forged = await (await owner.press(result.message_id, "r:999999:5", check=False))
        garbage = await (await owner.press(result.message_id, "💣" * 10, check=False))
        skip_foreign = await (await owner.press(result.message_id, "s:12345", check=False))
        overflowing = await (await owner.press(result.message_id, "r:9999999999999999999:1", check=False))
        await stranger.send_text("hello")
        await stranger.chat.wait_for(is_result, timeout_s=10)
        stranger_message = next(m for m in stranger.chat.bot_messages if is_result(m))
        # the owner's button data, pressed by somebody else
        foreign = await (await stranger.press(stranger_message.message_id, result.callback_data[0], check=False))

    assert "isn't yours" in (forged.text or "")
    assert "expired" in (garbage.text or "")
    assert "isn't yours" in (skip_foreign.text or "")
    assert "isn't yours" in (foreign.text or "")
    assert "expired" in (overflowing.text or "")  # an id no row can have: answered, no error logged
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert emulator.errors((400, 499)) == []


async def test_a_note_after_skip_is_answered_and_a_second_low_tap_asks_no_second_question(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    kim = emulator.user(1010, "Kim")
    async with run_bot():
        result = await storyboard_for(kim, SCRIPT)
        await (await kim.press(result.message_id, result.callback_data[1]))
        prompt = await kim.chat.wait_for(lambda m: m.force_reply)
        again = await (await kim.press(result.message_id, result.callback_data[0]))  # 1 star, question still open
        with_skip = await kim.chat.wait_for(lambda m: m.message_id == result.message_id and len(m.buttons) == 6)
        await (await kim.press(result.message_id, with_skip.callback_data[5]))
        improved = await kim.chat.wait_for(lambda m: is_result(m) and m.message_id != result.message_id, timeout_s=10)
        await kim.chat.wait_for(lambda m: is_document(m) and m.message_id > improved.message_id)  # its JSON too
        last = max(m.message_id for m in kim.chat.bot_messages)
        await kim.reply(prompt.message_id, "Too late, but: slower.")
        answer = await kim.chat.wait_for(lambda m: m.message_id > last)  # a new message, not an edit of an old one

    assert "Reply to my question above" in (again.text or "")
    assert sum(m.force_reply for m in kim.chat.bot_messages) == 1
    assert "already have a note" in (answer.text or "")
    assert await count_rows(config.database_url, "jobs") == 2  # the script and one improvement
    assert emulator.errors((400, 499)) == []


async def test_a_one_line_note_typed_without_replying_answers_the_open_question(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    lee = emulator.user(1011, "Lee")
    async with run_bot():
        result = await storyboard_for(lee, SCRIPT)
        await (await lee.press(result.message_id, result.callback_data[1]))
        await lee.chat.wait_for(lambda m: m.force_reply)
        await lee.send_text("make it faster")  # typed, not a reply
        improved = await lee.chat.wait_for(lambda m: is_result(m) and m.message_id != result.message_id, timeout_s=10)
        second = await storyboard_for(lee, "A brand new script\nwith two lines")  # multi-line: a script

    assert "version 2" in (improved.body or "") and "What changed" in (improved.body or "")
    assert "version 1" in (second.body or "")
    assert await count_rows(config.database_url, "jobs") == 3
    assert emulator.errors((400, 499)) == []


async def test_a_new_bot_on_an_old_database_answers_its_first_messages(config: BotConfig) -> None:
    """A fresh emulator, like a new bot's chats, numbers its messages from 1 again: on a database another bot
    filled, those ids are not re-deliveries. Keys scoped to the bot's id keep the two apart."""
    from bot.app import create_application, running

    results = []
    for token in ("424242:E2E-first_bot", "525252:E2E-second_bot"):
        async with BotAPIEmulator(token=token) as emu:
            user = emu.user(1101, "Carol")
            application = create_application(config.telegram_settings(emu), config.core_settings())
            async with running(application, poll_timeout_s=1):
                result = await storyboard_for(user, SCRIPT)
            results.append((result, job_id_of(result), user.chat.bot_messages))

    (_, first_job, _), (_, second_job, second_chat) = results
    assert first_job != second_job
    assert sum(map(is_ack, second_chat)) == 1  # the second bot acknowledged message 1 as new
    assert await count_rows(config.database_url, "jobs") == 2
