"""The worker pool: N asyncio workers claim jobs with a lease and run the pipeline.

Policy sits next to the loop that applies it:
- a worker renews its job's lease every lease/3 s while the pipeline runs; a renewal refused (the job was
  cancelled, or its lease expired and another worker took it) stops the pipeline and drops the result;
- an exception in the pipeline is a failed attempt: retried with backoff, then the job fails (JobQueue.fail);
- every job's final bookkeeping is shielded from cancellation, retried through a lost database connection,
  and waited for (bounded) by stop();
- stop(): no new claims, in-flight jobs get ``shutdown_grace_s`` to finish, the rest are released to the queue;
- a reaper puts jobs of dead workers (expired leases) back in the queue, at start and every lease/2 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from core import failpoints, owners
from core.errors import JobInputGoneError, retrying_db_errors
from core.metrics import JOB_WAIT_SECONDS, JOBS_IN_HAND, PIPELINE_SECONDS
from core.pipeline import Pipeline
from core.queries import JobQueries
from core.queue import JobQueue
from core.renderer import RenderedVideo, Renderer
from core.revision import Revision
from core.settings import JobSettings
from core.storyboard import Storyboard
from core.types import JobRecord
from core.wakeups import Wakeups
from storage.states import FailureCode

logger = logging.getLogger(__name__)

DB_ERROR_BACKOFF_S = 1.0
LISTENING_POLL_S = 5.0
WORKING_NOTE_S = 5.0  # a job running longer has its ack edited to "working"; a quicker one needs no edit
BOOKKEEPING_TIMEOUT_S = 5.0
BOOKKEEPING_RETRY_DELAYS_S = (0.2, 0.5, 1.0)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Produced:
    storyboard: Storyboard
    video: RenderedVideo | None
    revision: Revision | None = None


class WorkerPool:
    def __init__(
        self,
        queue: JobQueue,
        queries: JobQueries,
        pipeline: Pipeline,
        settings: JobSettings,
        *,
        wakeups: Wakeups,
        name: str | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.renderer = renderer  # None: RENDER_VIDEO=false
        self.queue = queue
        self.queries = queries
        self.wakeups = wakeups
        self.pipeline = pipeline
        self.settings = settings
        # jobs.worker_id holds 64 characters: "<process name>/<index>" (core.owners keeps the name short)
        self.name = (name or owners.this_process())[:56]
        self._tasks: list[asyncio.Task[None]] = []
        self._reaper: asyncio.Task[None] | None = None
        self._stopping = False
        self._burst = False
        self.in_flight: dict[str, JobRecord] = {}
        self._bookkeeping: set[asyncio.Task[object]] = set()

    @property
    def heartbeat_s(self) -> float:
        return self.settings.job_lease_s / 3

    @property
    def idle_poll_s(self) -> float:
        """How long an idle worker waits for a wake-up before it looks anyway: the poll is the safety net
        while other processes' wake-ups reach this one, the only way while they do not (SQLite)."""
        poll_s = self.settings.job_poll_interval_s
        return max(poll_s, LISTENING_POLL_S) if self.wakeups.listening else poll_s

    @property
    def alive(self) -> int:
        return sum(not task.done() for task in self._tasks)

    async def start(self) -> None:
        await self.queue.reap()
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._worker(f"{self.name}/{index}"), name=f"worker-{index}")
            for index in range(self.settings.worker_concurrency)
        ]
        self._reaper = asyncio.create_task(self._reap(), name="lease-reaper")
        logger.info("started %d workers (%s)", len(self._tasks), self.name)

    async def run_burst(self) -> None:
        """Run the workers until no job is claimable, then return (tests and one-shot runs)."""
        self._burst = True
        await self.queue.reap()
        workers = [self._worker(f"{self.name}/{index}") for index in range(self.settings.worker_concurrency)]
        await asyncio.gather(*workers)

    async def stop(self, *, grace_s: float | None = None) -> None:
        grace_s = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self._stopping = True
        self.wakeups.jobs_added(len(self._tasks))  # idle workers see _stopping now, not at their next poll
        if self._reaper is not None:
            self._reaper.cancel()
        tasks = [task for task in self._tasks if not task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._reaper is not None:
            await asyncio.gather(self._reaper, return_exceptions=True)
        if self._bookkeeping:  # results, failures and releases being written: let them land
            _, late = await asyncio.wait(self._bookkeeping, timeout=BOOKKEEPING_TIMEOUT_S)
            if late:
                logger.warning("%d job record(s) not written at shutdown; their leases will expire", len(late))
        self._tasks = []
        logger.info("workers stopped")

    async def _worker(self, worker_id: str) -> None:
        while not self._stopping:
            try:
                job = await self.queue.claim(worker_id)
            except Exception:
                logger.exception("worker %s: claim failed; retrying in %.0f s", worker_id, DB_ERROR_BACKOFF_S)
                await asyncio.sleep(DB_ERROR_BACKOFF_S)
                continue
            if job is None:
                if self._burst:
                    return
                await self.wakeups.wait_for_jobs(self.idle_poll_s)
                continue
            await self.wakeups.job_taken()
            JOB_WAIT_SECONDS.labels(job.kind).observe(max(0.0, (job.updated_at - job.available_at).total_seconds()))
            self.in_flight[job.id] = job
            JOBS_IN_HAND.set(len(self.in_flight))
            failpoints.reached("job.claimed")  # held, its pipeline not started
            try:
                await self._run(job, worker_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The bookkeeping itself failed (database down): the lease will expire and the job return.
                logger.exception("job %s: could not record the outcome; its lease will expire", job.id)
                await asyncio.sleep(DB_ERROR_BACKOFF_S)
            finally:
                self.in_flight.pop(job.id, None)
                JOBS_IN_HAND.set(len(self.in_flight))

    async def _run(self, job: JobRecord, worker_id: str) -> None:
        started = time.monotonic()
        work = asyncio.create_task(self._produce(job), name=f"job-{job.id}")
        try:
            if not await self._watch(job, worker_id, work):
                return
            result = work.result()
        except asyncio.CancelledError:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            await self._record(lambda: self.queue.release(job, worker_id))
            raise
        except JobInputGoneError as exc:  # its input is gone (a deleted version): trying again cannot help
            logger.warning("job %s cannot run: %s", job.id, exc)
            reason = str(exc)  # the lambda may run again after this block, when exc is gone
            await self._record(
                lambda: self.queue.fail(job, worker_id, code=FailureCode.INPUT_GONE, reason=reason, retryable=False)
            )
            return
        except Exception as exc:
            logger.warning("job %s: pipeline error %r", job.id, exc)
            reason = repr(exc)
            await self._record(
                lambda: self.queue.fail(job, worker_id, code=FailureCode.PIPELINE, reason=reason, retryable=True)
            )
            return
        elapsed_s = time.monotonic() - started
        PIPELINE_SECONDS.labels(job.kind, result.storyboard.generation_method).observe(elapsed_s)
        pipeline_ms = round(elapsed_s * 1000)
        await self._record(
            lambda: self.queue.complete(
                job, worker_id, result.storyboard, pipeline_ms=pipeline_ms, video=result.video, revision=result.revision
            )
        )

    async def _record(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a job's final bookkeeping shielded from cancellation, where stop() can wait for it, retrying a
        lost database connection: the result is in hand, and waiting out the lease would run the pipeline
        again. Each step is one transaction that checks the job is still ours, so repeating a step whose
        commit did land changes nothing."""
        task: asyncio.Task[T] = asyncio.ensure_future(
            retrying_db_errors(step, BOOKKEEPING_RETRY_DELAYS_S, what="writing a job's outcome")
        )
        self._bookkeeping.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._bookkeeping.discard)  # type: ignore[arg-type]
        return await asyncio.shield(task)

    async def _watch(self, job: JobRecord, worker_id: str, work: asyncio.Task[Produced]) -> bool:
        """Renew the lease while ``work`` runs; False (and ``work`` cancelled) if the job stopped being ours. A job
        still running after WORKING_NOTE_S has its ack edited to "working" (a quicker one needs no edit)."""
        loop = asyncio.get_running_loop()
        started = last_beat = loop.time()
        noted = False
        while True:
            wake_at = (
                last_beat + self.heartbeat_s if noted else min(last_beat + self.heartbeat_s, started + WORKING_NOTE_S)
            )
            done, _ = await asyncio.wait({work}, timeout=max(0.0, wake_at - loop.time()))
            if done:
                return True
            if not noted and loop.time() >= started + WORKING_NOTE_S:
                noted = True
                try:
                    await self.queue.note_working(job, worker_id)
                except Exception:
                    logger.warning("job %s: could not queue its working note", job.id, exc_info=True)
                if loop.time() < last_beat + self.heartbeat_s:
                    continue
            last_beat = loop.time()
            try:
                still_ours = await self.queue.heartbeat(job, worker_id, stage="generating")
            except Exception:
                logger.warning("job %s: lease renewal failed; trying again", job.id, exc_info=True)
                continue
            if not still_ours:
                logger.info("job %s: cancelled or taken back; stopping its pipeline", job.id)
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                return False

    async def _produce(self, job: JobRecord) -> Produced:
        """The storyboard, then its video (unless RENDER_VIDEO=false): both under the job's lease."""
        inputs = await self.queries.inputs(job)
        if inputs.parent is not None:
            result = await self.pipeline.improve(
                inputs.parent, rating=inputs.rating or 3, comment=inputs.comment, job_id=job.id
            )
        else:
            result = await self.pipeline.generate(inputs.script_text, file_name=inputs.file_name, job_id=job.id)
        video = None
        if self.renderer is not None:
            video = await self.renderer.render(result.storyboard, job_id=job.id)
        return Produced(result.storyboard, video, result.revision)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_lease_s / 2)
            try:
                await self.queue.reap(spare=self.name)
            except Exception:
                logger.warning("lease reaper failed; trying again later", exc_info=True)
