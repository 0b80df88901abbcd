from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from core.errors import JobNotFoundError, JobStateError, QuotaExceededError, ScriptRejectedError
from core.ids import ALPHABET, LENGTH
from core.jobs import FAILED_FOR_USER, JobService
from core.types import Submitted
from core.workers import WorkerPool
from storage.tables import jobs, outbox, scripts, versions
from tests.core.helpers import CountingPipeline, job_settings, submission


async def count(engine: AsyncEngine, table, *where) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def test_submit_returns_a_short_unguessable_id_and_queues_an_ack(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())

    submitted = await service.submit(submission(user_id=7))

    assert submitted.created
    assert len(submitted.job.id) == LENGTH and set(submitted.job.id) <= set(ALPHABET)
    assert submitted.job.status == "queued"
    assert await service.queue_position(submitted.job) == 1
    assert submitted.ack_outbox_id is not None
    assert await count(engine, outbox, outbox.c.kind == "ack") == 1


async def test_same_message_submitted_twice_makes_one_job(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())
    first = await service.submit(submission(user_id=7, message_id=42))

    again = await service.submit(submission(user_id=7, message_id=42))

    assert not again.created and again.job.id == first.job.id
    assert await count(engine, jobs) == 1
    assert await count(engine, scripts) == 1


async def test_concurrent_redeliveries_of_one_message_make_one_job(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())

    results = await asyncio.gather(*(service.submit(submission(user_id=3, message_id=99)) for _ in range(10)))

    assert len({result.job.id for result in results}) == 1
    assert sum(result.created for result in results) == 1
    assert await count(engine, jobs) == 1


async def test_queue_position_counts_jobs_ahead(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())

    positions = [await service.queue_position((await service.submit(submission(user_id=u))).job) for u in (1, 2, 3)]

    assert positions == [1, 2, 3]


async def test_empty_script_is_refused_and_stores_nothing(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())

    with pytest.raises(ScriptRejectedError):
        await service.submit(submission(text=" \n\t\n"))

    assert await count(engine, jobs) == 0


async def test_active_job_quota_refuses_with_a_clear_message(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(max_active_jobs_per_user=2))
    await service.submit(submission(user_id=5))
    await service.submit(submission(user_id=5))

    with pytest.raises(QuotaExceededError, match="already have 2 storyboards in the works; the limit is 2"):
        await service.submit(submission(user_id=5))
    other = await service.submit(submission(user_id=6))  # somebody else is not affected

    assert other.created
    assert await count(engine, jobs, jobs.c.user_id == 5) == 2


async def test_hourly_quota_counts_a_sliding_hour(engine: AsyncEngine) -> None:
    clock = ManualClock()
    service = JobService(engine, job_settings(max_jobs_per_hour=2), clock=clock)
    for _ in range(2):
        job = (await service.submit(submission(user_id=5))).job
        await service.cancel(job.id, 5)

    with pytest.raises(QuotaExceededError, match="2 scripts in the last hour") as refused:
        await service.submit(submission(user_id=5))
    assert refused.value.retry_after_s == pytest.approx(3600, abs=1)

    clock.advance(3601)
    assert (await service.submit(submission(user_id=5))).created


async def test_cancel_queued_job_and_refuse_foreign_or_finished_ones(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())
    job = (await service.submit(submission(user_id=1))).job

    with pytest.raises(JobNotFoundError):
        await service.cancel(job.id, user_id=2)
    cancelled = await service.cancel(job.id.upper(), user_id=1)  # ids are typed case-insensitively
    with pytest.raises(JobStateError, match="already cancelled"):
        await service.cancel(job.id, user_id=1)

    assert cancelled.status == "cancelled"
    assert await service.claim("w") is None


async def test_status_of_another_users_job_is_not_found(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())
    job = (await service.submit(submission(user_id=1))).job

    with pytest.raises(JobNotFoundError):
        await service.get_for_user(job.id, user_id=2)
    with pytest.raises(JobNotFoundError):
        await service.get_for_user("not an id!", user_id=1)
    mine, position = await service.get_for_user(job.id, user_id=1)
    assert mine.id == job.id and position == 1


async def test_eight_workers_race_over_two_hundred_jobs_and_run_each_exactly_once(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(worker_concurrency=8))
    submitted = [await service.submit(submission(user_id=u % 20 + 1)) for u in range(200)]
    pipeline = CountingPipeline(delay_s=0.001)

    await WorkerPool(service, pipeline, service.settings).run_burst()

    ids = {s.job.id for s in submitted}
    assert set(pipeline.calls) == ids
    assert set(pipeline.calls.values()) == {1}
    assert await count(engine, jobs, jobs.c.status == "done") == 200
    assert await count(engine, versions) == 200


