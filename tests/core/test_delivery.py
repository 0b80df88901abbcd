from __future__ import annotations

import asyncio

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from core.delivery import Delivery
from core.errors import (
    DeliveryRejectedError,
    DeliveryRetryLaterError,
    DeliveryTransientError,
    RecipientGoneError,
)
from core.jobs import JobService
from core.workers import WorkerPool
from storage.tables import jobs, outbox, users
from tests.core.helpers import CountingPipeline, job_settings, submission
from tests.fakes.sender import FakeSender


def make(
    engine: AsyncEngine, clock: ManualClock | None = None, **settings: object
) -> tuple[JobService, Delivery, FakeSender]:
    jobs = JobService(engine, job_settings(**settings), clock=clock)
    sender = FakeSender()
    return jobs, Delivery(engine, sender, jobs.settings, wakeup=jobs.outbox_waiting, clock=clock), sender


async def statuses(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(outbox.c.status).order_by(outbox.c.id))).scalars())


async def test_a_job_reaches_its_chat_as_ack_status_edit_result_and_file_in_order(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    job = (await jobs.submit(submission(user_id=4))).job
    await delivery.run_until_idle()
    await WorkerPool(jobs, CountingPipeline(), jobs.settings).run_burst()

    await delivery.run_until_idle()

    # "running" and "done" were both queued; rendered at delivery time they coalesce into one edit to "done"
    assert sender.kinds(job.id) == ["ack", "job_status", "result", "result_file"]
    assert [item.job_status for item in sender.delivered] == ["queued", "done", "done", "done"]
    assert {item.chat_id for item in sender.delivered} == {4}
    assert set(await statuses(engine)) == {"sent"}


async def test_status_edits_are_skipped_when_the_ack_already_shows_the_status(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    job = (await jobs.submit(submission())).job
    await WorkerPool(jobs, CountingPipeline(), jobs.settings).run_burst()  # done before the ack went out

    await delivery.run_until_idle()

    assert sender.kinds(job.id) == ["ack", "result", "result_file"]  # the ack already says "done"


async def test_ack_delivered_at_once_is_not_sent_again_by_the_loop(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    submitted = await jobs.submit(submission())
    assert submitted.ack_outbox_id is not None

    assert await delivery.deliver_now(submitted.ack_outbox_id)
    assert not await delivery.deliver_now(submitted.ack_outbox_id)
    await delivery.run_until_idle()

    assert sender.kinds(submitted.job.id) == ["ack"]


async def test_flood_control_waits_exactly_what_was_asked(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock)
    job = (await jobs.submit(submission())).job
    sender.failures.append(DeliveryRetryLaterError("Too Many Requests: retry after 7", retry_after_s=7))

    await delivery.run_until_idle()
    assert sender.kinds(job.id) == []
    clock.advance(6.9)
    await delivery.run_until_idle()
    assert sender.kinds(job.id) == []
    clock.advance(0.2)
    await delivery.run_until_idle()

    assert sender.kinds(job.id) == ["ack"]


async def test_status_edits_back_off_then_drop_after_max_attempts(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock, outbox_max_attempts=3)
    job = (await jobs.submit(submission())).job
    await delivery.run_until_idle()  # the ack
    await jobs.cancel(job.id, 1)  # queues an edit of the ack
    sender.failures.extend(DeliveryTransientError("502 Bad Gateway") for _ in range(3))

    for _ in range(4):
        await delivery.run_until_idle()
        clock.advance(600)

    assert sender.calls == 4  # the ack, then three tries of the edit
    assert await statuses(engine) == ["sent", "dropped"]


async def test_acks_and_results_keep_trying_through_transient_errors_for_a_day(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock, outbox_max_attempts=3)
    job = (await jobs.submit(submission())).job
    sender.failures.extend(DeliveryTransientError("502 Bad Gateway") for _ in range(10))

    for _ in range(11):
        await delivery.run_until_idle()
        clock.advance(300)

    assert sender.kinds(job.id) == ["ack"]
    assert sender.calls == 11


async def test_a_result_is_given_up_only_after_a_day_of_errors(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock, outbox_max_attempts=3)
    await jobs.submit(submission())
    clock.advance(24 * 3600 + 1)
    sender.failures.append(DeliveryTransientError("502 Bad Gateway"))

    await delivery.run_until_idle()

    assert await statuses(engine) == ["dropped"]


async def test_flood_waits_do_not_use_up_the_attempts(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock, outbox_max_attempts=2)
    job = (await jobs.submit(submission())).job
    sender.failures.extend(DeliveryRetryLaterError("wait", retry_after_s=1) for _ in range(5))
    sender.failures.append(DeliveryTransientError("502"))

    for _ in range(8):
        await delivery.run_until_idle()
        clock.advance(2)

    assert sender.kinds(job.id) == ["ack"]


async def test_a_chat_that_blocked_the_bot_is_dropped_whole_and_the_user_marked(engine: AsyncEngine) -> None:
    service, delivery, sender = make(engine)
    await service.submit(submission(user_id=9))
    await service.submit(submission(user_id=9))
    other = (await service.submit(submission(user_id=10))).job
    sender.failures.append(RecipientGoneError("Forbidden: bot was blocked by the user"))

    await delivery.run_until_idle()

    async with engine.connect() as conn:
        blocked = dict((await conn.execute(select(users.c.id, users.c.blocked))).all())
        job_status = sorted((await conn.execute(select(jobs.c.chat_id, jobs.c.status))).all())
    assert blocked == {9: True, 10: False}
    assert sender.kinds(other.id) == ["ack"]
    assert sorted(await statuses(engine)) == ["dropped", "dropped", "sent"]
    # nobody would see their storyboards: the blocked chat's queued jobs are not run
    assert job_status == [(9, "cancelled"), (9, "cancelled"), (10, "queued")]


async def test_a_rejected_payload_is_dropped_and_the_chat_moves_on(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    first = (await jobs.submit(submission(user_id=2))).job
    second = (await jobs.submit(submission(user_id=2))).job
    sender.failures.append(DeliveryRejectedError("Bad Request: can't parse entities"))

    await delivery.run_until_idle()

    assert sender.kinds(first.id) == []
    assert sender.kinds(second.id) == ["ack"]


async def test_order_within_a_chat_holds_while_an_earlier_message_waits(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock)
    first = (await jobs.submit(submission(user_id=2))).job
    second = (await jobs.submit(submission(user_id=2))).job
    sender.failures.append(DeliveryRetryLaterError("wait", retry_after_s=5))

    await delivery.run_until_idle()
    assert sender.delivered == []
    clock.advance(5)
    await delivery.run_until_idle()

    assert [item.job_id for item in sender.delivered] == [first.id, second.id]


async def test_undelivered_notifications_survive_a_restart(database_url: str, engine: AsyncEngine) -> None:
    from storage.engine import create_engine

    jobs, delivery, sender = make(engine)
    job = (await jobs.submit(submission())).job
    sender.failures.append(DeliveryTransientError("connection reset"))
    await delivery.run_until_idle()  # fails; the process "dies" here
    await engine.dispose()

    fresh = create_engine(database_url)
    try:
        clock = ManualClock()
        clock.advance(60)
        _, delivery2, sender2 = make(fresh, clock)
        await delivery2.run_until_idle()
    finally:
        await fresh.dispose()

    assert sender2.kinds(job.id) == ["ack"]


async def test_one_slow_chat_does_not_hold_up_the_others(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    sender.delay_s[1] = 1.0
    slow = (await jobs.submit(submission(user_id=1))).job
    fast = (await jobs.submit(submission(user_id=2))).job
    await delivery.start()
    try:
        for _ in range(200):
            if sender.kinds(fast.id):
                break
            await asyncio.sleep(0.01)
        fast_done_while_slow_in_flight = bool(sender.kinds(fast.id)) and not sender.kinds(slow.id)
    finally:
        await delivery.stop()

    assert fast_done_while_slow_in_flight
    assert sender.kinds(slow.id) == ["ack"]  # stop() let the slow one finish


async def test_stop_lets_a_message_in_flight_finish_and_be_marked_so_a_restart_does_not_resend(
    engine: AsyncEngine,
) -> None:
    jobs, delivery, sender = make(engine)
    sender.delay_s[1] = 0.3
    job = (await jobs.submit(submission(user_id=1))).job
    await delivery.start()
    for _ in range(100):
        if sender.calls:
            break
        await asyncio.sleep(0.01)

    await delivery.stop()
    _, again, sender_again = make(engine)
    await again.start()
    await again.stop()

    assert sender.kinds(job.id) == ["ack"]
    assert sender_again.calls == 0
    assert await statuses(engine) == ["sent"]


async def test_eager_delivery_waits_behind_an_earlier_pending_message_of_the_chat(engine: AsyncEngine) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(engine, clock)
    await jobs.submit(submission(user_id=3))
    sender.failures.append(DeliveryRetryLaterError("wait", retry_after_s=30))
    await delivery.run_until_idle()  # the first ack now waits 30 s
    second = await jobs.submit(submission(user_id=3))
    assert second.ack_outbox_id is not None

    assert not await delivery.deliver_now(second.ack_outbox_id)
    assert sender.delivered == []


async def test_a_taken_ack_comes_back_leased_with_its_position_and_the_loop_leaves_it(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    await jobs.submit(submission(user_id=1))
    taken = await jobs.submit(submission(user_id=2, message_id=77), take_ack=True)
    assert taken.ack is not None and taken.ack.queue_position == 2

    await delivery.run_until_idle()
    assert [item.chat_id for item in sender.delivered] == [1]  # the loop leaves a leased ack to its taker

    assert await delivery.deliver_ack(taken)
    await delivery.run_until_idle()

    assert sender.kinds(taken.job.id) == ["ack"]
    assert (sender.delivered[-1].queue_position, sender.delivered[-1].reply_to) == (2, 77)
    assert set(await statuses(engine)) == {"sent"}


async def test_a_taken_ack_waits_its_turn_behind_an_earlier_message_in_its_chat(engine: AsyncEngine) -> None:
    jobs, delivery, sender = make(engine)
    earlier = await jobs.submit(submission(user_id=3))  # its ack is still waiting in chat 3

    later = await jobs.submit(submission(user_id=3), take_ack=True)

    assert later.ack is None  # not leased: it must not overtake
    assert not await delivery.deliver_ack(later)
    await delivery.run_until_idle()
    assert [item.job_id for item in sender.delivered] == [earlier.job.id, later.job.id]


async def test_sends_that_finish_together_are_recorded_in_one_transaction(engine: AsyncEngine) -> None:
    jobs_service, delivery, sender = make(engine)
    submitted = [await jobs_service.submit(submission(user_id=u)) for u in range(1, 21)]
    recorded: list[int] = []

    def on_execute(_conn, _cursor, statement: str, parameters, _context, executemany: bool) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE outbox SET status"):
            recorded.append(len(parameters) if executemany else 1)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    await delivery.run_until_idle()

    assert sum(recorded) == 20 and len(recorded) < 20  # sixteen sends at once: their marks share statements
    async with engine.connect() as conn:
        ack_ids = dict((await conn.execute(select(jobs.c.id, jobs.c.ack_message_id))).all())
    assert {ack_ids[s.job.id] for s in submitted} == {item.message_id for item in sender.delivered}
    assert set(await statuses(engine)) == {"sent"}


async def test_an_ack_whose_submitter_went_away_is_handed_to_the_loop(engine: AsyncEngine) -> None:
    jobs_service, delivery, sender = make(engine)
    gone = asyncio.create_task(jobs_service.submit(submission(user_id=6), take_ack=True))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # its batch has started

    gone.cancel()
    later = await jobs_service.submit(submission(user_id=6), take_ack=True)  # the next batch, in the same chat
    await delivery.run_until_idle()

    assert later.ack is None  # the first ack is waiting, unleased, ahead of it
    assert [item.kind for item in sender.delivered] == ["ack", "ack"]
    assert sender.delivered[-1].job_id == later.job.id
    assert set(await statuses(engine)) == {"sent"}
