"""Kill a `bhiv-bot worker` with SIGKILL at each moment of a job's life, on the real PostgreSQL, with the bot and
a second worker as separate processes: every job reaches its user once, and a job that kills every worker that
takes it fails after JOB_MAX_ATTEMPTS with a message to its user.

    moment                           failpoint                    what the next worker must do
    claimed, pipeline not started    job.claimed@3                run the held job (its try counted)
    mid-pipeline (the LM call)       a plain SIGKILL              run the held jobs again
    inside the result's transaction  job.complete.uncommitted@3   run it again: nothing of the first try is stored
    result stored, nothing else      job.completed@3              nothing: the job is done, its result goes out once

The killed worker runs two jobs at once, so the other one in its hand at the kill is run again too.

Worker A runs alone until it dies, then worker B starts: so what A held is certainly B's to find, found at once
(A was a process of this host and is gone, core.owners) rather than after its lease.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.emulator import BotAPIEmulator
from tests.e2e.conftest import is_ack, is_document, is_result
from tests.fakes.fake_lm import FakeLM
from tests.reliability.process import BotProcess, fresh_postgres, job_states
from tests.reliability.test_crash import eventually, tally

pytestmark = pytest.mark.slow

SCRIPTS = 12
SCRIPT_ID = re.compile(r"Script (\d+) opens")


@dataclass(frozen=True)
class Moment:
    name: str
    failpoint: str | None  # None: killed from outside, mid-pipeline
    rerun: bool  # the killed try's LM call is made again by the next worker


MOMENTS = [
    Moment("claimed, pipeline not started", "job.claimed@3", rerun=False),
    Moment("mid-pipeline", None, rerun=True),
    Moment("inside the result's transaction", "job.complete.uncommitted@3", rerun=True),
    Moment("result stored, nothing else", "job.completed@3", rerun=False),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=[m.name for m in MOMENTS])
async def test_a_worker_killed_at_any_moment_loses_no_job_and_repeats_no_message(
    moment: Moment, tmp_path: Path
) -> None:
    async with (
        fresh_postgres("bhiv_wcrash") as url,
        BotAPIEmulator(token="778400:worker-crash") as emulator,
        FakeLM(latency_s=0.3) as lm,
    ):
        bot = BotProcess(emulator, url, tmp_path / "bot.log", {"WORKER_CONCURRENCY": "0"})
        bot.extra_env["TELEGRAM_MAX_SENDS_PER_S"] = "0"
        worker_env = {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": "2", "JOB_LEASE_S": "30"}
        doomed = BotProcess(
            emulator,
            url,
            tmp_path / "worker-a.log",
            worker_env | ({"BHIV_FAILPOINTS": moment.failpoint} if moment.failpoint else {}),
            command="worker",
        )
        rescuer = BotProcess(emulator, url, tmp_path / "worker-b.log", worker_env, command="worker")
        users = [emulator.user(320_000 + n, f"User{n}") for n in range(SCRIPTS)]
        ids = [user.id for user in users]
        try:
            await bot.start()
            await eventually(lambda: emulator.calls_to("setMyCommands"), 30)
            for user in users:
                await user.send_text(f"Script {user.id} opens on a quiet street\nThe end")
            await eventually(lambda: all(tally(emulator, ids, is_ack).values()), 30)
            await doomed.start()
            assert doomed.process is not None
            if moment.failpoint is None:
                await eventually(lambda: len(lm.requests) >= 5, 30)  # its third and fourth jobs are in the LM
                await doomed.kill()
            else:
                await asyncio.wait_for(doomed.process.wait(), 30)  # the failpoint killed it
            calls_before = len(lm.requests)
            await rescuer.start()
            await eventually(lambda: all(tally(emulator, ids, is_document).values()), 60)
            await asyncio.sleep(1.0)  # a late duplicate would show up now
        finally:
            await asyncio.gather(bot.stop(), doomed.stop(), rescuer.stop())
        rows = await job_states(url)

    calls = Counter(int(m.group(1)) for r in lm.requests if (m := SCRIPT_ID.search(r.message("user"))))
    acks, results, files = (tally(emulator, ids, p) for p in (is_ack, is_result, is_document))
    again = sum(n - 1 for n in calls.values())
    print(
        f"\nworker crash, {moment.name}: LM calls {sum(calls.values())} for {SCRIPTS} jobs ({again} made again; "
        f"{calls_before} before the kill); attempts {sorted(Counter(a for _, a in rows.values()).items())}"
    )
    assert set(acks.values()) == set(results.values()) == set(files.values()) == {1}
    assert {status for status, _ in rows.values()} == {"done"}
    assert sorted(calls) == ids
    held = sum(attempts == 2 for _, attempts in rows.values())  # what the killed worker had in hand: run again
    assert set(Counter(a for _, a in rows.values())) <= {1, 2}
    if moment.rerun:  # the LM calls of the jobs in hand were made, and are made again
        assert 1 <= again <= held <= 2
    elif moment.failpoint == "job.claimed@3":  # the job it had just claimed had made no call yet
        assert 1 <= held <= 2 and again <= held - 1
    else:  # its result was stored: not run again; only the other job in hand is
        assert held <= 1 and again <= held
    if "SIGKILL" in (doomed.log() if moment.failpoint else ""):
        assert f"failpoint {moment.failpoint.split('@')[0]}" in doomed.log()  # type: ignore[union-attr]
    for process in (bot, rescuer):
        assert "Traceback" not in process.log(), process.log_path.name


async def test_a_job_that_kills_every_worker_fails_after_job_max_attempts_with_a_message(tmp_path: Path) -> None:
    async with (
        fresh_postgres("bhiv_poison") as url,
        BotAPIEmulator(token="778401:poison") as emulator,
        FakeLM(latency_s=0.1) as lm,
    ):
        bot = BotProcess(emulator, url, tmp_path / "bot.log", {"WORKER_CONCURRENCY": "0", "JOB_MAX_ATTEMPTS": "2"})
        env = {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": "1", "JOB_MAX_ATTEMPTS": "2", "JOB_LEASE_S": "2"}
        user = emulator.user(330_001, "Poison")
        try:
            await bot.start()
            await eventually(lambda: emulator.calls_to("setMyCommands"), 30)
            await user.send_text("Script 330001 opens with a scene that brings workers down\nThe end")
            await user.chat.wait_for(is_ack, timeout_s=30)
            for n in range(2):  # each worker dies as soon as it holds the job
                victim = BotProcess(
                    emulator, url, tmp_path / f"victim-{n}.log", env | {"BHIV_FAILPOINTS": "job.claimed"}, "worker"
                )
                await victim.start()
                assert victim.process is not None
                await asyncio.wait_for(victim.process.wait(), 30)
            survivor = BotProcess(emulator, url, tmp_path / "survivor.log", env, command="worker")
            await survivor.start()
            failure = await user.chat.wait_for(
                lambda m: bool(m.text and "stopped the worker several times" in m.text), timeout_s=30
            )
        finally:
            await bot.stop()
            await survivor.stop()
        rows = await job_states(url)

    assert failure is not None
    assert [status for status, _ in rows.values()] == ["failed"]
    assert lm.requests == []  # it never got as far as the LM
    assert not any(is_result(m) for m in user.chat.bot_messages)


async def test_a_worker_cut_off_past_its_lease_is_replaced_and_its_late_results_are_dropped(tmp_path: Path) -> None:
    """SIGSTOP freezes a worker mid-job, as a lost network or a stalled machine would: its process is alive, so
    nobody may take its jobs before their lease runs out; then another worker does. Thawed, the first one finishes
    its LM calls, and the queue refuses their results: each user gets one."""
    async with (
        fresh_postgres("bhiv_wstop") as url,
        BotAPIEmulator(token="778402:worker-stop") as emulator,
        FakeLM(latency_s=0.5) as lm,
    ):
        bot = BotProcess(emulator, url, tmp_path / "bot.log", {"WORKER_CONCURRENCY": "0"})
        env = {"LM_BASE_URL": lm.base_url, "WORKER_CONCURRENCY": "2", "JOB_LEASE_S": "3"}
        frozen = BotProcess(emulator, url, tmp_path / "worker-a.log", env, command="worker")
        other = BotProcess(emulator, url, tmp_path / "worker-b.log", env, command="worker")
        users = [emulator.user(340_000 + n, f"User{n}") for n in range(2)]
        ids = [user.id for user in users]
        try:
            await asyncio.gather(bot.start(), frozen.start())
            await eventually(lambda: "is up" in frozen.log(), 30)
            for user in users:
                await user.send_text(f"Script {user.id} opens on a quiet street\nThe end")
            await eventually(lambda: len(lm.requests) == 2, 30)  # both jobs in the LM
            assert frozen.process is not None
            frozen.process.send_signal(signal.SIGSTOP)
            await other.start()
            await eventually(lambda: all(tally(emulator, ids, is_document).values()), 30)
            taken_over = lm.requests[2:]
            frozen.process.send_signal(signal.SIGCONT)
            dropped = ("no longer ours", "cancelled or taken back")  # at its result, or at its next lease renewal
            await eventually(lambda: sum(frozen.log().count(line) for line in dropped) == 2, 15)
            await asyncio.sleep(1.0)
        finally:
            if frozen.process is not None and frozen.process.returncode is None:
                frozen.process.send_signal(signal.SIGCONT)
            await asyncio.gather(bot.stop(), frozen.stop(), other.stop())
        rows = await job_states(url)

    assert len(taken_over) == 2  # run again, by the other worker
    assert set(tally(emulator, ids, is_result).values()) == {1}
    assert sorted(rows.values()) == [("done", 2), ("done", 2)]
