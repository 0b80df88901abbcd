"""Commands, the allowlist and the admin's /stats, end to end."""

from __future__ import annotations

import asyncio

import pytest

from bot.emulator import BotAPIEmulator
from tests.e2e.conftest import BotConfig, RunBot, count_rows, is_ack, is_result, job_id_of

pytestmark = pytest.mark.slow


async def test_start_and_help_explain_the_bot(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    user = emulator.user(2001, "Hana <b>")
    async with run_bot():
        await user.send_command("/start")
        start = await user.chat.wait_for()
        mark = user.chat.mark()
        await user.send_command("/help")
        help_text = await user.chat.wait_for(after=mark)

    assert "Hi Hana <b>!" in (start.text or "")
    assert "/status" in (help_text.text or "") and "up to 1 MB" in (help_text.text or "")
    assert emulator.errors((400, 499)) == []


async def test_status_jobs_and_cancel_see_only_the_users_own_jobs(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    config.jobs["worker_concurrency"] = 1
    config.jobs["job_poll_interval_s"] = 30  # nothing runs unless woken: keep the jobs queued
    owner, other = emulator.user(2002, "Owner"), emulator.user(2003, "Other")
    async with run_bot() as app:
        await app.bot_data["bhiv_services"].core.workers.stop(grace_s=0)  # no worker: jobs stay queued
        await owner.send_text("one\ntwo")
        job_id = job_id_of(await owner.chat.wait_for(is_ack))
        replies = {}
        for user, command in [
            (owner, f"/status {job_id}"),
            (other, f"/status {job_id}"),
            (other, f"/cancel {job_id}"),
            (owner, "/jobs"),
            (other, "/jobs"),
            (owner, "/status"),
            (owner, "/cancel"),
            (owner, f"/cancel {job_id.upper()}"),
            (owner, f"/cancel {job_id}"),
            (owner, "/status <script>alert(1)</script>"),
            (owner, "/frobnicate"),
        ]:
            mark = user.chat.mark()
            await user.send_command(command)
            replies[(user.id, command)] = (await user.chat.wait_for(lambda m: not is_ack(m), after=mark)).text or ""

    assert "Queued" in replies[(2002, f"/status {job_id}")]
    assert "can't find" in replies[(2003, f"/status {job_id}")]
    assert "can't find" in replies[(2003, f"/cancel {job_id}")]
    assert job_id in replies[(2002, "/jobs")]
    assert "No jobs yet" in replies[(2003, "/jobs")]
    assert job_id in replies[(2002, "/status")]
    assert f"Cancelled job {job_id}" in replies[(2002, "/cancel")]  # no id: the newest unfinished job
    assert "already cancelled" in replies[(2002, f"/cancel {job_id.upper()}")]  # ids are case-insensitive
    assert "already cancelled" in replies[(2002, f"/cancel {job_id}")]
    assert "<script>" in replies[(2002, "/status <script>alert(1)</script>")]  # shown, escaped, not parsed
    assert "don't know that command" in replies[(2002, "/frobnicate")]
    assert emulator.errors((400, 499)) == []


async def test_stats_is_for_admins_only(emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig) -> None:
    config.admins = frozenset({2004})
    admin, user = emulator.user(2004, "Admin"), emulator.user(2005, "User")
    async with run_bot():
        await user.send_text("one\ntwo")
        result = await user.chat.wait_for(is_result, timeout_s=10)
        await (await user.press(result.message_id, result.callback_data[4]))
        await user.send_command("/stats")
        refused = await user.chat.wait_for(lambda m: "admins" in (m.text or ""))
        await admin.send_command("/stats")
        stats = await admin.chat.wait_for()

    assert "for the bot's admins" in (refused.text or "")
    assert "done 1" in (stats.text or "") and "5★ 1" in (stats.text or "") and "p95" in (stats.text or "")
    assert emulator.errors((400, 499)) == []


async def test_strangers_are_refused_politely_everywhere_and_make_no_job(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    config.allowed = frozenset({2006})
    friend, stranger = emulator.user(2006, "Friend"), emulator.user(2007, "Stranger")
    async with run_bot():
        await friend.send_text("one\ntwo")
        result = await friend.chat.wait_for(is_result, timeout_s=10)
        await stranger.send_text("my script")
        refusal = await stranger.chat.wait_for()
        await stranger.send_command("/jobs")
        press = await (await stranger.press(refusal.message_id, result.callback_data[0], check=False))

    assert "private" in (refusal.text or "") and "2007" in (refusal.text or "")
    assert "private" in (press.text or "")
    assert await count_rows(config.database_url, "jobs") == 1
    assert emulator.errors((400, 499)) == []


async def test_a_stranger_flooding_is_refused_once_and_groups_hear_nothing(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    config.allowed = frozenset({2008})
    stranger, member = emulator.user(2009, "Stranger"), emulator.user(2008, "Member")
    group = emulator.group(-100777, "Team")
    async with run_bot():
        for n in range(40):
            await stranger.send_text(f"let me in {n}")
        said = await member.send_text("/start", chat_id=group.id)
        await member.edit_text(said, "/start@bhiv_test_bot please")
        await member.send_text("a script in the group", chat_id=group.id)
        await member.send_text("one\ntwo")  # the member's own chat works
        await member.chat.wait_for(is_result, timeout_s=10)
        await asyncio.sleep(0.5)

    refusals = [m for m in stranger.chat.bot_messages if "private" in (m.text or "")]
    assert len(refusals) == 1
    assert len(stranger.chat.bot_messages) == 1
    assert group.bot_messages == []
    assert emulator.errors((400, 499)) == []


async def test_video_of_a_job_without_one_says_why(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    user = emulator.user(1401, "Xena")
    async with run_bot():  # RENDER_VIDEO=false here: the results are text
        await user.send_text("One scene\nTwo scenes")
        await user.chat.wait_for(is_result, timeout_s=30)
        await user.chat.wait_for(lambda m: m.document is not None, timeout_s=10)
        mark = user.chat.mark()
        await user.send_text("/video")
        answer = await user.chat.wait_for(after=mark, timeout_s=10)

    assert "No video for job" in (answer.text or "") and "none was made" in (answer.text or "")
