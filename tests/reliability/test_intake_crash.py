"""A burst of scripts from many users, and the bot killed (SIGKILL, a real process) at each moment of intake that
matters; after a restart every script has its ack, its result and its file.

The moments: as getUpdates hands the burst over (mid-fetch), inside the transaction that stores it (mid-store),
after the commit and before the next offset (stored, not confirmed), the moment the emulator sees the burst
confirmed, inside the transaction of a job (mid-handling), between a send Telegram accepted and its record; and in
webhook mode, inside the store and after the 200 answer.

A kill before anything was handled must cost nothing: each message exactly once. A kill while messages are being
sent may repeat those that Telegram had accepted and the outbox had not yet recorded (at-least-once delivery):
they are counted and printed, and held to the messages that reached the chats before the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.emulator import BotAPIEmulator
from bot.emulator.model import ChatMessage
from tests.conftest import POSTGRES_ENV
from tests.e2e.conftest import is_ack, is_document, is_result
from tests.e2e.test_resilience import free_port
from tests.reliability.process import BotProcess, fresh_postgres
from tests.reliability.test_crash import eventually

pytestmark = pytest.mark.slow

BURST = 60
WEBHOOK_SECRET = "crash-test-secret-" + "x" * 24


@dataclass(frozen=True)
class Moment:
    name: str
    failpoint: str | None = None  # the bot kills itself there (core.failpoints)
    emulator_kill: str | None = None  # "fetched", "confirmed", "answered": the test kills it then
    webhook: bool = False
    before_handling: bool = True  # nothing can have been sent yet: exactly once
    backends: tuple[str, ...] = ("sqlite", "postgres")
    paced: bool = False  # TELEGRAM_MAX_SENDS_PER_S as shipped; else off, for speed


# The moments whose transactions differ by backend run on both; the others, which differ only in what the
# emulator sees, on one each.
MOMENTS = [
    Moment("mid-fetch", emulator_kill="fetched", backends=("sqlite",)),
    Moment("mid-store", failpoint="inbox.store.uncommitted"),
    Moment("stored, not confirmed", failpoint="inbox.stored", backends=("postgres",)),
    Moment("confirmed", emulator_kill="confirmed", before_handling=False),
    Moment("mid-handling", failpoint="intake.stored.uncommitted"),  # the burst's jobs: one transaction
    # With the shipped pacing (29 sends a second), as a kill mid-burst would find the bot.
    Moment("sent, not recorded", failpoint="delivery.sent.ack@10", before_handling=False, paced=True),
    Moment("webhook mid-store", failpoint="inbox.store.uncommitted@7", webhook=True, before_handling=False),
    Moment("webhook answered", emulator_kill="answered", webhook=True, before_handling=False, backends=("postgres",)),
]


@dataclass
class Tally:
    lost: int
    duplicates: int
    sent_before_kill: int


@contextlib.asynccontextmanager
async def _database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        return
    async with fresh_postgres("bhiv_crash") as url:
        yield url


def _killer(bot: BotProcess) -> Callable[[object], None]:
    """SIGKILL the bot right now, from inside the emulator's handling of what it just saw."""

    def kill(_: object) -> None:
        if bot.process is not None and bot.process.returncode is None:
            os.kill(bot.process.pid, signal.SIGKILL)

    return kill


