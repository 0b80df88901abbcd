"""Intake as a user meets it: a long paste in parts is one script, and replies keep the order of what was sent."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.exc import OperationalError

from bot.context import SERVICES_KEY
from bot.emulator import BotAPIEmulator
from core import inbox as inbox_module
from tests.e2e.conftest import BotConfig, RunBot, count_rows, is_ack, is_document, is_result, job_id_of
from tests.fakes.fake_lm import FakeLM, Reply

pytestmark = pytest.mark.slow

LINES = [f"Shot {n}: the camera drifts along the harbour wall at dawn while gulls circle." for n in range(1, 151)]


async def test_a_paste_split_in_three_parts_is_one_job_with_every_line(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    dana = emulator.user(1201, "Dana")
    async with run_bot():
        parts = await dana.send_long_text("\n".join(LINES))
        result = await dana.chat.wait_for(is_result, timeout_s=15)
        await dana.chat.wait_for(is_document)
        await asyncio.sleep(0.5)  # a second job's ack would show up now

    acks = [m for m in dana.chat.bot_messages if is_ack(m)]
    assert len(parts) == 3
    assert len(acks) == 1 and acks[0].reply_to is not None and acks[0].reply_to.message_id == parts[0].message_id
    assert job_id_of(acks[0]) in (result.body or "")
    assert f"· {len(LINES)} scenes ·" in (result.body or "")
    assert await count_rows(config.database_url, "jobs") == 1
    assert await count_rows(config.database_url, "inbox") == 3


async def test_two_long_messages_sent_3_s_apart_are_two_jobs(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    eli = emulator.user(1202, "Eli")
    long_script = "\n".join(LINES[:45])  # about 3,500 characters: long enough to wait for a next part
    async with run_bot():
        await eli.send_text(long_script)
        await asyncio.sleep(3)
        await eli.send_text(long_script.replace("Shot", "Take"))
        await eli.chat.wait_for(lambda m: sum(map(is_result, eli.chat.bot_messages)) >= 2, timeout_s=15)

    assert sum(map(is_ack, eli.chat.bot_messages)) == 2


def _kind(text: str) -> str:
    if text.startswith("🎬"):
        return "ack"
    if text.startswith("Send me a short video script"):
        return "help"
    if text.startswith("Your recent jobs"):
        return "jobs"
    return "other"


async def test_a_command_answer_never_overtakes_the_ack_of_a_script_sent_before_it(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    fay = emulator.user(1203, "Fay")
    async with run_bot():
        await fay.send_text("First script\nwith two scenes")
        await fay.chat.wait_for(is_ack, timeout_s=10)
        # Slow sends keep the chat's outbox busy (the first result still going out) when the next script comes:
        # its ack waits its turn there, and the /help after it must wait too.
        emulator.faults.set(methods={"sendDocument", "sendMessage"}, latency_s=0.3)
        await fay.send_text("Second script\nthat waits its turn")
        await fay.send_command("/help")
        await fay.send_text("Third script\nright after")
        await fay.send_command("/jobs")
        await fay.chat.wait_for(lambda m: (m.text or "").startswith("Your recent jobs"), timeout_s=20)

    kinds = [kind for kind in (_kind(m.text or "") for m in fay.chat.bot_messages) if kind != "other"]
    assert kinds == ["ack", "ack", "help", "ack", "jobs"], kinds


async def test_a_transient_database_failure_while_handling_is_tried_again_not_answered_sorry(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database going away under a handler (here: the job's transaction meets an OperationalError, as a
    restarted server gives, four times): the stored update is handled again a moment later, and its tries are
    not counted as a flood."""
    monkeypatch.setattr(inbox_module, "RETRY_BACKOFF_S", (0.05,) * 8)
    config.telegram.update(flood_max_updates=2)
    gus = emulator.user(1204, "Gus")
    failures = [OperationalError("INSERT INTO jobs ...", {}, ConnectionError("server closed the connection"))] * 4

    async with run_bot() as application:
        intake = application.bot_data[SERVICES_KEY].intake
        submit = intake.submit

        async def submit_while_the_database_comes_back(*args: object, **kwargs: object) -> object:
            if failures:
                raise failures.pop()
            return await submit(*args, **kwargs)

        monkeypatch.setattr(intake, "submit", submit_while_the_database_comes_back)
        await gus.send_text("A scene\nAnother scene")
        await gus.chat.wait_for(is_document, timeout_s=15)

    texts = [m.text or "" for m in gus.chat.bot_messages]
    assert failures == []
    assert sum(map(is_ack, gus.chat.bot_messages)) == 1
    assert not any("Sorry" in text or "a lot at once" in text for text in texts), texts
    assert await count_rows(config.database_url, "jobs") == 1


async def test_a_hostile_lm_reply_ends_in_a_storyboard_while_another_users_ack_goes_out(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig, fake_lm: FakeLM
) -> None:
    """The prompt asks the LM to copy the script, so any user can plant a reply built to make a parser
    backtrack (a fence and 2000 spaces took 25 s on the event loop once), or one nested 5000 deep."""
    fake_lm.script(
        [Reply.content(json.dumps({"scenes": [{"text": "```" + " " * 2000 + "x", "duration": 3}]}))]
        + [Reply.content("[" * 5000 + "]" * 5000)] * 5
    )
    config.lm_base_url = fake_lm.base_url
    mallory, bob = emulator.user(1205, "Mallory"), emulator.user(1206, "Bob")
    async with run_bot():
        await mallory.send_text("``` " + " " * 2000 + "\nsecond scene")
        await mallory.send_text("a nested one\nand more")
        while len(fake_lm.requests) < 1:
            await asyncio.sleep(0.01)
        await bob.send_text("An honest script\nwith two scenes")
        await bob.chat.wait_for(is_ack, timeout_s=5)  # the bot was not frozen meanwhile
        await mallory.chat.wait_for(lambda m: sum(map(is_result, mallory.chat.bot_messages)) >= 2, timeout_s=30)

    assert sum(map(is_result, mallory.chat.bot_messages)) == 2  # both storyboards made, by the LM or locally
