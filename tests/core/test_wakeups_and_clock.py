from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.clock import DatabaseClock
from core.wakeups import Wakeups
from storage.db import Database


async def test_one_new_job_wakes_one_idle_worker() -> None:
    wakeups = Wakeups()
    woken: list[int] = []

    async def worker(n: int) -> None:
        await wakeups.wait_for_jobs(timeout_s=0.5)
        woken.append(n)

    waiting = [asyncio.create_task(worker(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    wakeups.jobs_added(1)
    await asyncio.sleep(0.05)

    assert len(woken) == 1  # the other two sleep on until their poll
    await asyncio.gather(*waiting)
    assert len(woken) == 3


async def test_a_job_claimed_without_waiting_spends_its_token() -> None:
    wakeups = Wakeups()
    wakeups.jobs_added(2)
    await wakeups.job_taken()
    await wakeups.job_taken()
    await wakeups.job_taken()  # no token left: returns at once all the same

    loop = asyncio.get_running_loop()
    started = loop.time()
    await wakeups.wait_for_jobs(timeout_s=0.2)
    assert loop.time() - started >= 0.15  # nothing was left to wake it early


async def test_the_outbox_loop_wakes_on_a_change_and_sleeps_again() -> None:
    wakeups = Wakeups()
    loop = asyncio.get_running_loop()

    wakeups.outbox_changed()
    started = loop.time()
    await wakeups.wait_for_outbox(timeout_s=1.0)
    assert loop.time() - started < 0.1
    started = loop.time()
    await wakeups.wait_for_outbox(timeout_s=0.2)
    assert loop.time() - started >= 0.15


async def test_the_database_clock_follows_the_server_not_this_machine() -> None:
    skew = timedelta(seconds=42.5)

    async def server_time() -> datetime:
        return datetime.now(UTC) + skew

    clock = DatabaseClock(server_time)
    await clock.sync()

    assert abs(clock.offset_s - skew.total_seconds()) < 0.05
    assert abs((clock.now() - (datetime.now(UTC) + skew)).total_seconds()) < 0.05


async def test_the_database_clock_reads_the_real_database(db: Database) -> None:
    clock = DatabaseClock(db.server_time)
    await clock.sync()

    assert abs(clock.offset_s) < 5  # the test server runs on this machine
    assert clock.now().tzinfo is not None
