"""Scale-out with real processes on the real PostgreSQL: the bot (receiving and sending only) and `bhiv-bot worker`
processes share one database; a worker killed with SIGKILL mid-run loses nothing, and two `bhiv-bot run` processes
of a rolling deploy never send one message twice."""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.emulator import BotAPIEmulator
from storage.db import open_database
from storage.states import JobStatus
from storage.tables import jobs
from tests.e2e.conftest import is_ack, is_document, is_result
from tests.e2e.test_resilience import free_port
from tests.fakes.fake_lm import FakeLM
from tests.reliability.process import BotProcess, fresh_postgres, job_states
from tests.reliability.test_crash import eventually, tally

pytestmark = pytest.mark.slow

SCRIPTS = 300
WORKERS = 3
PER_WORKER = 10
SCRIPT_ID = re.compile(r"Script (\d+) opens")


def script(user_id: int) -> str:
    return f"Script {user_id} opens on a quiet street\nA second scene\nThe end"


async def running_jobs_of(url: str, pid: int) -> set[str]:
    """The jobs a worker process holds now (its workers are named ``<host>:<pid>/<n>``)."""
    db = await open_database(url)
    try:
        rows = await db.read(
            lambda conn: conn.execute(
                select(jobs.c.id, jobs.c.worker_id).where(jobs.c.status == JobStatus.RUNNING)
            ).all()
        )
    finally:
        await db.close()
    return {job_id for job_id, worker in rows if worker and worker.split("/")[0].endswith(f":{pid}")}


