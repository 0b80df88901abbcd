from __future__ import annotations

import asyncio

import pytest

from core.clock import ManualClock
from core.errors import JobNotFoundError, JobStateError, Quota, QuotaExceededError, ScriptRejectedError
from core.ids import ALPHABET, LENGTH
from core.types import FailureCode, JobStatus, NotificationKind, Submitted
from storage.db import Database, open_database
from storage.tables import jobs, outbox, scripts, versions
from tests.core.helpers import CountingPipeline, job_settings, kit, submission


async def test_submit_returns_a_short_unguessable_id_and_queues_an_ack(db: Database) -> None:
    service = kit(db, job_settings())

    submitted = await service.intake.submit(submission(user_id=7))

    assert submitted.created
    assert len(submitted.job.id) == LENGTH and set(submitted.job.id) <= set(ALPHABET)
    assert submitted.job.status == "queued"
    assert await service.queries.queue_position(submitted.job) == 1
    assert submitted.ack_outbox_id is not None
    assert await service.count(outbox, outbox.c.kind == "ack") == 1


async def test_same_message_submitted_twice_makes_one_job(db: Database) -> None:
    service = kit(db, job_settings())
    first = await service.intake.submit(submission(user_id=7, message_id=42))

    again = await service.intake.submit(submission(user_id=7, message_id=42))

    assert not again.created and again.job.id == first.job.id
    assert await service.count(jobs) == 1
    assert await service.count(scripts) == 1


async def test_concurrent_redeliveries_of_one_message_make_one_job(db: Database) -> None:
    service = kit(db, job_settings())

    results = await asyncio.gather(*(service.intake.submit(submission(user_id=3, message_id=99)) for _ in range(10)))

    assert len({result.job.id for result in results}) == 1
    assert sum(result.created for result in results) == 1
    assert await service.count(jobs) == 1


async def test_queue_position_counts_jobs_ahead(db: Database) -> None:
    service = kit(db, job_settings())

    positions = [
        await service.queries.queue_position((await service.intake.submit(submission(user_id=u))).job)
        for u in (1, 2, 3)
    ]

    assert positions == [1, 2, 3]


async def test_empty_script_is_refused_and_stores_nothing(db: Database) -> None:
    service = kit(db, job_settings())

    with pytest.raises(ScriptRejectedError):
        await service.intake.submit(submission(text=" \n\t\n"))

    assert await service.count(jobs) == 0


async def test_active_job_quota_refuses_with_a_clear_message(db: Database) -> None:
    service = kit(db, job_settings(max_active_jobs_per_user=2))
    await service.intake.submit(submission(user_id=5))
    await service.intake.submit(submission(user_id=5))

    with pytest.raises(QuotaExceededError) as refused:
        await service.intake.submit(submission(user_id=5))
    assert (refused.value.quota, refused.value.count, refused.value.limit) == (Quota.ACTIVE_JOBS, 2, 2)
    other = await service.intake.submit(submission(user_id=6))  # somebody else is not affected

    assert other.created
    assert await service.count(jobs, jobs.c.user_id == 5) == 2


async def test_hourly_quota_counts_a_sliding_hour(db: Database) -> None:
    clock = ManualClock()
    service = kit(db, job_settings(max_jobs_per_hour=2), clock=clock)
    for _ in range(2):
        job = (await service.intake.submit(submission(user_id=5))).job
        await service.cancel(job.id, 5)

    with pytest.raises(QuotaExceededError) as refused:
        await service.intake.submit(submission(user_id=5))
    assert (refused.value.quota, refused.value.count) == (Quota.JOBS_PER_HOUR, 2)
    assert refused.value.retry_after_s == pytest.approx(3600, abs=1)

    clock.advance(3601)
    assert (await service.intake.submit(submission(user_id=5))).created


async def test_cancel_queued_job_and_refuse_foreign_or_finished_ones(db: Database) -> None:
    service = kit(db, job_settings())
    job = (await service.intake.submit(submission(user_id=1))).job

    with pytest.raises(JobNotFoundError):
        await service.cancel(job.id, user_id=2)
    cancelled = await service.cancel(job.id.upper(), user_id=1)  # ids are typed case-insensitively
    with pytest.raises(JobStateError, match="is cancelled"):
        await service.cancel(job.id, user_id=1)

    assert cancelled.status == "cancelled"
    assert await service.queue.claim("w") is None


