"""Telegram misbehaving and the bot restarting: every result still arrives, once."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from bot.app import Webhook
from bot.emulator import SENDING_METHODS, BotAPIEmulator, Fault
from tests.e2e.conftest import BotConfig, RunBot, count_rows, is_ack, is_document, is_result

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_results_queued_while_telegram_failed_arrive_once_after_a_restart(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    user = emulator.user(3001, "Ivy")
    emulator.faults.set(methods=["sendMessage", "sendDocument", "editMessageText"], p_5xx=1.0)
    async with run_bot():
        await user.send_text("one\ntwo\nthree")

        async def job_done() -> bool:
            return await count_rows(config.database_url, "versions") == 1

        await wait_until(job_done)
    assert user.chat.bot_messages == []  # nothing got through, all of it waits in the outbox

    emulator.faults.clear()
    async with run_bot():
        await user.chat.wait_for(is_result, timeout_s=20)
        await user.chat.wait_for(is_document, timeout_s=20)
        await asyncio.sleep(0.5)  # anything sent twice would show up by now

    assert sum(map(is_ack, user.chat.bot_messages)) == 1
    assert sum(map(is_result, user.chat.bot_messages)) == 1
    assert sum(map(is_document, user.chat.bot_messages)) == 1


async def test_429s_and_502s_on_every_send_still_deliver_everything_once(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    emulator.faults.set(methods=SENDING_METHODS, p_429=0.2, retry_after=1, p_5xx=0.05, seed=7)
    users = [emulator.user(3100 + n, f"U{n}") for n in range(4)]
    async with run_bot():
        for user in users:
            await user.send_text(f"Scene for {user.id}\nAnother line")
        for user in users:
            await user.chat.wait_for(is_result, timeout_s=30)
            await user.chat.wait_for(is_document, timeout_s=30)
        await asyncio.sleep(0.5)

    for user in users:
        assert sum(map(is_ack, user.chat.bot_messages)) == 1, user.chat.transcript
        assert sum(map(is_result, user.chat.bot_messages)) == 1
        assert sum(map(is_document, user.chat.bot_messages)) == 1
    assert emulator.rate_limited or emulator.errors((500, 599))  # the faults really happened
    assert emulator.errors((400, 428)) == [] and emulator.errors((430, 499)) == []


async def test_webhook_mode_takes_updates_with_the_secret_and_refuses_the_rest(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    port = free_port()
    hook = Webhook(url=f"http://127.0.0.1:{port}/telegram-hook", secret="s3cret-Token_1", port=port)
    user = emulator.user(3201, "Webb")
    async with run_bot(webhook=hook):
        await user.send_text("one\ntwo")
        await user.chat.wait_for(is_result, timeout_s=10)
        async with httpx.AsyncClient() as client:
            forged = {
                "update_id": 999_999,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 3202, "type": "private"},
                    "from": {"id": 3202, "is_bot": False, "first_name": "Mallory"},
                    "text": "evil script",
                },
            }
            no_secret = await client.post(hook.url, json=forged)
            wrong_secret = await client.post(
                hook.url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            )
        await asyncio.sleep(0.3)

    assert no_secret.status_code == 403 and wrong_secret.status_code == 403
    assert await count_rows(config.database_url, "jobs") == 1  # Mallory's update reached no handler
    assert all(delivery.ok for delivery in emulator.webhook_deliveries)


async def test_get_updates_timeouts_and_dropped_connections_lose_no_update(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    emulator.faults.set(methods=["getUpdates"], p_drop=0.3, p_5xx=0.2, seed=11)
    # However few polls a fast run makes, the first ones fail: a dropped connection, then a 502.
    emulator.faults.push("getUpdates", Fault.drop(), Fault.server_error(502))
    users = [emulator.user(3300 + n, f"P{n}") for n in range(5)]
    async with run_bot():
        for user in users:
            await user.send_text(f"Scene for {user.id}")
        for user in users:
            await user.chat.wait_for(is_document, timeout_s=30)
        await asyncio.sleep(0.5)

    assert any(call.fault for call in emulator.calls_to("getUpdates"))  # the faults really happened
    for user in users:
        assert [sum(map(p, user.chat.bot_messages)) for p in (is_ack, is_result, is_document)] == [1, 1, 1]


async def test_a_flooding_user_gets_one_notice_and_cannot_starve_another(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    config.telegram.update(flood_max_updates=10, flood_window_s=5)
    flooder, neighbour = emulator.user(3401, "Flood"), emulator.user(3402, "Calm")
    async with run_bot():
        for n in range(50):
            await flooder.send_text(f"spam {n}")
        await neighbour.send_text("My one script")
        await neighbour.chat.wait_for(is_result, timeout_s=20)  # while the flooder's chat is still being worked
        # The flooder's updates go one at a time, in order: the notice comes with the 11th, however long that is.
        await flooder.chat.wait_for(lambda m: "ignore your messages" in (m.text or ""), timeout_s=30)
        await asyncio.sleep(1.0)
        flood_jobs = await count_rows(config.database_url, "jobs") - 1

    notices = [m for m in flooder.chat.bot_messages if "ignore your messages" in (m.text or "")]
    assert len(notices) == 1
    assert flood_jobs <= 10  # FLOOD_MAX_UPDATES let 10 through (and MAX_ACTIVE_JOBS_PER_USER caps the queue)
    # each message let through is answered (an ack and its result and file, or a refusal); the other 40 are not
    assert len(flooder.chat.bot_messages) <= 10 * 3 + 1
    assert emulator.errors((400, 499)) == []
