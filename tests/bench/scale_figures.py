"""Scale-out figures: ``bhiv-bot worker`` processes on one PostgreSQL database, the jobs submitted from this
process through the bot's own intake (its notifications wake the workers, as the bot's do).

- LM-bound speed-up: the same jobs with 1, 2 and 3 workers, each job one call to a fake LM that takes
  ``LM_S``; the wall time from the first submit to the last job done.
- Pickup latency: one job at a time, every worker idle, from its submit to its claim (the job's
  ``created_at`` and ``started_at``, both on the database's clock).
- Queue throughput: jobs claimed and completed per second by 3 workers with a pipeline that costs nothing
  worth measuring (the local generator on a three-line script), and the CPU each worker spent per job.

The workers run with RENDER_VIDEO=false: these are the queue's figures, and a render is CPU the 2 cores would
share out among the workers (``render`` measures its cost on its own).
"""

from __future__ import annotations

import asyncio
import random
import time

from sqlalchemy import func, select

from core.intake import Intake
from storage import jobs as job_queries
from storage.states import JobStatus
from storage.tables import jobs
from tests.bench.harness import (
    Bench,
    bench_intake,
    core_services,
    process_cpu_s,
    say,
    submission,
    throwaway_postgres,
    worker_processes,
)
from tests.bench.report import Figure, at_least, at_most, median, percentile
from tests.fakes.fake_lm import FakeLM

LM_S = 1.0  # the fake LM of the scale-out test: the pipeline waits, its CPU is small
PER_WORKER = 4  # the shipped WORKER_CONCURRENCY
SHORT_SCRIPT = "A door opens\nA cat walks in\nThe end"
# These figures are the queue's: LM-bound jobs, and jobs that cost nothing. The video would make every job
# CPU-bound on this machine's 2 cores (``python -m tests.bench render`` measures it apart).
QUEUE_ONLY = {"RENDER_VIDEO": "false"}


async def _submit_all(intake: Intake, user_ids: list[int], text: str, batch: int = 200) -> None:
    for start in range(0, len(user_ids), batch):
        requests = [intake.script_request(submission(uid, text=text)) for uid in user_ids[start : start + batch]]
        outcomes = await intake.submit_many(requests)
        failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if failed:
            raise RuntimeError(f"{len(failed)} submits failed: {failed[0]!r}")


async def _done(intake: Intake) -> int:
    return await intake.db.read(
        lambda conn: int(conn.execute(select(func.count()).where(jobs.c.status == JobStatus.DONE)).scalar_one())
    )


async def _run_all(intake: Intake, bench: Bench, n: int, text: str) -> float:
    """Submit ``n`` jobs; seconds until all of them are done."""
    before = await _done(intake)
    started = time.monotonic()
    await _submit_all(intake, bench.users(n), text)
    while await _done(intake) < before + n:
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _speed_up(bench: Bench, url: str, intake: Intake, lm: FakeLM) -> list[Figure]:
    n = 24 if bench.quick else 120
    seconds: dict[int, float] = {}
    cpu_ms: dict[int, float] = {}
    for count in (1, 2, 3):
        env = {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": str(PER_WORKER), **QUEUE_ONLY}
        async with worker_processes(bench, url, count, **env) as pids:
            before = [process_cpu_s(pid) for pid in pids]
            seconds[count] = await _run_all(intake, bench, n, SHORT_SCRIPT)
            cpu_ms[count] = sum(process_cpu_s(pid) - b for pid, b in zip(pids, before, strict=True)) * 1000 / n
        say(
            f"workers: {n} jobs of {LM_S} s LM each, {count} worker(s) x {PER_WORKER}: {seconds[count]:.2f} s, "
            f"worker CPU {cpu_ms[count]:.1f} ms a job"
        )
    return [
        Figure("worker_cpu_ms_per_lm_job", cpu_ms[1], digits=1),
        *(Figure(f"workers_{count}_jobs_per_s", n / seconds[count], digits=1) for count in (1, 2, 3)),
        Figure("workers_speedup_3", seconds[1] / seconds[3], digits=2, target=at_least(2.7)),
        Figure("workers_speedup_2", seconds[1] / seconds[2], digits=2),
    ]


async def _pickup(bench: Bench, intake: Intake) -> list[Figure]:
    samples = 10 if bench.quick else 60
    latencies_ms: list[float] = []
    for uid in bench.users(samples):
        await asyncio.sleep(random.uniform(0.1, 0.3))  # every worker back to waiting
        submitted = await intake.submit(submission(uid, text=SHORT_SCRIPT))
        job_id = submitted.job.id
        deadline = time.monotonic() + 10
        while True:
            job = await intake.db.read(job_queries.get_job, job_id)
            if job is not None and job.started_at is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} was not claimed within 10 s")
            await asyncio.sleep(0.01)
        latencies_ms.append((job.started_at - job.created_at).total_seconds() * 1000)
    say("pickup (ms): " + ", ".join(f"{value:.1f}" for value in sorted(latencies_ms)))
    return [
        Figure("pickup_p50_ms", median(latencies_ms), digits=1),
        Figure("pickup_p99_ms", percentile(latencies_ms, 99), digits=1, target=at_most(100)),
    ]


async def _throughput(bench: Bench, url: str, intake: Intake) -> list[Figure]:
    n = 300 if bench.quick else 2000
    async with worker_processes(bench, url, 3, WORKER_CONCURRENCY="8", **QUEUE_ONLY) as pids:
        pickup = await _pickup(bench, intake)
        cpu_before = [process_cpu_s(pid) for pid in pids]
        seconds = await _run_all(intake, bench, n, SHORT_SCRIPT)
        cpu_ms = sum(process_cpu_s(pid) - before for pid, before in zip(pids, cpu_before, strict=True)) * 1000 / n
    say(f"queue: {n} no-op jobs by 3 workers x 8 in {seconds:.2f} s; worker CPU {cpu_ms:.2f} ms a job")
    return [
        *pickup,
        Figure("queue_noop_jobs_per_s", n / seconds, digits=0),
        Figure("worker_cpu_ms_per_noop_job", cpu_ms, digits=2),
    ]


async def workers(bench: Bench) -> list[Figure]:
    async with throwaway_postgres() as url, core_services(url) as core, FakeLM(latency_s=LM_S) as lm:
        intake = bench_intake(core)
        figures = await _speed_up(bench, url, intake, lm)
        figures += await _throughput(bench, url, intake)
    return figures
