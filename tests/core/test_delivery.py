from __future__ import annotations

import asyncio
from collections import deque

import pytest
from sqlalchemy import select

from core import workers as workers_module
from core.clock import ManualClock
from core.delivery import Delivery
from core.errors import (
    DeliveryRejectedError,
    DeliveryRetryLaterError,
    DeliveryTransientError,
    RecipientGoneError,
)
from core.generator import generate_local
from core.types import FailureCode, NotificationKind
from storage.db import Database, open_database
from storage.tables import jobs, outbox, users
from tests.core.helpers import BOT_ID, HOLDER, CountingPipeline, Kit, job_settings, kit, submission
from tests.fakes.sender import FakeSender


def make(db: Database, clock: ManualClock | None = None, **settings: object) -> tuple[Kit, Delivery, FakeSender]:
    parts = kit(db, job_settings(**settings), clock=clock)
    sender = FakeSender()
    delivery = Delivery(
        db, sender, parts.settings, bot_id=BOT_ID, clock=parts.clock, holder=HOLDER, wakeups=parts.wakeups
    )
    return parts, delivery, sender


async def statuses(db: Database) -> list[str]:
    return await db.read(lambda conn: list(conn.execute(select(outbox.c.status).order_by(outbox.c.id)).scalars()))


async def test_a_job_reaches_its_chat_as_ack_result_and_file_in_order(db: Database) -> None:
    jobs, delivery, sender = make(db)
    job = (await jobs.intake.submit(submission(user_id=4))).job
    await delivery.run_until_idle()
    await jobs.workers(CountingPipeline()).run_burst()

    await delivery.run_until_idle()

    # done at once: the result says so, and the ack is not edited (three sends, not four)
    assert sender.kinds(job.id) == ["ack", "result", "result_file"]
    assert [item.job_status for item in sender.delivered] == ["queued", "done", "done"]
    assert {item.chat_id for item in sender.delivered} == {4}
    assert set(await statuses(db)) == {"sent"}


async def test_status_edits_are_skipped_when_the_ack_already_shows_the_status(db: Database) -> None:
    jobs, delivery, sender = make(db)
    job = (await jobs.intake.submit(submission())).job
    await jobs.workers(CountingPipeline()).run_burst()  # done before the ack went out

    await delivery.run_until_idle()

    assert sender.kinds(job.id) == ["ack", "result", "result_file"]  # the ack already says "done"


async def test_ack_delivered_at_once_is_not_sent_again_by_the_loop(db: Database) -> None:
    jobs, delivery, sender = make(db)
    submitted = await jobs.intake.submit(submission())
    assert submitted.ack_outbox_id is not None

    assert await delivery.deliver_now(submitted.ack_outbox_id)
    assert not await delivery.deliver_now(submitted.ack_outbox_id)
    await delivery.run_until_idle()

    assert sender.kinds(submitted.job.id) == ["ack"]


async def test_flood_control_waits_exactly_what_was_asked(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock)
    job = (await jobs.intake.submit(submission())).job
    sender.failures.append(DeliveryRetryLaterError("Too Many Requests: retry after 7", retry_after_s=7))

    await delivery.run_until_idle()
    assert sender.kinds(job.id) == []
    clock.advance(6.9)
    await delivery.run_until_idle()
    assert sender.kinds(job.id) == []
    clock.advance(0.2)
    await delivery.run_until_idle()

    assert sender.kinds(job.id) == ["ack"]


async def test_status_edits_back_off_then_drop_after_max_attempts(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock, outbox_max_attempts=3)
    job = (await jobs.intake.submit(submission())).job
    await delivery.run_until_idle()  # the ack
    await jobs.cancel(job.id, 1)  # queues an edit of the ack
    sender.failures.extend(DeliveryTransientError("502 Bad Gateway") for _ in range(3))

    for _ in range(4):
        await delivery.run_until_idle()
        clock.advance(600)

    assert sender.calls == 4  # the ack, then three tries of the edit
    assert await statuses(db) == ["sent", "dropped"]


async def test_acks_and_results_keep_trying_through_transient_errors_for_a_day(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock, outbox_max_attempts=3)
    job = (await jobs.intake.submit(submission())).job
    sender.failures.extend(DeliveryTransientError("502 Bad Gateway") for _ in range(10))

    for _ in range(11):
        await delivery.run_until_idle()
        clock.advance(300)

    assert sender.kinds(job.id) == ["ack"]
    assert sender.calls == 11