async def test_status_of_another_users_job_is_not_found(db: Database) -> None:
    service = kit(db, job_settings())
    job = (await service.intake.submit(submission(user_id=1))).job

    with pytest.raises(JobNotFoundError):
        await service.queries.get_for_user(job.id, user_id=2)
    with pytest.raises(JobNotFoundError):
        await service.queries.get_for_user("not an id!", user_id=1)
    mine, position = await service.queries.get_for_user(job.id, user_id=1)
    assert mine.id == job.id and position == 1


async def test_eight_workers_race_over_two_hundred_jobs_and_run_each_exactly_once(db: Database) -> None:
    service = kit(db, job_settings(worker_concurrency=8))
    submitted = [await service.intake.submit(submission(user_id=u % 20 + 1)) for u in range(200)]
    pipeline = CountingPipeline(delay_s=0.001)

    await service.workers(pipeline).run_burst()

    ids = {s.job.id for s in submitted}
    assert set(pipeline.calls) == ids
    assert set(pipeline.calls.values()) == {1}
    assert await service.count(jobs, jobs.c.status == "done") == 200
    assert await service.count(versions) == 200


async def test_workers_on_separate_connections_never_share_a_job(database_url: str, db: Database) -> None:
    """Two pools on two databases opened apart, as two processes would be: each job still runs once."""
    service = kit(db, job_settings(worker_concurrency=4))
    for u in range(60):
        await service.intake.submit(submission(user_id=u + 1))
    other_db = await open_database(database_url)
    try:
        other = kit(other_db, job_settings(worker_concurrency=4))
        first, second = CountingPipeline(delay_s=0.002), CountingPipeline(delay_s=0.002)
        await asyncio.gather(
            service.workers(first, name="a").run_burst(),
            other.workers(second, name="b").run_burst(),
        )
    finally:
        await other_db.close()

    assert not set(first.calls) & set(second.calls)
    assert len(first.calls) + len(second.calls) == 60
    assert await service.count(versions) == 60


async def test_crash_mid_job_loses_nothing_when_the_lease_expires(db: Database) -> None:
    clock = ManualClock()
    settings = job_settings(job_lease_s=10.0)
    service = kit(db, settings, clock=clock)
    job = (await service.intake.submit(submission())).job
    claimed = await service.queue.claim("dead-worker")  # ... and the process dies here
    assert claimed is not None and claimed.id == job.id

    clock.advance(11)
    requeued, failed = await service.queue.reap()
    pipeline = CountingPipeline()
    await service.workers(pipeline, name="survivor").run_burst()
    late = await service.queue.complete(
        claimed, "dead-worker", (await pipeline.generate("x")).storyboard, pipeline_ms=1
    )

    assert requeued == [job.id] and failed == []
    assert (await service.queries.get_for_user(job.id, 1))[0].status == "done"
    assert late is None  # the dead worker's late result is discarded
    assert await service.count(versions) == 1


async def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(db: Database) -> None:
    clock = ManualClock()
    service = kit(db, job_settings(job_lease_s=10.0, job_max_attempts=2), clock=clock)
    job = (await service.intake.submit(submission())).job
    for _ in range(2):
        assert await service.queue.claim("w") is not None
        clock.advance(11)
        await service.queue.reap()

    final, _ = await service.queries.get_for_user(job.id, 1)
    assert final.status == "failed" and final.error == FailureCode.WORKER_CRASHES
    assert await service.count(outbox, outbox.c.kind == NotificationKind.JOB_FAILED) == 1


async def test_pipeline_error_is_retried_then_succeeds(db: Database) -> None:
    service = kit(db, job_settings(job_max_attempts=3))
    job = (await service.intake.submit(submission())).job

    await service.workers(CountingPipeline(failures=2)).run_burst()

    final, _ = await service.queries.get_for_user(job.id, 1)
    assert final.status == "done" and final.attempts == 3


async def test_pipeline_error_every_time_fails_the_job_with_a_readable_reason(db: Database) -> None:
    service = kit(db, job_settings(job_max_attempts=2))
    job = (await service.intake.submit(submission())).job

    await service.workers(CountingPipeline(failures=99)).run_burst()

    final, _ = await service.queries.get_for_user(job.id, 1)
    assert final.status == JobStatus.FAILED
    assert final.error == FailureCode.PIPELINE  # a code: the bot says it in words


async def test_cancel_while_running_stops_the_pipeline_and_drops_the_result(db: Database) -> None:
    service = kit(db, job_settings(job_lease_s=0.3))  # heartbeat every 0.1 s
    job = (await service.intake.submit(submission())).job
    gate = asyncio.Event()
    pipeline = CountingPipeline(gate=gate)
    pool = service.workers(pipeline)
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
    assert (await service.queries.get_for_user(job.id, 1))[0].status == "cancelled"
    assert await service.count(versions) == 0


