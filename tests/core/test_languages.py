"""The language a user chose: kept in users.language, cached per process, never overwritten by intake; and the
language a job's messages are said in, fixed when it is made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import select

from core.clock import SystemClock
from core.languages import Languages
from core.types import Author
from storage.db import Database, open_database
from storage.migrate import upgrade_to_head
from storage.tables import users
from tests.core.helpers import job_settings, kit, submission


async def test_a_chosen_language_is_kept_and_read_back_by_a_new_process(db: Database) -> None:
    languages = Languages(db, clock=SystemClock())

    await languages.choose(Author(user_id=5, name="Ann"), "ru")  # a user the bot has not seen before

    assert await languages.chosen(5) == "ru"
    assert await Languages(db, clock=SystemClock()).chosen(5) == "ru"  # after a restart: from the database
    assert await languages.chosen(6) is None


async def test_forgetting_the_choice_follows_telegram_again(db: Database) -> None:
    languages = Languages(db, clock=SystemClock())
    await languages.choose(Author(user_id=5, name="Ann"), "hi")

    await languages.choose(Author(user_id=5, name="Ann"), None)

    assert await languages.chosen(5) is None
    assert await Languages(db, clock=SystemClock()).chosen(5) is None


async def test_a_script_keeps_the_chosen_language_and_fixes_its_jobs_own(db: Database) -> None:
    service = kit(db, job_settings())
    languages = Languages(db, clock=SystemClock())
    await languages.choose(Author(user_id=7, name="Ann"), "ru")

    # Telegram says "hi" meanwhile: the intake's upsert of the user leaves the chosen language alone
    submitted = await service.intake.submit(dataclasses.replace(submission(user_id=7), language="hi"))

    assert submitted.job.language == "hi"
    assert (await service.queries.recent(submitted.job.bot_id, 7))[0].language == "hi"
    assert await Languages(db, clock=SystemClock()).chosen(7) == "ru"
    stored = await db.read(lambda conn: conn.execute(select(users.c.language).where(users.c.id == 7)).scalar_one())
    assert stored == "ru"


async def test_a_job_without_a_language_is_said_in_english(db: Database) -> None:
    submitted = await kit(db, job_settings()).intake.submit(submission(user_id=8))

    assert submitted.job.language is None


async def test_the_cache_answers_without_a_query_and_stays_bounded(tmp_path: Path) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'languages.db'}")
    await upgrade_to_head(db)
    languages = Languages(db, clock=SystemClock(), max_cached=2)
    try:
        await languages.choose(Author(user_id=1, name="A"), "ru")
        assert languages.known(1) == "ru"
        await db.close()  # no database now: a cached user still gets an answer
        assert await languages.chosen(1) == "ru"
        languages._remember(2, None)
        languages._remember(3, "hi")
        assert languages.known(1) is None and languages.known(3) == "hi"  # the oldest went first
    finally:
        await db.close()
