from __future__ import annotations

import asyncio

import pytest

from core.errors import JobNotFoundError, RejectReason, ScriptRejectedError
from core.feedback import FeedbackService
from core.revision import parse_revision
from core.types import VersionRecord
from storage.db import Database
from storage.tables import feedback as feedback_table
from tests.core.helpers import CountingPipeline, Kit, job_settings, kit, submission


async def make_version(db: Database, user_id: int = 1) -> tuple[Kit, FeedbackService, VersionRecord]:
    jobs = kit(db)
    job = (await jobs.intake.submit(submission(user_id=user_id, text="one\ntwo\nthree"))).job
    await jobs.workers(CountingPipeline()).run_burst()
    version = await jobs.queries.version_for_job(job.id)
    assert version is not None
    return jobs, jobs.feedback(), version


async def test_second_tap_changes_rating_without_new_row(db: Database) -> None:
    _, service, version = await make_version(db)

    first = await service.rate(user_id=1, version_id=version.id, rating=4)
    second = await service.rate(user_id=1, version_id=version.id, rating=2)

    assert first.previous is None and second.previous == 4
    assert second.feedback.id == first.feedback.id and second.feedback.rating == 2
    assert second.wants_comment and not first.wants_comment
    assert await kit(db).count(feedback_table) == 1


async def test_nobody_rates_someone_elses_storyboard(db: Database) -> None:
    _, service, version = await make_version(db, user_id=1)

    with pytest.raises(JobNotFoundError):
        await service.rate(user_id=2, version_id=version.id, rating=5)
    with pytest.raises(JobNotFoundError):
        await service.rate(user_id=1, version_id=version.id + 1000, rating=5)


async def test_low_rating_with_a_note_produces_an_improved_version(db: Database) -> None:
    jobs, service, version = await make_version(db)
    rated = await service.rate(user_id=1, version_id=version.id, rating=1)
    await service.attach_prompt(rated.feedback.id, chat_id=1, message_id=555)
    prompt = await service.find_prompt(user_id=1, chat_id=1, message_id=555)
    assert prompt is not None and prompt.answered_by is None
    assert await service.find_prompt(user_id=2, chat_id=1, message_id=555) is None  # not theirs

    submitted = await service.improve(prompt, comment="Too fast, boring.", chat_id=1, reply_to=556)
    again = await service.improve(prompt, comment="Too fast, boring.", chat_id=1, reply_to=556)
    await jobs.workers(CountingPipeline()).run_burst()
    answered = await service.find_prompt(user_id=1, chat_id=1, message_id=555)

    assert answered is not None and answered.answered_by is not None
    assert answered.answered_by.id == submitted.job.id
    improved = await jobs.queries.version_for_job(submitted.job.id)
    stored = await service.get(rated.feedback.id)
    assert not again.created and again.job.id == submitted.job.id
    assert submitted.job.kind == "improve" and submitted.job.parent_version_id == version.id
    assert improved is not None and improved.version == 2
    assert improved.generation_method == "local_heuristic"
    assert improved.total_duration_s > version.total_duration_s
    revision = parse_revision(improved.revision)
    assert revision is not None and revision.not_followed == ["boring"]  # "too fast" was done; the rest is named
    assert stored is not None and stored.comment == "Too fast, boring." and stored.sentiment is not None
    assert stored.sentiment < 0


async def test_a_note_over_500_characters_is_refused_with_its_length(db: Database) -> None:
    _, service, version = await make_version(db)
    rated = await service.rate(user_id=1, version_id=version.id, rating=1)
    await service.attach_prompt(rated.feedback.id, chat_id=1, message_id=9)
    prompt = await service.latest_prompt(user_id=1, feedback_id=rated.feedback.id)
    assert prompt is not None

    with pytest.raises(ScriptRejectedError) as refused:
        await service.improve(prompt, comment="x" * 501, chat_id=1, reply_to=None)
    assert (refused.value.reason, refused.value.size, refused.value.limit) == (RejectReason.NOTE_TOO_LONG, 501, 500)


async def test_stats_count_jobs_ratings_methods_and_times(db: Database) -> None:
    _, service, version = await make_version(db)
    await service.rate(user_id=1, version_id=version.id, rating=5)

    stats = await service.stats()

    assert stats.jobs_by_status == {"done": 1}
    assert stats.ratings == {5: 1} and stats.average_rating == 5
    assert stats.methods == {"local": 1} and stats.lm_share == 0
    assert stats.median_ms is not None and stats.p95_ms is not None


async def test_a_double_tapped_skip_makes_one_improvement_and_no_error(db: Database) -> None:
    _, service, version = await make_version(db)
    rated = await service.rate(user_id=1, version_id=version.id, rating=1)
    await service.attach_prompt(rated.feedback.id, chat_id=1, message_id=700)
    prompt = await service.latest_prompt(user_id=1, feedback_id=rated.feedback.id)
    assert prompt is not None

    taps = await asyncio.gather(*(service.improve(prompt, comment=None, chat_id=1, reply_to=None) for _ in range(5)))

    assert len({tap.job.id for tap in taps}) == 1
    assert sum(tap.created for tap in taps) == 1


async def test_two_improvements_of_one_script_finishing_together_both_become_versions(db: Database) -> None:
    jobs, service, version = await make_version(db)
    rated = await service.rate(user_id=1, version_id=version.id, rating=2)
    submitted = []
    for message_id in (801, 802):
        await service.attach_prompt(rated.feedback.id, chat_id=1, message_id=message_id)
        prompt = await service.find_prompt(user_id=1, chat_id=1, message_id=message_id)
        assert prompt is not None
        submitted.append(await service.improve(prompt, comment=f"note {message_id}", chat_id=1, reply_to=None))

    await jobs.workers(CountingPipeline(), job_settings(worker_concurrency=2)).run_burst()

    made = [await jobs.queries.version_for_job(s.job.id) for s in submitted]
    assert sorted(v.version for v in made if v is not None) == [2, 3]


async def test_a_rating_while_a_question_is_open_does_not_ask_again(db: Database) -> None:
    _, service, version = await make_version(db)
    first = await service.rate(user_id=1, version_id=version.id, rating=2)
    await service.attach_prompt(first.feedback.id, chat_id=1, message_id=900)

    second = await service.rate(user_id=1, version_id=version.id, rating=1)

    assert first.open_prompt is None
    assert second.open_prompt is not None and second.open_prompt.message_id == 900