async def test_workers_on_separate_engines_never_share_a_job(database_url: str, engine: AsyncEngine) -> None:
    """Two pools on two connection pools, as two processes would be: each job still runs once."""
    from storage.engine import create_engine

    service = JobService(engine, job_settings(worker_concurrency=4))
    for u in range(60):
        await service.submit(submission(user_id=u + 1))
    other_engine = create_engine(database_url)
    try:
        other = JobService(other_engine, job_settings(worker_concurrency=4))
        first, second = CountingPipeline(delay_s=0.002), CountingPipeline(delay_s=0.002)
        await asyncio.gather(
            WorkerPool(service, first, service.settings, name="a").run_burst(),
            WorkerPool(other, second, other.settings, name="b").run_burst(),
        )
    finally:
        await other_engine.dispose()

    assert not set(first.calls) & set(second.calls)
    assert len(first.calls) + len(second.calls) == 60
    assert await count(engine, versions) == 60


async def test_crash_mid_job_loses_nothing_when_the_lease_expires(engine: AsyncEngine) -> None:
    clock = ManualClock()
    settings = job_settings(job_lease_s=10.0)
    service = JobService(engine, settings, clock=clock)
    job = (await service.submit(submission())).job
    claimed = await service.claim("dead-worker")  # ... and the process dies here
    assert claimed is not None and claimed.id == job.id

    clock.advance(11)
    requeued, failed = await service.requeue_expired()
    pipeline = CountingPipeline()
    await WorkerPool(service, pipeline, settings, name="survivor").run_burst()
    late = await service.complete(claimed, "dead-worker", (await pipeline.generate("x")).storyboard, pipeline_ms=1)

    assert requeued == [job.id] and failed == []
    assert (await service.get_for_user(job.id, 1))[0].status == "done"
    assert late is None  # the dead worker's late result is discarded
    assert await count(engine, versions) == 1


async def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(engine: AsyncEngine) -> None:
    clock = ManualClock()
    service = JobService(engine, job_settings(job_lease_s=10.0, job_max_attempts=2), clock=clock)
    job = (await service.submit(submission())).job
    for _ in range(2):
        assert await service.claim("w") is not None
        clock.advance(11)
        await service.requeue_expired()

    final, _ = await service.get_for_user(job.id, 1)
    assert final.status == "failed" and final.error
    assert await count(engine, outbox, outbox.c.kind == "job_failed") == 1


async def test_pipeline_error_is_retried_then_succeeds(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(job_max_attempts=3))
    job = (await service.submit(submission())).job

    await WorkerPool(service, CountingPipeline(failures=2), service.settings).run_burst()

    final, _ = await service.get_for_user(job.id, 1)
    assert final.status == "done" and final.attempts == 3


async def test_pipeline_error_every_time_fails_the_job_with_a_readable_reason(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(job_max_attempts=2))
    job = (await service.submit(submission())).job

    await WorkerPool(service, CountingPipeline(failures=99), service.settings).run_burst()

    final, _ = await service.get_for_user(job.id, 1)
    assert final.status == "failed"
    assert final.error == FAILED_FOR_USER
    assert "RuntimeError" not in (final.error or "")


async def test_cancel_while_running_stops_the_pipeline_and_drops_the_result(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(job_lease_s=0.3))  # heartbeat every 0.1 s
    job = (await service.submit(submission())).job
    gate = asyncio.Event()
    pipeline = CountingPipeline(gate=gate)
    pool = WorkerPool(service, pipeline, service.settings)
    await pool.start()
    try:
        await asyncio.wait_for(pipeline.started.wait(), 5)
        await service.cancel(job.id, 1)
        for _ in range(100):
            if not pool.in_flight:
                break
            await asyncio.sleep(0.05)
        gate.set()
    finally:
        await pool.stop()

    assert pool.in_flight == {}
    assert (await service.get_for_user(job.id, 1))[0].status == "cancelled"
    assert await count(engine, versions) == 0


async def test_shutdown_releases_unfinished_jobs_to_the_queue(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(shutdown_grace_s=0.2))
    job = (await service.submit(submission())).job
    pipeline = CountingPipeline(gate=asyncio.Event())  # never opens
    pool = WorkerPool(service, pipeline, service.settings)
    await pool.start()
    await asyncio.wait_for(pipeline.started.wait(), 5)

    await pool.stop()

    released, position = await service.get_for_user(job.id, 1)
    assert released.status == "queued" and position == 1
    assert released.attempts == 0  # a shutdown is not the job's fault
    await WorkerPool(service, CountingPipeline(), service.settings).run_burst()
    assert (await service.get_for_user(job.id, 1))[0].status == "done"