async def test_shutdown_releases_unfinished_jobs_to_the_queue(db: Database) -> None:
    service = kit(db, job_settings(shutdown_grace_s=0.2))
    job = (await service.intake.submit(submission())).job
    pipeline = CountingPipeline(gate=asyncio.Event())  # never opens
    pool = service.workers(pipeline)
    await pool.start()
    await asyncio.wait_for(pipeline.started.wait(), 5)

    await pool.stop()

    released, position = await service.queries.get_for_user(job.id, 1)
    assert released.status == "queued" and position == 1
    assert released.attempts == 0  # a shutdown is not the job's fault
    await service.workers(CountingPipeline()).run_burst()
    assert (await service.queries.get_for_user(job.id, 1))[0].status == "done"


async def test_shutdown_lets_in_flight_jobs_finish_within_the_grace_period(db: Database) -> None:
    service = kit(db, job_settings(shutdown_grace_s=5.0))
    job = (await service.intake.submit(submission())).job
    pipeline = CountingPipeline(delay_s=0.2)
    pool = service.workers(pipeline)
    await pool.start()
    await asyncio.wait_for(pipeline.started.wait(), 5)

    await pool.stop()

    assert (await service.queries.get_for_user(job.id, 1))[0].status == "done"


async def test_recent_jobs_are_the_users_own_newest_first(db: Database) -> None:
    clock = ManualClock()
    service = kit(db, job_settings(), clock=clock)
    mine = []
    for _ in range(3):
        mine.append((await service.intake.submit(submission(user_id=1))).job.id)
        clock.advance(1)
    await service.intake.submit(submission(user_id=2))

    assert [job.id for job in await service.queries.recent(service.intake.bot_id, 1)] == mine[::-1]


def test_worker_ids_fit_their_column_whatever_the_host_name(db: Database) -> None:
    import socket
    from unittest.mock import patch

    with patch.object(socket, "gethostname", return_value="h" * 200):
        pool = kit(db).workers(CountingPipeline(), job_settings(worker_concurrency=256))

    assert len(f"{pool.name}/255") <= 64


async def test_a_batch_of_submissions_shares_one_transaction_and_each_gets_its_own_job(db: Database) -> None:
    service = kit(db)
    requests = [service.intake.script_request(submission(user_id=u)) for u in range(1, 41)]

    results = await service.intake.submit_many(requests)

    assert all(isinstance(result, Submitted) and result.created for result in results)
    submitted = [result for result in results if isinstance(result, Submitted)]
    assert [result.job.user_id for result in submitted] == list(range(1, 41))
    assert len({result.job.id for result in submitted}) == 40
    assert await service.count(scripts) == 40 and await service.count(outbox, outbox.c.kind == "ack") == 40
    assert sorted([await service.queries.queue_position(result.job) for result in submitted]) == list(range(1, 41))


async def test_quotas_count_the_jobs_before_in_the_same_batch(db: Database) -> None:
    service = kit(db, job_settings(max_active_jobs_per_user=2))

    results = await service.intake.submit_many(
        [service.intake.script_request(submission(user_id=u)) for u in (5, 5, 6, 5)]
    )

    assert [type(result).__name__ for result in results] == [
        "Submitted",
        "Submitted",
        "Submitted",
        "QuotaExceededError",
    ]
    assert await service.count(jobs) == 3 and await service.count(scripts) == 3  # the refused one wrote nothing


async def test_a_redelivered_message_in_a_batch_gets_its_first_job_and_the_others_are_stored(db: Database) -> None:
    service = kit(db, job_settings(max_active_jobs_per_user=2))
    first = await service.intake.submit(submission(user_id=9, message_id=42))

    results = await service.intake.submit_many(
        [
            service.intake.script_request(submission(user_id=5)),
            service.intake.script_request(submission(user_id=9, message_id=42)),
            service.intake.script_request(submission(user_id=5)),
            service.intake.script_request(submission(user_id=5)),
        ]
    )

    again = results[1]
    assert isinstance(again, Submitted) and not again.created and again.job.id == first.job.id
    assert [isinstance(results[i], Submitted) and results[i].created for i in (0, 2)] == [True, True]
    assert isinstance(results[3], QuotaExceededError)
    assert await service.count(jobs) == 3


