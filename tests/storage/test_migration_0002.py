"""Rows from before keys were scoped to the bot survive the migration, as bot 0's, with their failures as codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage import jobs as job_queries
from storage import outbox as outbox_queries
from storage.db import Database, open_database
from storage.migrate import upgrade_to, upgrade_to_head

NOW = "2026-11-30 12:00:00.000000"


def _old_rows(conn: Connection) -> None:
    conn.execute(text("INSERT INTO users VALUES (7, 'Ann', NULL, :now, :now, 0)"), {"now": NOW})
    conn.execute(text("INSERT INTO scripts VALUES (1, 7, 'text', NULL, 'x', 'a line', 6, 7, 100, :now)"), {"now": NOW})
    for job_id, status, error in [
        ("aaaaaaaaaa", "failed", "This script stopped the worker several times, so it was set aside."),
        ("bbbbbbbbbb", "failed", "Something went wrong on our side while making this storyboard."),
        ("cccccccccc", "cancelled", "Forbidden: bot was blocked by the user"),
        ("dddddddddd", "done", None),
    ]:
        conn.execute(
            text(
                "INSERT INTO jobs (id, user_id, script_id, kind, request_key, status, attempts, available_at, "
                "error, chat_id, created_at, updated_at) VALUES "
                "(:id, 7, 1, 'generate', :id, :status, 1, :now, :error, 7, :now, :now)"
            ),
            {"id": job_id, "status": status, "error": error, "now": NOW},
        )
    conn.execute(
        text(
            "INSERT INTO outbox (chat_id, kind, payload, job_id, dedupe_key, status, attempts, next_try_at, "
            "created_at) VALUES (7, 'result', '{}', 'dddddddddd', 'result:dddddddddd', 'pending', 0, :now, :now)"
        ),
        {"now": NOW},
    )


async def _upgraded_old_database(tmp_path: Path) -> Database:
    """A SQLite file filled at revision 0001, then brought to the head."""
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade_to(db, "0001")
        await db.write(_old_rows)
        await upgrade_to_head(db)
    except BaseException:
        await db.close()  # its threads would keep the test run from exiting
        raise
    return db


async def test_rows_before_bot_scoped_keys_become_bot_zeros_with_failure_codes(tmp_path: Path) -> None:
    db = await _upgraded_old_database(tmp_path)
    try:
        jobs = await db.read(lambda c: dict(c.execute(text("SELECT id, error FROM jobs")).all()))
        bots = await db.read(lambda c: set(c.execute(text("SELECT bot_id FROM scripts UNION SELECT bot_id FROM jobs"))))
        foreign_keys = await db.write(lambda c: c.exec_driver_sql("PRAGMA foreign_keys").scalar_one())
    finally:
        await db.close()

    assert jobs == {
        "aaaaaaaaaa": "worker_crashes",
        "bbbbbbbbbb": "pipeline",
        "cccccccccc": "recipient_gone",
        "dddddddddd": None,
    }
    assert bots == {(0,)}
    assert foreign_keys == 1  # on again after the migration


async def test_the_first_bot_after_the_upgrade_takes_the_old_rows_and_sends_what_was_pending(tmp_path: Path) -> None:
    db = await _upgraded_old_database(tmp_path)
    try:
        adopted = await db.write(job_queries.adopt_rows_of_no_bot, 4242)
        again = await db.write(job_queries.adopt_rows_of_no_bot, 5151)  # a second bot takes nothing
        due = await db.read(outbox_queries.due_heads, 4242, now=datetime.now(UTC), limit=10)
    finally:
        await db.close()

    assert adopted == 1 + 4 + 1 and again == 0  # the script, the jobs, the pending result
    assert [(row.kind, row.job_id) for row in due] == [("result", "dddddddddd")]