async def test_a_result_is_given_up_only_after_a_day_of_errors(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock, outbox_max_attempts=3)
    await jobs.intake.submit(submission())
    clock.advance(24 * 3600 + 1)
    sender.failures.append(DeliveryTransientError("502 Bad Gateway"))

    await delivery.run_until_idle()

    assert await statuses(db) == ["dropped"]


async def test_flood_waits_do_not_use_up_the_attempts(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock, outbox_max_attempts=2)
    job = (await jobs.intake.submit(submission())).job
    sender.failures.extend(DeliveryRetryLaterError("wait", retry_after_s=1) for _ in range(5))
    sender.failures.append(DeliveryTransientError("502"))

    for _ in range(8):
        await delivery.run_until_idle()
        clock.advance(2)

    assert sender.kinds(job.id) == ["ack"]


async def test_a_chat_that_blocked_the_bot_is_dropped_whole_and_the_user_marked(db: Database) -> None:
    service, delivery, sender = make(db)
    await service.intake.submit(submission(user_id=9))
    await service.intake.submit(submission(user_id=9))
    other = (await service.intake.submit(submission(user_id=10))).job
    # chat 9's own failure: the two chats' sends run at once, in no fixed order on PostgreSQL
    sender.failures_for[9] = deque([RecipientGoneError("Forbidden: bot was blocked by the user")])

    await delivery.run_until_idle()

    blocked = await db.read(lambda conn: dict(conn.execute(select(users.c.id, users.c.blocked)).all()))
    job_status = await db.read(lambda conn: sorted(conn.execute(select(jobs.c.chat_id, jobs.c.status)).all()))
    assert blocked == {9: True, 10: False}
    assert sender.kinds(other.id) == ["ack"]
    assert sorted(await statuses(db)) == ["dropped", "dropped", "sent"]
    # nobody would see their storyboards: the blocked chat's queued jobs are not run
    assert job_status == [(9, "cancelled"), (9, "cancelled"), (10, "queued")]


async def test_a_rejected_payload_is_dropped_and_the_chat_moves_on(db: Database) -> None:
    jobs, delivery, sender = make(db)
    first = (await jobs.intake.submit(submission(user_id=2))).job
    second = (await jobs.intake.submit(submission(user_id=2))).job
    sender.failures.append(DeliveryRejectedError("Bad Request: can't parse entities"))

    await delivery.run_until_idle()

    assert sender.kinds(first.id) == []
    assert sender.kinds(second.id) == ["ack"]


async def test_order_within_a_chat_holds_while_an_earlier_message_waits(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock)
    first = (await jobs.intake.submit(submission(user_id=2))).job
    second = (await jobs.intake.submit(submission(user_id=2))).job
    sender.failures.append(DeliveryRetryLaterError("wait", retry_after_s=5))

    await delivery.run_until_idle()
    assert sender.delivered == []
    clock.advance(5)
    await delivery.run_until_idle()

    assert [item.job_id for item in sender.delivered] == [first.id, second.id]


async def test_undelivered_notifications_survive_a_restart(database_url: str, db: Database) -> None:
    jobs, delivery, sender = make(db)
    job = (await jobs.intake.submit(submission())).job
    sender.failures.append(DeliveryTransientError("connection reset"))
    await delivery.run_until_idle()  # fails; the process "dies" here
    await db.close()

    fresh = await open_database(database_url)
    try:
        clock = ManualClock()
        clock.advance(60)
        _, delivery2, sender2 = make(fresh, clock)
        await delivery2.run_until_idle()
    finally:
        await fresh.close()

    assert sender2.kinds(job.id) == ["ack"]


async def test_one_slow_chat_does_not_hold_up_the_others(db: Database) -> None:
    jobs, delivery, sender = make(db)
    sender.delay_s[1] = 1.0
    slow = (await jobs.intake.submit(submission(user_id=1))).job
    fast = (await jobs.intake.submit(submission(user_id=2))).job
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
    db: Database,
) -> None:
    jobs, delivery, sender = make(db)
    sender.delay_s[1] = 0.3
    job = (await jobs.intake.submit(submission(user_id=1))).job
    await delivery.start()
    for _ in range(100):
        if sender.calls:
            break
        await asyncio.sleep(0.01)

    await delivery.stop()
    _, again, sender_again = make(db)
    await again.start()
    await again.stop()

    assert sender.kinds(job.id) == ["ack"]
    assert sender_again.calls == 0
    assert await statuses(db) == ["sent"]


