"""A corpus of awkward input, each sent by its own user to the real bot over the emulator: every case gets a
clear answer, the process stays up, the database stays consistent, and the bot causes no 4xx."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from bot.emulator import BotAPIEmulator
from bot.emulator.users import EmulatedUser
from tests.e2e.conftest import BotConfig, RunBot, count_rows, is_ack, is_result

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
INJECTIONS = [
    "'; DROP TABLE jobs; --",
    "<b>bold</b><script>alert(1)</script>",
    "${jndi:ldap://x}",
    "%s%s%n",
    "\u202egnp.exe",
]


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[EmulatedUser], Awaitable[object]]
    makes_job: bool


def text(value: str) -> Callable[[EmulatedUser], Awaitable[object]]:
    return lambda user: user.send_text(value)


def command(value: str) -> Callable[[EmulatedUser], Awaitable[object]]:
    return lambda user: user.send_command(value)


def document(data: bytes, name: str, mime: str, **extra: int) -> Callable[[EmulatedUser], Awaitable[object]]:
    return lambda user: user.send_document(data, file_name=name, mime_type=mime, **extra)


CASES = [
    Case("rtl", text("שלום עולם\nمرحبا بالعالم"), True),
    Case("zero-width", text("\u200b\u200c\u200d\ufeffscene\u200b"), True),
    Case("only-zero-width", text("\u200b\u200b\n\u200e"), False),  # invisible: an empty script
    Case("emoji", text("🎬👩‍🚀🏳️‍🌈\n🇺🇦 flag"), True),
    Case("html-specials", text('<b>not bold</b> & "quotes" <a href="x">'), True),
    Case("markdown-specials", text("_*[]()~`>#+-=|{}.!\\ all of them"), True),
    Case("4096-characters", text("\n".join(["x" * 50] * 80) + "y" * 16), True),
    Case("one-huge-line", text("word " * 819 + "w"), True),
    Case("too-many-lines", text("\n".join(f"line {n}" for n in range(301))), False),
    Case(
        "utf16-document", document(codecs.BOM_UTF16_BE + "Scène\nдва".encode("utf-16-be"), "s.txt", "text/plain"), True
    ),
    Case("png-named-txt", document(PNG, "script.txt", "text/plain"), False),
    Case("text-named-png", document(b"A real script\nline two", "photo.png", "image/png"), False),
    Case("text-named-exe-but-text-mime", document(b"scene one", "run.exe", "text/plain"), True),
    Case("empty-document", document(b"", "empty.md", "text/markdown"), False),
    Case("oversize-document", document(b"", "huge.txt", "text/plain", declared_size=21 * 1024 * 1024), False),
    Case("latin1-document", document("café".encode("latin-1"), "old.txt", "text/plain"), False),
    *(Case(f"status-injection-{n}", command(f"/status {s}"), False) for n, s in enumerate(INJECTIONS)),
    *(Case(f"cancel-injection-{n}", command(f"/cancel {s}"), False) for n, s in enumerate(INJECTIONS)),
    Case("status-very-long-argument", command("/status " + "a" * 4000), False),
    Case("unknown-command-with-bot-name", command("/frob@bhiv_test_bot x"), False),
    Case("photo", lambda user: user.send_photo(), False),
    Case("sticker", lambda user: user.send_sticker(), False),
    Case("voice", lambda user: user.send_voice(), False),
]


async def test_every_case_of_the_corpus_gets_a_clear_answer(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    config.jobs["max_active_jobs_per_user"] = 5
    users = {case.name: emulator.user(8000 + n, f"Case{n}") for n, case in enumerate(CASES)}
    async with run_bot():
        for case in CASES:
            await case.send(users[case.name])
        answers = await asyncio.gather(*(users[case.name].chat.wait_for(timeout_s=20) for case in CASES))
        expected_jobs = sum(case.makes_job for case in CASES)
        for case in CASES:
            if case.makes_job:
                await users[case.name].chat.wait_for(is_result, timeout_s=20)
        jobs = await count_rows(config.database_url, "jobs")
        versions = await count_rows(config.database_url, "versions")

    for case, answer in zip(CASES, answers, strict=True):
        assert answer.text, case.name
        assert is_ack(answer) == case.makes_job, (case.name, answer.text)
    assert jobs == versions == expected_jobs
    assert emulator.errors((400, 499)) == []
