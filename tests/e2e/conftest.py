"""End to end: the real python-telegram-bot Application, over loopback HTTP, against the bundled Bot API
emulator, with a real SQLite file (and the fake LM server where a test asks for it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import Webhook, create_application, running
from bot.emulator import BotAPIEmulator
from bot.emulator.model import ChatMessage
from bot.emulator.users import EmulatedUser
from bot.settings import TelegramSettings
from core.services import CoreSettings
from core.settings import AccessSettings, JobSettings, LMSettings, RenderSettings, StorageSettings

TOKEN = "424242:E2E-test_token"


@dataclass
class BotConfig:
    database_url: str
    lm_base_url: str | None = None
    allowed: frozenset[int] | None = None
    admins: frozenset[int] = frozenset()
    jobs: dict[str, Any] = field(default_factory=dict)
    # The chat's flow is tested with text results; the tests of the video turn it on (its renders cost a process
    # and a fraction of a second each, which the rest of the suite need not pay).
    video: bool = False
    telegram: dict[str, Any] = field(default_factory=dict)

    def telegram_settings(self, emulator: BotAPIEmulator) -> TelegramSettings:
        values: dict[str, Any] = {
            "telegram_bot_token": emulator.token,
            "telegram_api_base_url": emulator.base_url,
            "telegram_api_file_url": emulator.file_url,
            "ops_port": 0,
            "telegram_max_retries": 3,
        }
        values.update(self.telegram)
        return TelegramSettings(**values)

    def core_settings(self) -> CoreSettings:
        jobs: dict[str, Any] = {"job_poll_interval_s": 0.2, "job_lease_s": 30.0, "worker_concurrency": 2}
        jobs.update(self.jobs)
        lm = LMSettings(
            lm_base_url=self.lm_base_url,
            lm_backoff_min_s=0.01,
            lm_backoff_max_s=0.05,
            lm_timeout_s=2.0,
            lm_job_deadline_s=5.0,
        )
        return CoreSettings(
            storage=StorageSettings(database_url=self.database_url),
            lm=lm,
            jobs=JobSettings(**jobs),
            access=AccessSettings(admin_user_ids=self.admins, allowed_user_ids=self.allowed),
            render=RenderSettings(render_video=self.video),
        )


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def config(tmp_path: Path) -> BotConfig:
    return BotConfig(database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")


RunBot = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
def run_bot(emulator: BotAPIEmulator, config: BotConfig) -> RunBot:
    """``async with run_bot(): ...`` runs the bot (long polling) for the block; call it again to restart."""

    @contextlib.asynccontextmanager
    async def run(webhook: Webhook | None = None) -> AsyncIterator[Any]:
        application = create_application(config.telegram_settings(emulator), config.core_settings())
        async with running(application, webhook=webhook, poll_timeout_s=1) as app:
            yield app

    return run


async def count_rows(database_url: str, table: str) -> int:
    from storage import tables

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(getattr(tables, table)))).scalar_one())
    finally:
        await engine.dispose()


def job_id_of(message: ChatMessage) -> str:
    codes = message.entity_texts("code")
    assert codes, f"no <code> entity in {message.text!r}"
    return codes[0]


def is_ack(message: ChatMessage) -> bool:
    return bool(message.text and message.text.startswith("🎬"))


def is_result(message: ChatMessage) -> bool:
    """The result: a video whose caption is the summary (or the summary as a text, without a video), with the
    rating keyboard."""
    body = message.text if message.text is not None else message.caption
    return len(message.callback_data) >= 5 and bool(body and "How did I do?" in body)


def is_document(message: ChatMessage) -> bool:
    return message.document is not None


async def storyboard_for(user: EmulatedUser, script: str) -> ChatMessage:
    """Send ``script`` and wait for its result message (the one with the rating buttons)."""
    mark = user.chat.mark()
    await user.send_text(script)
    return await user.chat.wait_for(is_result, timeout_s=10, after=mark)


def has_ratings(message: ChatMessage) -> bool:
    """A result in any language: the message with the five rating buttons."""
    return len(message.callback_data) >= 5


async def improved_by_note(user: EmulatedUser, result: ChatMessage, note: str) -> ChatMessage:
    """Rate ``result`` 1 star and answer "what should change?" with ``note``: the improved result."""
    await (await user.press(result.message_id, result.callback_data[0]))
    prompt = await user.chat.wait_for(lambda m: m.force_reply and m.message_id > result.message_id)
    await user.reply(prompt.message_id, note)
    return await user.chat.wait_for(lambda m: has_ratings(m) and m.message_id > prompt.message_id, timeout_s=10)