async def _run(moment: Moment, backend: str, tmp_path: Path, n: int) -> Tally:
    async with BotAPIEmulator(token=f"77810{n}:intake-crash") as emulator, _database(backend, tmp_path) as url:
        env = {"WORKER_CONCURRENCY": "4", "JOB_LEASE_S": "5"} | (
            {} if moment.paced else {"TELEGRAM_MAX_SENDS_PER_S": "0"}
        )
        if moment.failpoint:
            env["BHIV_FAILPOINTS"] = moment.failpoint
        if moment.webhook:
            port = free_port()
            env |= {
                "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                "WEBHOOK_SECRET": WEBHOOK_SECRET,
                "WEBHOOK_LISTEN": "127.0.0.1",
                "WEBHOOK_PORT": str(port),
            }
        bot = BotProcess(emulator, url, tmp_path / "bot.log", env)
        kill = _killer(bot)
        if moment.emulator_kill == "fetched":
            emulator.state.updates.on_sent.append(kill)
        elif moment.emulator_kill == "confirmed":
            emulator.state.updates.on_confirmed.append(kill)
        elif moment.emulator_kill == "answered":
            answered = Counter[str]()

            def after_ten(update: object) -> None:
                answered["n"] += 1
                if answered["n"] == 10:
                    kill(update)

            emulator.webhook.on_accepted.append(after_ten)
        users = [emulator.user(90_000 + n * 1000 + i, f"User{i}") for i in range(BURST)]
        try:
            await bot.start()
            await eventually(lambda: emulator.calls_to("setMyCommands"), 30)  # up, and taking updates
            await asyncio.gather(*(u.send_text(f"Opening shot {u.id}\nThe middle\nThe end") for u in users))
            assert bot.process is not None
            await asyncio.wait_for(bot.process.wait(), 30)  # killed: by itself or by the emulator
            sent = sum(len(u.chat.bot_messages) for u in users)  # what reached the chats before the kill
            emulator.state.updates.on_sent.clear()
            emulator.state.updates.on_confirmed.clear()
            emulator.webhook.on_accepted.clear()
            bot.extra_env.pop("BHIV_FAILPOINTS", None)
            await bot.start()
            await eventually(lambda: all(sum(map(is_document, u.chat.bot_messages)) for u in users), 60)
            await asyncio.sleep(0.5)  # a late duplicate would show up now
        finally:
            await bot.stop()
        log = bot.log()
        assert "Traceback" not in log.replace("failpoint", ""), log[-3000:]
        counts = [_counts(u.chat.bot_messages) for u in users]
        lost = sum(1 for c in counts if min(c) == 0)
        duplicates = sum(max(0, n - 1) for c in counts for n in c)
        return Tally(lost, duplicates, sent)


def _counts(messages: list[ChatMessage]) -> tuple[int, int, int]:
    return sum(map(is_ack, messages)), sum(map(is_result, messages)), sum(map(is_document, messages))


CONCURRENT_RUNS = 4  # bot processes at once: each start is about 2 s of CPU, and the machine has 2 cores


@pytest.fixture(scope="module")
def tallies(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Tally | BaseException]:
    """Every moment on every backend it runs on, four runs at a time (a run is two process starts and mostly
    waiting), so the matrix costs the suite about what its CPU needs."""
    runs = [(moment, backend) for moment in MOMENTS for backend in moment.backends if _available(backend)]

    async def run_all() -> list[Tally | BaseException]:
        slots = asyncio.Semaphore(CONCURRENT_RUNS)

        async def one(n: int, moment: Moment, backend: str) -> Tally:
            async with slots:
                return await _run(moment, backend, tmp_path_factory.mktemp(f"run{n}"), n)

        return await asyncio.gather(*(one(n, m, b) for n, (m, b) in enumerate(runs)), return_exceptions=True)

    return {(m.name, b): tally for (m, b), tally in zip(runs, asyncio.run(run_all()), strict=True)}


def _available(backend: str) -> bool:
    return backend == "sqlite" or bool(os.environ.get(POSTGRES_ENV))


@pytest.mark.parametrize("moment", MOMENTS, ids=[m.name for m in MOMENTS])
def test_a_kill_at_each_moment_of_intake_loses_no_script(
    moment: Moment, tallies: dict[tuple[str, str], Tally | BaseException]
) -> None:
    ran = [backend for backend in moment.backends if (moment.name, backend) in tallies]
    if not ran:
        pytest.skip(f"this moment runs on PostgreSQL, which needs {POSTGRES_ENV}")
    for backend in ran:
        tally = tallies[(moment.name, backend)]
        if isinstance(tally, BaseException):
            raise tally
        print(
            f"\nkill {moment.name!r} on {backend}: {BURST} scripts, lost {tally.lost}, "
            f"duplicate messages {tally.duplicates} (messages out before the kill: {tally.sent_before_kill})"
        )
        assert tally.lost == 0
        if moment.before_handling:
            assert tally.duplicates == 0
        else:
            assert tally.duplicates <= tally.sent_before_kill