async def test_eager_delivery_waits_behind_an_earlier_pending_message_of_the_chat(db: Database) -> None:
    clock = ManualClock()
    jobs, delivery, sender = make(db, clock)
    await jobs.intake.submit(submission(user_id=3))
    sender.failures.append(DeliveryRetryLaterError("wait", retry_after_s=30))
    await delivery.run_until_idle()  # the first ack now waits 30 s
    second = await jobs.intake.submit(submission(user_id=3))
    assert second.ack_outbox_id is not None

    assert not await delivery.deliver_now(second.ack_outbox_id)
    assert sender.delivered == []


async def test_a_taken_ack_comes_back_leased_with_its_position_and_the_loop_leaves_it(db: Database) -> None:
    jobs, delivery, sender = make(db)
    await jobs.intake.submit(submission(user_id=1))
    taken = await jobs.intake.submit(submission(user_id=2, message_id=77), take_ack=True)
    assert taken.ack is not None and taken.ack.queue_position == 2

    await delivery.run_until_idle()
    assert [item.chat_id for item in sender.delivered] == [1]  # the loop leaves a leased ack to its taker

    assert await delivery.deliver_ack(taken)
    await delivery.run_until_idle()

    assert sender.kinds(taken.job.id) == ["ack"]
    assert (sender.delivered[-1].queue_position, sender.delivered[-1].reply_to) == (2, 77)
    assert set(await statuses(db)) == {"sent"}


async def test_a_taken_ack_waits_its_turn_behind_an_earlier_message_in_its_chat(db: Database) -> None:
    jobs, delivery, sender = make(db)
    earlier = await jobs.intake.submit(submission(user_id=3))  # its ack is still waiting in chat 3

    later = await jobs.intake.submit(submission(user_id=3), take_ack=True)

    assert later.ack is None  # not leased: it must not overtake
    assert not await delivery.deliver_ack(later)
    await delivery.run_until_idle()
    assert [item.job_id for item in sender.delivered] == [earlier.job.id, later.job.id]


async def test_every_send_is_recorded_with_the_message_id_telegram_gave_it(db: Database) -> None:
    jobs_service, delivery, sender = make(db)
    submitted = [await jobs_service.intake.submit(submission(user_id=u)) for u in range(1, 21)]

    await delivery.run_until_idle()

    ack_ids = await db.read(lambda conn: dict(conn.execute(select(jobs.c.id, jobs.c.ack_message_id)).all()))
    assert {ack_ids[s.job.id] for s in submitted} == {item.message_id for item in sender.delivered}
    assert set(await statuses(db)) == {"sent"}


async def test_a_sender_delivers_only_its_own_bots_notifications(db: Database) -> None:
    mine, delivery, sender = make(db)
    other_bot = kit(db, bot_id=BOT_ID + 1)
    own = (await mine.intake.submit(submission(user_id=5))).job
    foreign = (await other_bot.intake.submit(submission(user_id=5))).job

    await delivery.run_until_idle()

    assert sender.kinds(own.id) == ["ack"] and sender.kinds(foreign.id) == []
    assert await statuses(db) == ["sent", "pending"]


async def test_an_ack_whose_submitter_went_away_is_handed_to_the_loop(db: Database) -> None:
    jobs_service, delivery, sender = make(db)
    gone = asyncio.create_task(jobs_service.intake.submit(submission(user_id=6), take_ack=True))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # its batch has started

    gone.cancel()
    await asyncio.sleep(0.2)  # its transaction commits all the same; the ack leased to it is handed back
    later = await jobs_service.intake.submit(submission(user_id=6), take_ack=True)  # the next batch, in the same chat
    await delivery.run_until_idle()

    assert later.ack is None  # the first ack is waiting, unleased, ahead of it
    assert [item.kind for item in sender.delivered] == ["ack", "ack"]
    assert sender.delivered[-1].job_id == later.job.id
    assert set(await statuses(db)) == {"sent"}


