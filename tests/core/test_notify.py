"""Wake-ups between processes on PostgreSQL: a notification leaves with the commit of the work it is about, never
with a rollback, and a listening process turns other processes' notifications into wake-ups here."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text

from core.wakeups import Wakeups
from storage import notify
from storage.db import Database, Notice
from tests.core.helpers import BOT_ID, kit, submission

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


async def heard(notices: asyncio.Queue[Notice], *, within_s: float) -> list[Notice]:
    found: list[Notice] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while True:
                found.append(await notices.get())
    return found


@contextlib.asynccontextmanager
async def listening(db: Database):  # type: ignore[no-untyped-def]
    queue: asyncio.Queue[Notice] = asyncio.Queue()

    async def pump() -> None:
        async with db.listen([notify.JOBS, notify.OUTBOX]) as notices:
            ready.set()
            async for notice in notices:
                queue.put_nowait(notice)

    ready = asyncio.Event()
    task = asyncio.create_task(pump())
    await asyncio.wait_for(ready.wait(), 5)
    try:
        yield queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_submitted_job_notifies_workers_and_its_bot_at_commit(db: Database) -> None:
    async with listening(db) as notices:
        await kit(db).intake.submit(submission())
        got = await heard(notices, within_s=0.5)

    assert (notify.JOBS, f"{notify.ORIGIN} 1") in got
    assert (notify.OUTBOX, f"{notify.ORIGIN} {BOT_ID}") in got


async def test_a_rolled_back_transaction_notifies_nobody(db: Database) -> None:
    service = kit(db)

    def notify_then_fail(conn) -> None:  # type: ignore[no-untyped-def]
        notify.send(conn, notify.JOBS, "1")
        raise RuntimeError("the transaction fails after its notify")

    async with listening(db) as notices:
        with pytest.raises(RuntimeError):
            await service.db.write(notify_then_fail)
        got = await heard(notices, within_s=0.3)

    assert got == []


async def test_a_listening_process_wakes_for_other_processes_and_only_for_its_own_bot(db: Database) -> None:
    wakeups = Wakeups()
    task = asyncio.create_task(wakeups.listen(db, workers=2, bot_id=BOT_ID))
    loop = asyncio.get_running_loop()
    try:
        while not wakeups.listening:
            await asyncio.sleep(0.01)
        await wakeups.job_taken()  # the catch-up wake-ups of a new connection
        await wakeups.job_taken()
        await wakeups.wait_for_outbox(0.01)

        async def notify_raw(channel: str, payload: str) -> None:
            await db.write(lambda conn: conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload}))

        async def outbox_woken() -> bool:
            started = loop.time()
            await wakeups.wait_for_outbox(0.5)
            return loop.time() - started < 0.4

        await notify_raw(notify.JOBS, "elsewhere 5")
        started = loop.time()
        await wakeups.wait_for_jobs(2.0)
        await wakeups.wait_for_jobs(2.0)
        job_wakeups_s = loop.time() - started
        third_started = loop.time()
        await wakeups.wait_for_jobs(0.3)  # 5 jobs, but 2 workers here: 2 tokens
        third_waited_s = loop.time() - third_started

        await notify_raw(notify.OUTBOX, f"elsewhere {BOT_ID}")
        ours = await outbox_woken()
        await notify_raw(notify.OUTBOX, f"elsewhere {BOT_ID + 1}")
        other_bot = await outbox_woken()
        await notify_raw(notify.OUTBOX, f"{notify.ORIGIN} {BOT_ID}")
        own = await outbox_woken()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert job_wakeups_s < 0.5
    assert third_waited_s >= 0.25
    assert (ours, other_bot, own) == (True, False, False)