async def test_a_redelivered_message_gets_its_first_job_even_at_the_active_limit(db: Database) -> None:
    service = kit(db, job_settings(max_active_jobs_per_user=1))
    first = await service.intake.submit(submission(user_id=8, message_id=5))

    again = await service.intake.submit(submission(user_id=8, message_id=5))
    twice = await service.intake.submit_many(
        [service.intake.script_request(submission(user_id=9, message_id=6)) for _ in range(2)]
    )

    assert not again.created and again.job.id == first.job.id  # not "you already have 1 storyboard"
    assert [isinstance(r, Submitted) and r.created for r in twice] == [True, False]  # the copy counts no quota
    assert all(isinstance(r, Submitted) for r in twice) and twice[0].job.id == twice[1].job.id  # type: ignore[union-attr]


async def test_one_bad_request_in_a_batch_fails_alone(db: Database) -> None:
    service = kit(db)

    results = await service.intake.submit_many(
        [
            service.intake.script_request(submission(user_id=11)),
            service.intake.script_request(submission(user_id=12, message_id=2**70)),  # no database stores that
            service.intake.script_request(submission(user_id=13)),
        ]
    )

    assert [isinstance(result, Submitted) for result in results] == [True, False, True]
    assert await service.count(jobs) == 2


async def test_the_same_message_id_sent_to_two_bots_makes_two_jobs(db: Database) -> None:
    """A message id is unique only within one bot's chat: a second bot on the same database is not a
    redelivery (a new emulator or a new token of another bot numbers its messages from 1 again)."""
    first, second = kit(db, bot_id=1), kit(db, bot_id=2)

    one = await first.intake.submit(submission(user_id=3, message_id=1))
    other = await second.intake.submit(submission(user_id=3, message_id=1))
    again = await first.intake.submit(submission(user_id=3, message_id=1))

    assert one.created and other.created and one.job.id != other.job.id
    assert not again.created and again.job.id == one.job.id
    assert [job.id for job in await first.queries.recent(1, 3)] == [one.job.id]
    with pytest.raises(JobNotFoundError):  # /status and /cancel through one bot do not reach the other's jobs
        await first.queries.get_for_user(other.job.id, 3, bot_id=1)
    assert (await first.queries.get_for_user(one.job.id, 3, bot_id=1))[0].id == one.job.id


async def test_submissions_made_while_a_batch_is_written_share_the_next_transaction(db: Database) -> None:
    service = kit(db)
    before = getattr(db, "crossings", None)

    results = await asyncio.gather(*(service.intake.submit(submission(user_id=u)) for u in range(1, 41)))
    transactions = db.crossings - before if before is not None else None  # type: ignore[attr-defined]

    assert [result.job.user_id for result in results] == list(range(1, 41))
    assert all(result.created for result in results) and len({result.job.id for result in results}) == 40
    assert sorted([await service.queries.queue_position(result.job) for result in results]) == list(range(1, 41))
    if transactions is not None:  # SQLite counts its transactions: all forty came before the first was written
        assert transactions == 1


async def test_a_submitter_that_goes_away_still_gets_its_job_stored_and_its_ack_handed_on(db: Database) -> None:
    service = kit(db)
    gone = asyncio.ensure_future(service.intake.submit(submission(user_id=6, message_id=1), take_ack=True))
    await asyncio.sleep(0)

    gone.cancel()
    await asyncio.sleep(0.3)

    stored = await service.count(jobs)
    leased = await service.count(outbox, outbox.c.lease_expires_at.is_not(None))
    assert stored == 1 and leased == 0  # stored, and its ack is the delivery loop's to send


async def test_a_heartbeat_renews_the_lease_and_says_when_the_job_stopped_being_ours(db: Database) -> None:
    clock = ManualClock()
    service = kit(db, job_settings(job_lease_s=60), clock=clock)
    job = (await service.intake.submit(submission())).job
    claimed = await service.queue.claim("host:1/0")
    assert claimed is not None and claimed.lease_expires_at is not None

    clock.advance(30)
    renewed = await service.queue.heartbeat(claimed, "host:1/0", stage="generating")
    after, _ = await service.queries.get_for_user(job.id, 1)
    someone_else = await service.queue.heartbeat(claimed, "host:2/0")
    await service.cancel(job.id, 1)
    after_cancel = await service.queue.heartbeat(claimed, "host:1/0")

    assert renewed is True
    assert after.lease_expires_at is not None
    assert (after.lease_expires_at - claimed.lease_expires_at).total_seconds() == pytest.approx(30)
    assert after.stage == "generating"
    assert (someone_else, after_cancel) == (False, False)
