from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from core.foreground import Foreground
from core.jobs import JobService
from core.workers import WorkerPool
from tests.core.helpers import CountingPipeline, job_settings, submission


async def test_background_goes_at_once_when_nothing_is_in_the_foreground() -> None:
    foreground = Foreground(max_wait_s=60)

    async with asyncio.timeout(1):
        await foreground.give_way()

    assert not foreground.busy


async def test_background_waits_for_foreground_work_to_end() -> None:
    foreground = Foreground(max_wait_s=60)
    order: list[str] = []

    async def background() -> None:
        await foreground.give_way()
        order.append("background")

    with foreground.work():
        waiting = asyncio.create_task(background())
        await asyncio.sleep(0.05)
        order.append("foreground done")
    await waiting

    assert order == ["foreground done", "background"]


async def test_a_steady_foreground_cannot_starve_the_background() -> None:
    foreground = Foreground(max_wait_s=0.05)

    with foreground.work():
        async with asyncio.timeout(5):  # gives way at most max_wait_s, then goes anyway
            await foreground.give_way()
        assert foreground.busy


async def test_workers_claim_no_job_while_an_ack_is_being_made(engine: AsyncEngine) -> None:
    jobs = JobService(engine, job_settings())
    jobs.foreground.max_wait_s = 60
    job = (await jobs.submit(submission(user_id=2))).job
    pool = WorkerPool(jobs, CountingPipeline(), jobs.settings)

    with jobs.foreground.work():
        burst = asyncio.create_task(pool.run_burst())
        await asyncio.sleep(0.2)
        assert (await jobs.get_for_user(job.id, 2))[0].status == "queued"
    await burst

    assert (await jobs.get_for_user(job.id, 2))[0].status == "done"


async def test_a_worker_giving_way_when_stop_comes_claims_nothing(engine: AsyncEngine) -> None:
    jobs = JobService(engine, job_settings())
    jobs.foreground.max_wait_s = 60
    pipeline = CountingPipeline()
    job = (await jobs.submit(submission(user_id=3))).job
    pool = WorkerPool(jobs, pipeline, jobs.settings)

    with jobs.foreground.work():
        await pool.start()
        await asyncio.sleep(0.05)  # every worker is giving way
        stopping = asyncio.create_task(pool.stop())
        await asyncio.sleep(0.05)
    await stopping

    assert sum(pipeline.calls.values()) == 0
    assert (await jobs.get_for_user(job.id, 3))[0].status == "queued"
