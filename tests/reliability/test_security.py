"""Secrets stay out of everything the process prints; the operator endpoints tell the truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bot.context import SERVICES_KEY
from bot.emulator import SENDING_METHODS, BotAPIEmulator
from tests.e2e.conftest import RunBot, is_ack, is_result
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
