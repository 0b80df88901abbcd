"""A user's data erased (/delete), on SQLite and PostgreSQL: every row of theirs with this bot, in one
transaction, nobody else's; and a worker that finishes a job after its rows are gone neither raises nor
brings anything back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from core.erase import DataCounts, UserDataService
from core.errors import JobInputGoneError
from core.pipeline import Pipeline
from core.renderer import RenderedVideo
from core.types import FailureCode, JobRecord, VersionRecord
from storage import inbox as inbox_queries
from storage.db import Database
from storage.tables import feedback, inbox, jobs, outbox, prompts, scripts, users, versions, video_metadata
from tests.core.helpers import BOT_ID, HOLDER, Kit, kit, submission

OTHER_BOT = BOT_ID + 1
WORKER = "test-worker/0"
ALL_TABLES = (scripts, jobs, versions, video_metadata, feedback, prompts, outbox)


async def _done(k: Kit, user_id: int, text: str = "Scene one\nScene two") -> tuple[JobRecord, VersionRecord]:
    """A job of ``user_id`` run to its result, with a video, through the real queue."""
    await k.intake.submit(submission(user_id=user_id, text=text))
    job = await k.queue.claim(WORKER)
    assert job is not None and job.user_id == user_id
    storyboard = (await Pipeline(None).generate(text, job_id=job.id)).storyboard
    video = RenderedVideo(data=b"mp4", duration_s=6.0, width=640, height=360)
    version = await k.queue.complete(job, WORKER, storyboard, pipeline_ms=5, video=video)
    assert version is not None
    return job, version


async def _rate_and_improve(k: Kit, user_id: int, version: VersionRecord) -> None:
    """A result rated 2 with a note: a rating, its prompt, and an improvement queued."""
    service = k.feedback()
    rated = await service.rate(user_id=user_id, version_id=version.id, rating=2)
    await service.attach_prompt(rated.feedback.id, chat_id=user_id, message_id=900 + user_id)
    prompt = await service.latest_prompt(user_id=user_id, feedback_id=rated.feedback.id)
    assert prompt is not None
    await service.improve(prompt, comment="slower", chat_id=user_id, reply_to=None)


async def _store_updates(db: Database, bot_id: int, chat_id: int, *, handled: list[int], unhandled: list[int]) -> None:
    def run(conn) -> None:  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        updates = [
            inbox_queries.NewUpdate(update_id, chat_id, json.dumps({"message": {"text": "my secret script"}}))
            for update_id in handled + unhandled
        ]
        inbox_queries.store(conn, bot_id, updates, owner=HOLDER.name, until=now + timedelta(seconds=30), now=now)
        inbox_queries.mark_handled(conn, bot_id, handled, now=now)

    await db.write(run)


async def _rows(k: Kit, table, user_id: int, bot_id: int = BOT_ID) -> int:  # type: ignore[no-untyped-def]
    """Rows of ``table`` that belong to the user's jobs with ``bot_id`` (through the job or the version)."""
    user_jobs = select(jobs.c.id).where(jobs.c.user_id == user_id, jobs.c.bot_id == bot_id)
    user_versions = select(versions.c.id).where(versions.c.job_id.in_(user_jobs))
    where = {
        "scripts": (scripts.c.user_id == user_id) & (scripts.c.bot_id == bot_id),
        "jobs": jobs.c.id.in_(user_jobs),
        "storyboard_versions": versions.c.job_id.in_(user_jobs),
        "video_metadata": video_metadata.c.version_id.in_(user_versions),
        "feedback": feedback.c.version_id.in_(user_versions),
        "feedback_prompts": prompts.c.feedback_id.in_(
            select(feedback.c.id).where(feedback.c.version_id.in_(user_versions))
        ),
        "outbox": outbox.c.job_id.in_(user_jobs),
    }[table.name]
    return await k.count(table, where)


