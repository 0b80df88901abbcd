"""The database under stress: SQLite with many concurrent writers, PostgreSQL with its connections killed."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.delivery import Delivery
from storage.db import Database
from storage.tables import jobs as jobs_table
from tests.core.helpers import BOT_ID, HOLDER, CountingPipeline, job_settings, kit, submission
from tests.fakes.sender import FakeSender

pytestmark = pytest.mark.slow

SUBMITS = 60


async def statuses(db: Database) -> Counter[str]:
    return await db.read(lambda conn: Counter(conn.execute(select(jobs_table.c.status)).scalars()))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_many_concurrent_writers_never_see_database_is_locked(db: Database) -> None:
    service = kit(db, job_settings(worker_concurrency=8, job_poll_interval_s=0.05))
    sender = FakeSender()
    delivery = Delivery(
        db,
        sender,
        service.settings,
        bot_id=BOT_ID,
        clock=service.clock,
        holder=HOLDER,
        wakeups=service.wakeups,
        concurrency=16,
    )
    pool = service.workers(CountingPipeline(delay_s=0.001))
    await pool.start()
    await delivery.start()
    try:
        # 60 submits from 50 users at once, while 8 workers claim and complete and the outbox delivers
        results = await asyncio.gather(
            *(service.intake.submit(submission(user_id=n % 50 + 1)) for n in range(SUBMITS)), return_exceptions=True
        )
        for _ in range(600):
            if (await statuses(db))["done"] == SUBMITS:
                break
            await asyncio.sleep(0.05)
    finally:
        await pool.stop()
        await delivery.stop()
    await delivery.run_until_idle()

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert await statuses(db) == Counter({"done": SUBMITS})
    assert Counter(item.kind for item in sender.delivered)["result"] == SUBMITS


async def _kill_connections(admin_url: str, database: str, *, rounds: int, pause_s: float) -> int:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    killed = 0
    try:
        for _ in range(rounds):
            await asyncio.sleep(pause_s)
            async with admin.connect() as conn:
                result = await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                )
                killed += sum(1 for ok in result.scalars() if ok)
    finally:
        await admin.dispose()
    return killed


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_connections_killed_under_load_lose_no_accepted_job(database_url: str, db: Database) -> None:
    service = kit(db, job_settings(worker_concurrency=4, job_poll_interval_s=0.05))
    pool = service.workers(CountingPipeline(delay_s=0.005))
    await pool.start()
    database = make_url(database_url).database
    assert database is not None
    accepted: list[str] = []
    refused = 0

    async def submit_all() -> None:
        nonlocal refused
        for n in range(150):
            try:
                accepted.append((await service.intake.submit(submission(user_id=n % 30 + 1))).job.id)
            except DBAPIError:  # the user is told "something went wrong, try again"; nothing was accepted
                refused += 1
            await asyncio.sleep(0.005)

    try:
        killer = asyncio.create_task(
            _kill_connections(os.environ["BHIV_TEST_POSTGRES_URL"], database, rounds=5, pause_s=0.2)
        )
        await submit_all()
        killed = await killer
        for _ in range(400):
            done = await statuses(db)
            if done["done"] == len(accepted) and not done["queued"] and not done["running"]:
                break
            await asyncio.sleep(0.05)
    finally:
        await pool.stop()

    print(f"\nPostgreSQL: {killed} connections killed, {len(accepted)} submits accepted, {refused} refused")
    assert killed > 0
    assert await statuses(db) == Counter({"done": len(accepted)})
    assert len(accepted) + refused == 150