async def test_shutdown_lets_in_flight_jobs_finish_within_the_grace_period(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(shutdown_grace_s=5.0))
    job = (await service.submit(submission())).job
    pipeline = CountingPipeline(delay_s=0.2)
    pool = WorkerPool(service, pipeline, service.settings)
    await pool.start()
    await asyncio.wait_for(pipeline.started.wait(), 5)

    await pool.stop()

    assert (await service.get_for_user(job.id, 1))[0].status == "done"


async def test_recent_jobs_are_the_users_own_newest_first(engine: AsyncEngine) -> None:
    clock = ManualClock()
    service = JobService(engine, job_settings(), clock=clock)
    mine = []
    for _ in range(3):
        mine.append((await service.submit(submission(user_id=1))).job.id)
        clock.advance(1)
    await service.submit(submission(user_id=2))

    assert [job.id for job in await service.recent(1)] == mine[::-1]


def test_worker_ids_fit_their_column_whatever_the_host_name(engine: AsyncEngine) -> None:
    import socket
    from unittest.mock import patch

    with patch.object(socket, "gethostname", return_value="h" * 200):
        pool = WorkerPool(JobService(engine, job_settings()), CountingPipeline(), job_settings(worker_concurrency=256))

    assert len(f"{pool.name}/255") <= 64


def count_transactions(engine: AsyncEngine) -> list[int]:
    began = [0]
    event.listen(engine.sync_engine, "begin", lambda _conn: began.__setitem__(0, began[0] + 1))
    return began


async def test_concurrent_submissions_share_one_transaction_and_each_gets_its_own_job(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())
    transactions = count_transactions(engine)

    results = await asyncio.gather(*(service.submit(submission(user_id=u)) for u in range(1, 41)))

    assert transactions == [1]  # all forty queued while the first was being written: one group commit
    assert [result.job.user_id for result in results] == list(range(1, 41))
    assert all(result.created for result in results)
    assert len({result.job.id for result in results}) == 40
    assert await count(engine, scripts) == 40 and await count(engine, outbox, outbox.c.kind == "ack") == 40
    assert sorted([await service.queue_position(result.job) for result in results]) == list(range(1, 41))


async def test_quotas_count_the_jobs_before_in_the_same_batch(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(max_active_jobs_per_user=2))

    results = await asyncio.gather(
        *(service.submit(submission(user_id=u)) for u in (5, 5, 6, 5)), return_exceptions=True
    )

    assert [type(result).__name__ for result in results] == [
        "Submitted",
        "Submitted",
        "Submitted",
        "QuotaExceededError",
    ]
    assert "the limit is 2" in str(results[3])
    assert await count(engine, jobs) == 3 and await count(engine, scripts) == 3  # the refused one wrote nothing


async def test_a_redelivered_message_in_a_batch_gets_its_first_job_and_the_others_are_stored(
    engine: AsyncEngine,
) -> None:
    service = JobService(engine, job_settings(max_active_jobs_per_user=2))
    first = await service.submit(submission(user_id=9, message_id=42))

    results = await asyncio.gather(
        service.submit(submission(user_id=5)),
        service.submit(submission(user_id=9, message_id=42)),  # refused by the unique key: the batch rolls back
        service.submit(submission(user_id=5)),
        service.submit(submission(user_id=5)),
        return_exceptions=True,
    )

    again = results[1]
    assert isinstance(again, Submitted) and not again.created and again.job.id == first.job.id
    assert [isinstance(results[i], Submitted) and results[i].created for i in (0, 2)] == [True, True]
    assert isinstance(results[3], QuotaExceededError)
    assert await count(engine, jobs) == 3


async def test_a_redelivered_message_gets_its_first_job_even_at_the_active_limit(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings(max_active_jobs_per_user=1))
    first = await service.submit(submission(user_id=8, message_id=5))

    again = await service.submit(submission(user_id=8, message_id=5))
    twice = await asyncio.gather(*(service.submit(submission(user_id=9, message_id=6)) for _ in range(2)))

    assert not again.created and again.job.id == first.job.id  # not "you already have 1 storyboard"
    assert [result.created for result in twice] == [True, False]  # one batch: the copy counts no quota
    assert twice[0].job.id == twice[1].job.id


async def test_one_bad_request_in_a_batch_fails_alone(engine: AsyncEngine) -> None:
    service = JobService(engine, job_settings())

    results = await asyncio.gather(
        service.submit(submission(user_id=11)),
        service.submit(submission(user_id=12, message_id=2**70)),  # no database stores that integer
        service.submit(submission(user_id=13)),
        return_exceptions=True,
    )

    assert [isinstance(result, Submitted) for result in results] == [True, False, True]
    assert await count(engine, jobs) == 2
