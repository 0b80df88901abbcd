"""Figures of the core alone, no Telegram: the worker pool's efficiency and JobService.submit's throughput, with
what one trivial statement (SELECT 1 on an open connection) costs through the async engine the bot uses, through
SQLAlchemy's sync engine, and through the bare driver."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from collections.abc import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core.services import Services
from tests.bench.harness import Bench, core_services, postgres_admin_url, say, submission, throwaway_postgres
from tests.bench.report import Figure, at_least, at_most
from tests.fakes.fake_lm import FakeLM

LM_LATENCY_S = 1.0
SUBMITTERS = 16
STATEMENTS = 500


# --- pipeline efficiency ----------------------------------------------------------------------------------------


async def _drain(services: Services, poll_s: float = 0.02) -> None:
    while (await services.jobs.backlog())[0] > 0:
        await asyncio.sleep(poll_s)


async def pipeline(bench: Bench) -> list[Figure]:
    n = 8 if bench.quick else 256
    async with (
        FakeLM(latency_s=LM_LATENCY_S) as lm,
        core_services(bench.sqlite_url("pipeline"), lm_base_url=lm.base_url) as services,
    ):
        for user in bench.users(n):
            await services.jobs.submit(submission(user))
        concurrency = services.settings.jobs.worker_concurrency
        started = time.monotonic()
        await services.workers.start()
        try:
            await _drain(services)
            makespan_s = time.monotonic() - started
        finally:
            await services.workers.stop(grace_s=0)
        say(f"pipeline: {len(lm.requests)} LM requests for {n} jobs, concurrency {concurrency}")
    ideal_s = math.ceil(n / concurrency) * LM_LATENCY_S
    return [
        Figure("pipeline_jobs", n, digits=0),
        Figure("pipeline_makespan_s", makespan_s, digits=2),
        Figure("pipeline_efficiency", makespan_s / ideal_s, digits=3, target=at_most(1.1)),
    ]


# --- submit throughput ------------------------------------------------------------------------------------------


async def _submit_rate(services: Services, users: list[int], concurrency: int) -> float:
    pending = iter(users)  # shared: each submitter takes the next user

    async def submitter() -> None:
        for user in pending:
            await services.jobs.submit(submission(user))

    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    return len(users) / (time.perf_counter() - started)


@contextlib.contextmanager
def _counting_statements(engine: AsyncEngine) -> Iterator[dict[str, int]]:
    counter = {"n": 0}

    def count(*_args: object) -> None:
        counter["n"] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _async_statement_ms(engine: AsyncEngine, n: int = STATEMENTS) -> float:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        started = time.perf_counter()
        for _ in range(n):
            await conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000 / n


def _sync_statement_ms(database_url: str, n: int = STATEMENTS) -> float:
    """The same through SQLAlchemy's sync engine (pysqlite / psycopg without asyncio)."""
    url = make_url(database_url)
    url = url.set(drivername="sqlite") if url.get_backend_name() == "sqlite" else url
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            started = time.perf_counter()
            for _ in range(n):
                conn.execute(text("SELECT 1"))
            return (time.perf_counter() - started) * 1000 / n
    finally:
        engine.dispose()


def _sqlite_driver_statement_ms(database_url: str, n: int = STATEMENTS) -> float:
    conn = sqlite3.connect(str(make_url(database_url).database))
    try:
        started = time.perf_counter()
        for _ in range(n):
            conn.execute("SELECT 1").fetchall()
        return (time.perf_counter() - started) * 1000 / n
    finally:
        conn.close()


def _postgres_driver_statement_ms(database_url: str, n: int = STATEMENTS) -> float:
    import psycopg

    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        started = time.perf_counter()
        for _ in range(n):
            conn.execute("SELECT 1").fetchall()
        return (time.perf_counter() - started) * 1000 / n


async def _submit_figures(bench: Bench, label: str, database_url: str, target: float | None) -> list[Figure]:
    n = 50 if bench.quick else 500
    async with core_services(database_url) as services:
        with _counting_statements(services.engine) as counted:
            sequential = await _submit_rate(services, bench.users(n), 1)
        concurrent = await _submit_rate(services, bench.users(n), SUBMITTERS)
        async_ms = await _async_statement_ms(services.engine)
    driver = _sqlite_driver_statement_ms if label == "sqlite" else _postgres_driver_statement_ms
    goal = at_least(target) if target is not None else None
    return [
        Figure(f"submit_{label}_seq_per_s", sequential, target=goal),
        Figure(f"submit_{label}_c{SUBMITTERS}_per_s", concurrent, target=goal),
        Figure(f"submit_{label}_statements_per_job", counted["n"] / n),
        Figure(f"db_{label}_statement_async_ms", async_ms, digits=3),
        Figure(f"db_{label}_statement_sync_ms", await asyncio.to_thread(_sync_statement_ms, database_url), digits=3),
        Figure(f"db_{label}_statement_driver_ms", await asyncio.to_thread(driver, database_url), digits=3),
    ]


async def submit(bench: Bench) -> list[Figure]:
    import psycopg

    figures = await _submit_figures(bench, "sqlite", bench.sqlite_url("submit"), 1000.0)
    try:
        async with throwaway_postgres() as url:
            figures += await _submit_figures(bench, "pg", url, None)
    except psycopg.OperationalError as exc:
        say(f"no PostgreSQL at {make_url(postgres_admin_url()).render_as_string()}: {exc}")
        why = "skipped: no PostgreSQL (set BHIV_BENCH_POSTGRES_URL)"
        figures += [Figure(name, None, note=why) for name in ("submit_pg_seq_per_s", f"submit_pg_c{SUBMITTERS}_per_s")]
    return figures
