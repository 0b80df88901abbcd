"""Figures of the bot as an operating-system process (``bhiv-bot run``): start-up time and memory."""

from __future__ import annotations

import asyncio
import time

from core.settings import JobSettings
from tests.bench.harness import Bench, bot_process, queue_in_bulk, rss_mb, say
from tests.bench.report import Figure, at_most, median
from tests.fakes.fake_lm import FakeLM

SETTLE_S = 3.0  # after start-up, before reading the resident set (0.5 s with --quick)
NEVER_S = 3600.0  # an LM that does not answer while we look


async def _started_s(bench: Bench, database_url: str, **env: str) -> float:
    """From spawning ``bhiv-bot run`` to its first getUpdates at the emulator."""
    await bench.emulator.reset()
    spawned = time.time()
    async with bot_process(bench, database_url, **env):
        first = await bench.emulator.wait_call("getUpdates", timeout_s=60.0)
    if first is None:
        raise RuntimeError("the bot never called getUpdates")
    return first - spawned


async def startup(bench: Bench) -> list[Figure]:
    runs = 1 if bench.quick else 3
    times = [await _started_s(bench, bench.sqlite_url("startup")) for _ in range(runs)]
    say("startup runs (s): " + ", ".join(f"{value:.2f}" for value in times))
    return [Figure("startup_s", median(times), digits=2), Figure("startup_min_s", min(times), digits=2)]


async def _resident_mb(bench: Bench, database_url: str, lm: FakeLM, *, busy_workers: int) -> float:
    """RSS once the bot polls, its workers (if there is work) are all waiting on the LM, and it has settled."""
    await bench.emulator.reset()
    env = {"LM_BASE_URL": lm.base_url, "SHUTDOWN_GRACE_S": "0"}
    async with bot_process(bench, database_url, **env) as process:
        if await bench.emulator.wait_call("getUpdates", timeout_s=60.0) is None:
            raise RuntimeError("the bot never called getUpdates")
        deadline = time.monotonic() + 30.0
        while len(lm.requests) < busy_workers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5 if bench.quick else SETTLE_S)
        return rss_mb(process.pid)


async def memory(bench: Bench) -> list[Figure]:
    sizes = [1000] if bench.quick else [10_000, 1_000_000]
    busy = JobSettings.model_construct().worker_concurrency
    figures = []
    idle_url = bench.sqlite_url("memory-idle")
    await queue_in_bulk(idle_url, [])  # migrated already: a restart, not a first start (which loads Alembic)
    async with FakeLM(latency_s=NEVER_S) as lm:
        idle = await _resident_mb(bench, idle_url, lm, busy_workers=0)
        figures.append(Figure("memory_idle_mb", idle, target=at_most(90)))
        for n in sizes:
            queued_url = bench.sqlite_url("memory-queued")
            started = time.monotonic()
            await queue_in_bulk(queued_url, bench.users(n))
            say(f"memory: {n} jobs queued in {time.monotonic() - started:.1f} s")
            lm.requests.clear()
            queued = await _resident_mb(bench, queued_url, lm, busy_workers=busy)
            say(f"memory: {len(lm.requests)} LM calls hanging while {n} jobs were queued")
            figures.append(Figure(f"memory_{n}_queued_mb", queued, target=at_most(90)))
    return figures
