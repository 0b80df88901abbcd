"""Figures of the core alone, no Telegram: the worker pool's efficiency, Intake.submit's throughput, and what one
write transaction costs: crossings to the driver's thread and CPU, through storage.db and, for comparison in the
same run, through SQLAlchemy's async adapter statement by statement (the path before storage.db)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from unittest import mock

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.intake import Intake
from core.services import Core
from tests.bench.harness import (
    Bench,
    bench_intake,
    core_services,
    counting_statements,
    postgres_admin_url,
    say,
    submission,
    throwaway_postgres,
)
from tests.bench.report import Figure, at_least, at_most
from tests.fakes.fake_lm import FakeLM

LM_LATENCY_S = 1.0
SUBMITTERS = 16


# --- pipeline efficiency ----------------------------------------------------------------------------------------


async def _drain(core: Core, poll_s: float = 0.02) -> None:
    while (await core.queries.backlog())[0] > 0:
        await asyncio.sleep(poll_s)


async def pipeline(bench: Bench) -> list[Figure]:
    n = 8 if bench.quick else 256
    async with (
        FakeLM(latency_s=LM_LATENCY_S) as lm,
        # the queue's figure: a render is not bookkeeping (``render`` measures it on its own)
        core_services(bench.sqlite_url("pipeline"), lm_base_url=lm.base_url, video=False) as core,
    ):
        intake = bench_intake(core)
        for user in bench.users(n):
            await intake.submit(submission(user))
        assert core.workers is not None
        concurrency = core.settings.jobs.worker_concurrency
        started = time.monotonic()
        await core.workers.start()
        try:
            await _drain(core)
            makespan_s = time.monotonic() - started
        finally:
            await core.workers.stop(grace_s=0)
        say(f"pipeline: {len(lm.requests)} LM requests for {n} jobs, concurrency {concurrency}")
    rounds = math.ceil(n / concurrency)
    ideal_s = rounds * LM_LATENCY_S
    return [
        Figure("pipeline_jobs", n, digits=0),
        Figure("pipeline_makespan_s", makespan_s, digits=2),
        Figure("pipeline_efficiency", makespan_s / ideal_s, digits=3, target=at_most(1.02)),
        # what each job in a worker's sequence adds to its 1 s of LM: claim, inputs, result, heartbeat, wake-up
        Figure("pipeline_bookkeeping_ms_per_job", (makespan_s - ideal_s) * 1000 / rounds, target=at_most(10)),
    ]


# --- submit throughput and the cost of one transaction ---------------------------------------------------------


async def _submit_rate(intake: Intake, users: list[int], concurrency: int) -> float:
    pending = iter(users)  # shared: each submitter takes the next user

    async def submitter() -> None:
        for user in pending:
            await intake.submit(submission(user))

    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    return len(users) / (time.perf_counter() - started)


@contextlib.contextmanager
def _counting_crossings() -> Iterator[dict[str, int]]:
    """Every call aiosqlite makes on its thread goes through ``Connection._execute``: count them."""
    counter = {"n": 0}
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., object], *args: object, **kwargs: object) -> object:
        counter["n"] += 1
        return await real(self, fn, *args, **kwargs)

    with mock.patch.object(aiosqlite.Connection, "_execute", counted):
        yield counter


async def _per_transaction(n: int, run: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """(crossings, CPU ms) per call of ``run``, sequentially; CPU is the whole process's, driver threads included."""
    with _counting_crossings() as crossings:
        cpu_before = time.process_time()
        for i in range(n):
            await run(i)
        cpu_ms = (time.process_time() - cpu_before) * 1000 / n
    return crossings["n"] / n, cpu_ms


async def _before_storage_db(database_url: str, intake: Intake, users: list[int]) -> tuple[float, float]:
    """The same submit transaction, each statement through SQLAlchemy's async adapter on aiosqlite (BEGIN
    IMMEDIATE as before): the path the bot took until storage.db."""
    engine = create_async_engine(database_url, connect_args={"isolation_level": None})

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    async def one(i: int) -> None:
        request = intake.script_request(submission(users[i], message_id=2))
        async with engine.begin() as conn:
            await conn.run_sync(Intake._store, [request], datetime.now(UTC), intake.settings)

    try:
        await one(0)  # connect and warm up outside the measurement
        return await _per_transaction(len(users) - 1, lambda i: one(i + 1))
    finally:
        await engine.dispose()


async def _submit_figures(bench: Bench, label: str, database_url: str) -> list[Figure]:
    n = 50 if bench.quick else 500
    sqlite = label == "sqlite"
    async with core_services(database_url) as core:
        intake = bench_intake(core)
        with counting_statements(core.db.sync_engines()) as counted:
            sequential = await _submit_rate(intake, bench.users(n), 1)
        statements = counted["n"] / n
        concurrent = await _submit_rate(intake, bench.users(n), SUBMITTERS)
        users = bench.users(n)
        crossings, cpu_ms = await _per_transaction(n, lambda i: intake.submit(submission(users[i])))
        before = await _before_storage_db(database_url, intake, bench.users(n)) if sqlite else None
    figures = [
        Figure(f"submit_{label}_seq_per_s", sequential, target=at_least(1000) if sqlite else None),
        Figure(f"submit_{label}_c{SUBMITTERS}_per_s", concurrent, target=at_least(3000) if sqlite else None),
        Figure(f"submit_{label}_statements_per_job", statements),
        Figure(f"submit_{label}_cpu_ms_per_job", cpu_ms, digits=3),
    ]
    if before is not None:
        figures += [
            Figure("tx_sqlite_crossings", crossings, target=at_most(statements + 2)),
            Figure("tx_sqlite_crossings_before", before[0]),
            Figure("tx_sqlite_cpu_ms", cpu_ms, digits=3),
            Figure("tx_sqlite_cpu_ms_before", before[1], digits=3),
            Figure("tx_sqlite_cpu_ratio_before_over_now", before[1] / cpu_ms, digits=1),
        ]
    return figures


async def submit(bench: Bench) -> list[Figure]:
    import psycopg

    figures = await _submit_figures(bench, "sqlite", bench.sqlite_url("submit"))
    try:
        async with throwaway_postgres() as url:
            figures += await _submit_figures(bench, "pg", url)
    except psycopg.OperationalError as exc:
        say(f"no PostgreSQL at {make_url(postgres_admin_url()).render_as_string()}: {exc}")
        why = "skipped: no PostgreSQL (set BHIV_BENCH_POSTGRES_URL)"
        figures += [Figure(name, None, note=why) for name in ("submit_pg_seq_per_s", f"submit_pg_c{SUBMITTERS}_per_s")]
    return figures