async def test_a_job_that_takes_a_while_has_its_ack_say_working_then_done(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers_module, "WORKING_NOTE_S", 0.05)
    jobs, delivery, sender = make(db)
    job = (await jobs.intake.submit(submission(user_id=5))).job
    await delivery.run_until_idle()
    pool = jobs.workers(CountingPipeline(delay_s=0.4))
    runner = asyncio.create_task(pool.run_burst())
    for _ in range(100):  # the working note goes out while the job runs
        await delivery.run_until_idle()
        if sender.kinds(job.id)[-1:] == ["job_status"]:
            break
        await asyncio.sleep(0.02)
    await runner
    await delivery.run_until_idle()

    # "working" while it ran; then, since the ack said so, "done" before the result
    assert sender.kinds(job.id) == ["ack", "job_status", "job_status", "result", "result_file"]
    assert [item.job_status for item in sender.delivered] == ["queued", "running", "done", "done", "done"]


async def test_one_status_edit_waits_per_job_and_a_change_after_it_is_taken_queues_another(db: Database) -> None:
    jobs_service, delivery, sender = make(db)
    job = (await jobs_service.intake.submit(submission(user_id=8))).job
    await delivery.run_until_idle()  # the ack: the job's status edits now have a message to edit
    claimed = await jobs_service.queue.claim("w")
    assert claimed is not None
    await jobs_service.queue.fail(claimed, "w", code=FailureCode.PIPELINE, reason="x", retryable=True)  # queued again

    waiting = await jobs_service.count(outbox, outbox.c.kind == NotificationKind.JOB_STATUS)
    await delivery.run_until_idle()
    await jobs_service.cancel(job.id, 8)
    await delivery.run_until_idle()

    assert waiting == 1  # claimed, then queued again: one edit waits, to show the state when it is sent
    # it found the ack showing "queued" already, so nothing was sent; the cancel, after it was taken, queued its own
    assert await jobs_service.count(outbox, outbox.c.kind == NotificationKind.JOB_STATUS) == 2
    assert sender.kinds(job.id) == ["ack", "job_status"]
    assert [item.job_status for item in sender.delivered] == ["queued", "cancelled"]


async def test_an_ack_behind_a_slow_send_is_waited_for_and_one_behind_a_flood_wait_is_not(db: Database) -> None:
    jobs, delivery, sender = make(db)
    await delivery.start()
    try:
        sender.delay_s[3] = 0.3  # chat 3's earlier ack is on its way, slowly
        await jobs.intake.submit(submission(user_id=3))
        while not delivery._sending.get(3):
            await asyncio.sleep(0.005)
        behind_slow = await jobs.intake.submit(submission(user_id=3), take_ack=True)
        await delivery.deliver_ack(behind_slow, wait_s=30)
        slow_order = [item.job_id for item in sender.delivered]

        sender.failures_for[4] = deque([DeliveryRetryLaterError("wait", retry_after_s=60)])
        await jobs.intake.submit(submission(user_id=4))  # chat 4's earlier ack waits a minute
        while sender.calls < 3:
            await asyncio.sleep(0.005)
        behind_flood = await jobs.intake.submit(submission(user_id=4), take_ack=True)
        await asyncio.wait_for(delivery.deliver_ack(behind_flood, wait_s=30), 5)  # returns, not 30 s later
    finally:
        await delivery.stop()

    assert slow_order[-1] == behind_slow.job.id  # its turn came while the handler waited


async def test_an_ack_edited_to_working_while_its_job_ends_is_edited_once_more(db: Database) -> None:
    """The race: the "working" edit is on its way when the result commits, which sees the ack not yet saying
    "working" and queues no edit of its own. Recording the edit notices the job ended, and queues one."""
    jobs, delivery, sender = make(db)
    job = (await jobs.intake.submit(submission(user_id=6))).job
    await delivery.run_until_idle()
    claimed = await jobs.queue.claim("w")
    assert claimed is not None
    await jobs.queue.note_working(claimed, "w")
    sender.delay_s[6] = 0.3
    in_flight = asyncio.create_task(delivery.run_until_idle())
    await asyncio.sleep(0.1)  # the "working" edit is being sent
    await jobs.queue.complete(claimed, "w", generate_local("One\nTwo"), pipeline_ms=1)
    await in_flight
    await delivery.run_until_idle()

    assert sender.kinds(job.id) == ["ack", "job_status", "result", "result_file", "job_status"]
    assert [item.job_status for item in sender.delivered][-1] == "done"
