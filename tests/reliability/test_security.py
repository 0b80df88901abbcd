"""Secrets stay out of everything the process prints; the operator endpoints tell the truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bot.context import SERVICES_KEY
from bot.emulator import SENDING_METHODS, BotAPIEmulator
from tests.e2e.conftest import RunBot, is_ack, is_result
from tests.e2e.test_resilience import free_port
from tests.fakes.fake_lm import FakeLM, Reply
from tests.reliability.process import BotProcess

pytestmark = pytest.mark.slow

LM_KEY = "sk-live-0123456789abcdefSECRET"


async def test_token_and_lm_key_never_reach_the_log_even_at_debug(tmp_path: Path) -> None:
    token = "987654:AAF-the_secret_part_of_the_token"
    async with BotAPIEmulator(token=token) as emulator, FakeLM() as lm:
        lm.script([Reply.status(500, body=f"upstream said Bearer {LM_KEY}")] * 3 + [Reply.status(401)] * 3)
        emulator.faults.set(methods=SENDING_METHODS, p_429=0.2, p_5xx=0.2, retry_after=1, seed=3)
        bot = BotProcess(
            emulator,
            f"sqlite+aiosqlite:///{tmp_path / 'secrets.db'}",
            tmp_path / "bot.log",
            {
                "LM_BASE_URL": lm.base_url,
                "LM_API_KEY": LM_KEY,
                "LM_MAX_ATTEMPTS": "3",
                "LOG_LEVEL": "DEBUG",
                "LM_BACKOFF_MIN_S": "0.05",
            },
        )
        user = emulator.user(7001, "Sam")
        try:
            await bot.start()
            await user.send_text("one\ntwo")
            await user.send_text("three")
            await user.send_command("/status nonsense")
            await user.chat.wait_for(is_result, timeout_s=40)
            await bot.terminate()
        finally:
            await bot.stop()

    log = bot.log()
    assert len(log) > 1000  # it did log, at debug
    assert lm.requests and lm.requests[0].headers["authorization"] == f"Bearer {LM_KEY}"  # the key was in use
    for secret in (token, token.split(":")[1], LM_KEY):
        assert secret not in log


async def test_healthz_and_metrics_report_jobs_workers_and_outbox(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    user = emulator.user(7002, "Ops")
    async with run_bot() as app, httpx.AsyncClient() as client:
        services = app.bot_data[SERVICES_KEY]
        base = f"http://127.0.0.1:{services.ops.port}"
        await user.send_text("one\ntwo")
        await user.chat.wait_for(is_result, timeout_s=10)
        await asyncio.sleep(0.3)
        healthy = await client.get(f"{base}/healthz")
        metrics = (await client.get(f"{base}/metrics")).text
        await services.core.workers.stop(grace_s=0)
        sick = await client.get(f"{base}/healthz")

    assert healthy.status_code == 200 and healthy.json()["ok"] is True
    assert sick.status_code == 503 and sick.json()["workers_alive"] == 0
    assert 'bhiv_jobs{status="done"} 1.0' in metrics
    assert "bhiv_pipeline_seconds_bucket" in metrics
    assert 'bhiv_notifications_total{kind="result",outcome="sent"}' in metrics
    assert "bhiv_outbox_lag_seconds" in metrics and "bhiv_lm_retries_total" in metrics
    assert sum(map(is_ack, user.chat.bot_messages)) == 1


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _post_raw(port: int, headers: dict[str, str], body_mb: int, *, chunked: bool = False) -> int:
    """POST a body of ``body_mb`` MB, written while the server may already have answered; returns the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ["POST /hook HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_mb * 1024 * 1024}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    chunk = b"[" + b"1," * (512 * 1024 - 1) + b"1"  # 1 MB of a JSON array, never closed

    async def write_body() -> None:
        for _ in range(body_mb):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            await writer.drain()

    sending = asyncio.create_task(write_body())
    status_line = await asyncio.wait_for(reader.readline(), 30)
    await asyncio.wait_for(asyncio.gather(sending, return_exceptions=True), 30)  # the server hangs up
    writer.close()
    return int(status_line.split()[1])


async def test_a_webhook_post_is_refused_before_its_body_is_read_and_costs_no_memory(tmp_path: Path) -> None:
    secret = "webhook-secret-" + "k" * 30
    port = free_port()
    async with BotAPIEmulator(token="987655:webhook-probe") as emulator:
        bot = BotProcess(
            emulator,
            f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}",
            tmp_path / "bot.log",
            {
                "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                "WEBHOOK_SECRET": secret,
                "WEBHOOK_LISTEN": "127.0.0.1",
                "WEBHOOK_PORT": str(port),
            },
        )
        user = emulator.user(7003, "Hook")
        try:
            await bot.start()
            async with asyncio.timeout(30):
                while not emulator.webhook.active:
                    await asyncio.sleep(0.05)
            assert bot.process is not None
            before_mb = _rss_mb(bot.process.pid)
            no_secret = await _post_raw(port, {}, 90)
            wrong_secret = await _post_raw(port, {"X-Telegram-Bot-Api-Secret-Token": secret[:-1] + "x"}, 90)
            too_long = await _post_raw(port, {"X-Telegram-Bot-Api-Secret-Token": secret}, 90)
            chunked = await _post_raw(port, {"X-Telegram-Bot-Api-Secret-Token": secret}, 20, chunked=True)
            after_mb = _rss_mb(bot.process.pid)
            await user.send_text("Still taking\nreal updates")
            await user.chat.wait_for(is_ack, timeout_s=20)
        finally:
            await bot.stop()

    print(f"\nwebhook probes of 90 MB: RSS {before_mb:.0f} -> {after_mb:.0f} MB")
    assert (no_secret, wrong_secret, too_long, chunked) == (403, 403, 413, 413)
    assert after_mb - before_mb < 15  # 90 MB bodies were never buffered
    assert "Traceback" not in bot.log()