async def test_three_workers_run_each_of_300_jobs_once_and_a_killed_one_loses_none(tmp_path: Path) -> None:
    async with (
        fresh_postgres("bhiv_scale") as url,
        BotAPIEmulator(token="778300:scale-out") as emulator,
        FakeLM(latency_s=1.0) as lm,
    ):
        lease = {"JOB_LEASE_S": "4"}
        bot = BotProcess(emulator, url, tmp_path / "bot.log", lease | {"WORKER_CONCURRENCY": "0"})
        bot.extra_env["TELEGRAM_MAX_SENDS_PER_S"] = "0"  # the emulator sets no flood limit here
        workers = [
            BotProcess(
                emulator,
                url,
                tmp_path / f"worker-{n}.log",
                lease | {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": str(PER_WORKER), "LM_MAX_ATTEMPTS": "1"},
                command="worker",
            )
            for n in range(WORKERS)
        ]
        users = [emulator.user(300_000 + n, f"User{n}") for n in range(SCRIPTS)]
        ids = [user.id for user in users]
        try:
            await asyncio.gather(bot.start(), *(worker.start() for worker in workers))
            await eventually(lambda: emulator.calls_to("setMyCommands"), 30)
            await eventually(lambda: all("is up" in worker.log() for worker in workers), 30)
            for user in users:
                await user.send_text(script(user.id))
            await eventually(lambda: len(lm.requests) >= SCRIPTS // 3, 60)
            victim = workers[0]
            assert victim.process is not None
            # Frozen first, so what it holds is read before the kill: once it is dead, the others' reaper may
            # requeue its jobs at once (same machine), before a read after the kill would see them.
            victim.process.send_signal(signal.SIGSTOP)
            held = await running_jobs_of(url, victim.process.pid)
            await victim.kill()
            await eventually(lambda: all(tally(emulator, ids, is_document).values()), 120)
            await asyncio.sleep(1.0)  # a late duplicate would show up now
        finally:
            await asyncio.gather(bot.stop(), *(worker.stop() for worker in workers))
        states = await job_states(url)

    calls = Counter(int(m.group(1)) for r in lm.requests if (m := SCRIPT_ID.search(r.message("user"))))
    acks, results, files = (tally(emulator, ids, p) for p in (is_ack, is_result, is_document))
    by_worker = {w.log_path.name: w.log().count(" done: version ") for w in workers}
    print(
        f"\nscale-out: {SCRIPTS} scripts, {WORKERS} workers x {PER_WORKER}; the killed worker held {len(held)} "
        f"job(s); LM calls {sum(calls.values())}; results by worker {by_worker}"
    )
    assert len(held) > 0  # the kill came mid-run
    assert set(acks.values()) == set(results.values()) == set(files.values()) == {1}  # each reached its chat once
    assert sorted(states.values()) == [(JobStatus.DONE, 1)] * (SCRIPTS - len(held)) + [(JobStatus.DONE, 2)] * len(held)
    assert all(states[job_id] == (JobStatus.DONE, 2) for job_id in held)  # run again, by the others
    assert sorted(calls) == ids
    assert sum(n - 1 for n in calls.values()) <= len(held)  # only a killed run's call was made twice
    assert all(by_worker[w.log_path.name] > 0 for w in workers[1:])
    for process in (bot, *workers):
        assert "Traceback" not in process.log(), process.log_path.name


async def test_a_rolling_deploy_sends_no_message_twice(tmp_path: Path) -> None:
    """The new `run` starts while the old one still polls, then the old one gets SIGTERM: the two take turns at
    getUpdates (each answered 409 while the other polls) and share the outbox, and nothing is sent twice."""
    async with (
        fresh_postgres("bhiv_deploy") as url,
        BotAPIEmulator(token="778301:rolling") as emulator,
        FakeLM(latency_s=0.5) as lm,
    ):
        env = {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": "4", "TELEGRAM_MAX_SENDS_PER_S": "0"}
        old = BotProcess(emulator, url, tmp_path / "old.log", dict(env))
        new = BotProcess(emulator, url, tmp_path / "new.log", dict(env))
        users = [emulator.user(310_000 + n, f"User{n}") for n in range(60)]
        ids = [user.id for user in users]
        try:
            await old.start()
            await eventually(lambda: emulator.calls_to("setMyCommands"), 30)
            for user in users[:20]:
                await user.send_text(script(user.id))
            await new.start()
            await eventually(lambda: len(emulator.calls_to("setMyCommands")) >= 2, 30)
            for user in users[20:40]:  # both poll now
                await user.send_text(script(user.id))
                await asyncio.sleep(0.02)
            drained_s = await old.terminate()
            for user in users[40:]:
                await user.send_text(script(user.id))
            await eventually(lambda: all(tally(emulator, ids, is_document).values()), 60)
            await asyncio.sleep(1.0)
        finally:
            await asyncio.gather(old.stop(), new.stop())

    acks, results, files = (tally(emulator, ids, p) for p in (is_ack, is_result, is_document))
    conflicts = len(emulator.errors((409, 409), method="getUpdates"))
    repeated_edits = [c for c in emulator.errors((400, 400)) if "not modified" in (c.description or "")]
    print(f"\nrolling deploy: 60 scripts; the old process drained in {drained_s:.2f} s; {conflicts} getUpdates 409s")
    assert set(acks.values()) == set(results.values()) == set(files.values()) == {1}
    assert repeated_edits == []  # an edit sent twice would be refused as "not modified"
    # Both were up together (the new one's setMyCommands came before the old one's SIGTERM); whether a getUpdates
    # of one met the other's in flight, answered 409, depends on timing: printed, not asserted.
    assert "Traceback" not in old.log() + new.log()


async def test_a_worker_reports_its_health_and_hands_its_jobs_back_on_sigterm(tmp_path: Path) -> None:
    async with (
        fresh_postgres("bhiv_wterm") as url,
        BotAPIEmulator(token="778302:worker-term") as emulator,
        FakeLM(latency_s=20) as lm,
    ):
        bot = BotProcess(emulator, url, tmp_path / "bot.log", {"WORKER_CONCURRENCY": "0"})
        port = free_port()
        env = {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": "2", "SHUTDOWN_GRACE_S": "1", "LM_TIMEOUT_S": "30"}
        worker = BotProcess(emulator, url, tmp_path / "worker.log", env | {"OPS_PORT": str(port)}, command="worker")
        rescuer = BotProcess(emulator, url, tmp_path / "rescuer.log", env, command="worker")
        user = emulator.user(311_001, "Terry")
        try:
            await asyncio.gather(bot.start(), worker.start())
            await eventually(lambda: "is up" in worker.log(), 30)
            await user.send_text(script(user.id))
            await eventually(lambda: len(lm.requests) == 1, 30)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    health_status, health = answer.status, await answer.json()
                async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                    metrics = await answer.text()
            exit_s = await worker.terminate()
            states = await job_states(url)
            lm.latency_s = 0
            await rescuer.start()
            await user.chat.wait_for(is_document, timeout_s=30)
            await asyncio.sleep(0.5)
        finally:
            await asyncio.gather(bot.stop(), worker.stop(), rescuer.stop())

    print(f"\nworker SIGTERM with a job in the LM: exited in {exit_s:.2f} s (SHUTDOWN_GRACE_S=1)")
    assert health_status == 200
    assert health["ok"] and health["workers_alive"] == 2 and health["wakeups_listening"] is True
    assert "bhiv_jobs_in_hand 1.0" in metrics
    assert exit_s < 6
    assert list(states.values()) == [(JobStatus.QUEUED, 0)]  # handed back, its try not counted
    assert "released back to the queue" in worker.log()
    assert sum(map(is_result, user.chat.bot_messages)) == 1


async def test_a_worker_process_shares_the_bots_sqlite_file(tmp_path: Path) -> None:
    """On one machine a worker needs no PostgreSQL: it shares the bot's SQLite file (WAL) and polls for jobs."""
    async with BotAPIEmulator(token="778303:sqlite-worker") as emulator, FakeLM(latency_s=0.2) as lm:
        url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        bot = BotProcess(emulator, url, tmp_path / "bot.log", {"WORKER_CONCURRENCY": "0"})
        env = {"LM_BASE_URL": lm.base_url, "JOB_POLL_INTERVAL_S": "0.2"}
        worker = BotProcess(emulator, url, tmp_path / "worker.log", env, command="worker")
        users = [emulator.user(312_000 + n, f"User{n}") for n in range(8)]
        ids = [user.id for user in users]
        try:
            await bot.start()
            await eventually(lambda: emulator.calls_to("setMyCommands"), 30)  # migrated: the worker finds it so
            await worker.start()
            await eventually(lambda: "is up" in worker.log(), 30)
            for user in users:
                await user.send_text(script(user.id))
            await eventually(lambda: all(tally(emulator, ids, is_document).values()), 60)
            await asyncio.sleep(0.5)
        finally:
            await asyncio.gather(bot.stop(), worker.stop())

    assert set(tally(emulator, ids, is_result).values()) == {1}
    assert len(lm.requests) == len(users)  # the worker ran them: the bot runs none
    assert "by polling (SQLite)" in worker.log()
