"""The LM misbehaving in every way it can: jobs still end, with the LM's storyboard when it recovers within the
job's budget, else with the local one; never stuck in running; never more requests than the policy allows."""

from __future__ import annotations

import socket
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.lm import LMClient
from core.pipeline import Pipeline
from core.settings import LMSettings
from storage.db import Database
from storage.tables import jobs as jobs_table
from storage.tables import versions
from tests.core.helpers import job_settings, kit, submission
from tests.fakes.fake_lm import FakeLM, Reply

JOBS = 4
MAX_ATTEMPTS = 3


def lm_settings(base_url: str) -> LMSettings:
    return LMSettings(
        lm_base_url=base_url,
        lm_max_attempts=MAX_ATTEMPTS,
        lm_backoff_min_s=0.01,
        lm_backoff_max_s=0.05,
        lm_retry_after_cap_s=0.2,
        lm_timeout_s=0.3,
        lm_connect_timeout_s=0.3,
        lm_job_deadline_s=3.0,
    )


def _outcomes(conn: Connection) -> tuple[Counter[str], Counter[str]]:
    statuses = Counter(conn.execute(select(jobs_table.c.status)).scalars())
    methods = Counter(conn.execute(select(versions.c.generation_method)).scalars())
    return statuses, methods


async def run_jobs(db: Database, base_url: str) -> tuple[Counter[str], Counter[str]]:
    """Submit JOBS scripts, run the workers until the queue is empty; (job statuses, generation methods)."""
    service = kit(db, job_settings(worker_concurrency=2))
    for n in range(JOBS):
        await service.intake.submit(submission(user_id=n + 1, text=f"Scene {n}\nAnother"))
    async with LMClient(lm_settings(base_url)) as lm:
        await service.workers(Pipeline(lm)).run_burst()
    return await db.read(_outcomes)


@pytest.mark.parametrize(
    ("storm", "expected_method"),
    [
        pytest.param([Reply.status(429, retry_after="1")] * 2, "lm", id="429-storm-that-passes"),
        pytest.param([Reply.status(503)] * 2, "lm", id="503s-that-pass"),
        pytest.param([Reply.status(500)] * 100, "local_fallback", id="500-forever"),
        pytest.param([Reply.status(429, retry_after="30")] * 100, "local_fallback", id="429-forever"),
        pytest.param([Reply.hang(5)] * 100, "local_fallback", id="hangs-past-the-timeout"),
        pytest.param([Reply.garbage()] * 100, "local_fallback", id="garbage"),
        pytest.param([Reply.content('{"title": "x", "scenes": []}')] * 100, "local_fallback", id="schema-invalid"),
        pytest.param([Reply.drop()] * 100, "local_fallback", id="dropped-connections"),
    ],
)
async def test_lm_faults_end_every_job_and_respect_the_retry_budget(
    db: Database, fake_lm: FakeLM, storm: list[Reply], expected_method: str
) -> None:
    fake_lm.script(storm)

    statuses, methods = await run_jobs(db, fake_lm.base_url)

    assert statuses == Counter({"done": JOBS})  # nothing stuck in running, nothing failed
    assert methods[expected_method] >= 1
    assert sum(methods.values()) == JOBS
    assert len(fake_lm.requests) <= JOBS * MAX_ATTEMPTS


async def test_lm_server_gone_falls_back_for_every_job(db: Database) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    statuses, methods = await run_jobs(db, f"http://127.0.0.1:{port}/v1")

    assert statuses == Counter({"done": JOBS})
    assert methods == Counter({"local_fallback": JOBS})