async def test_erase_removes_every_row_of_the_user_with_this_bot_and_nothing_else(db: Database) -> None:
    k = kit(db)
    mine, others = 501, 502
    _, first = await _done(k, mine)
    await _done(k, mine, "A second script")
    _, theirs = await _done(k, others)
    await _rate_and_improve(k, mine, first)
    await _rate_and_improve(k, others, theirs)
    other_bot = kit(db, bot_id=OTHER_BOT)
    await other_bot.intake.submit(submission(user_id=mine, text="sent to another bot"))
    await _store_updates(db, BOT_ID, mine, handled=[1, 2], unhandled=[3])
    await _store_updates(db, BOT_ID, others, handled=[4], unhandled=[])
    before = {table.name: await _rows(k, table, others) for table in ALL_TABLES}
    service = UserDataService(db, bot_id=BOT_ID)

    counted = await service.count(mine, chat_id=mine)
    erased = await service.erase(mine, chat_id=mine)

    assert counted == erased
    expected = DataCounts(scripts=2, jobs=3, active_jobs=1, versions=2, videos=2, ratings=1, prompts=1, messages=2)
    assert replace(erased, notifications=0) == expected
    assert erased.notifications >= 7  # two acks, two results, two files, the improvement's ack
    assert {table.name: await _rows(k, table, mine) for table in ALL_TABLES} == dict.fromkeys(
        (table.name for table in ALL_TABLES), 0
    )
    assert {table.name: await _rows(k, table, others) for table in ALL_TABLES} == before  # the other user's intact
    assert await _rows(k, jobs, mine, bot_id=OTHER_BOT) == 1  # what the user sent another bot is that bot's
    assert await _rows(k, scripts, mine, bot_id=OTHER_BOT) == 1
    assert await k.count(inbox, inbox.c.chat_id == mine) == 1  # the unhandled update is still to be handled
    assert await k.count(inbox, inbox.c.chat_id == others) == 1
    assert await k.count(users, users.c.id == mine) == 1  # the users row is kept: id, name, language
    assert await service.count(mine, chat_id=mine) == DataCounts()


async def test_erasing_twice_removes_nothing_more_and_raises_nothing(db: Database) -> None:
    k = kit(db)
    await _done(k, 503)
    service = UserDataService(db, bot_id=BOT_ID)

    first = await service.erase(503, chat_id=503)
    second = await service.erase(503, chat_id=503)

    assert first.jobs == 1 and first.versions == 1
    assert second == DataCounts()
    assert not second.anything


async def test_a_worker_completing_an_erased_job_drops_its_result(db: Database) -> None:
    k = kit(db)
    text = "One\nTwo"
    await k.intake.submit(submission(user_id=504, text=text))
    job = await k.queue.claim(WORKER)
    assert job is not None
    storyboard = (await Pipeline(None).generate(text, job_id=job.id)).storyboard

    erased = await UserDataService(db, bot_id=BOT_ID).erase(504, chat_id=504)
    still_ours = await k.queue.heartbeat(job, WORKER, stage="generating")
    completed = await k.queue.complete(
        job, WORKER, storyboard, pipeline_ms=5, video=RenderedVideo(data=b"x", duration_s=3.0, width=640, height=360)
    )
    failed = await k.queue.fail(job, WORKER, code=FailureCode.PIPELINE, reason="late", retryable=True)

    assert erased.jobs == 1 and erased.active_jobs == 1
    assert not still_ours
    assert completed is None and failed is None
    for table in ALL_TABLES:
        assert await _rows(k, table, 504) == 0, table.name
    assert await k.count(outbox, outbox.c.chat_id == 504) == 0


async def test_a_claimed_job_whose_script_was_erased_fails_as_input_gone_not_with_a_crash(db: Database) -> None:
    k = kit(db)
    await k.intake.submit(submission(user_id=505))
    job = await k.queue.claim(WORKER)
    assert job is not None
    await UserDataService(db, bot_id=BOT_ID).erase(505, chat_id=505)

    with pytest.raises(JobInputGoneError):
        await k.queries.inputs(job)


async def test_an_erase_racing_a_completion_leaves_nothing_of_the_user(db: Database) -> None:
    """Whichever transaction goes first: the completion lands and is then erased, or finds its job gone."""
    k = kit(db)
    for attempt in range(3):
        user_id = 510 + attempt
        text = f"Race {attempt}\nline"
        await k.intake.submit(submission(user_id=user_id, text=text))
        job = await k.queue.claim(WORKER)
        assert job is not None
        storyboard = (await Pipeline(None).generate(text, job_id=job.id)).storyboard
        service = UserDataService(db, bot_id=BOT_ID)

        completed, erased = await asyncio.gather(
            k.queue.complete(job, WORKER, storyboard, pipeline_ms=1), service.erase(user_id, chat_id=user_id)
        )

        assert erased.jobs == 1
        assert erased.versions == (1 if completed is not None else 0)
        for table in ALL_TABLES:
            assert await _rows(k, table, user_id) == 0, (attempt, table.name)


async def test_the_schema_refuses_to_orphan_a_version_so_the_erase_goes_in_order(db: Database) -> None:
    """No cascade is relied on: the foreign keys hold on both databases (SQLite's are switched on per connection),
    so deleting a job before its version fails; the erase deletes children first."""
    k = kit(db)
    job, _ = await _done(k, 506)

    with pytest.raises(IntegrityError):
        await db.write(lambda conn: conn.execute(delete(jobs).where(jobs.c.id == job.id)))
    assert await db.read(lambda conn: conn.execute(select(func.count()).select_from(versions)).scalar_one()) == 1
