"""Ratings, comments and the improvement they trigger; and the numbers an admin asks for."""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clock import Clock, SystemClock
from core.errors import JobNotFoundError, ScriptRejectedError
from core.jobs import JobService
from core.sentiment import sentiment
from core.types import FeedbackRecord, JobRecord, PromptRecord, Submitted, VersionRecord
from storage import jobs as job_queries
from storage import ratings as rating_queries
from storage import stats as stats_queries
from storage.engine import read_only

logger = logging.getLogger(__name__)

LOW_RATING = 2  # this or lower asks what should change, then improves
MAX_COMMENT_CHARS = 500
PROMPT_WAITS_S = 15 * 60  # a one-line message this soon after "what should change?" is taken as the answer
STATS_WINDOW = 1000  # pipeline times are taken over the newest versions


@dataclass(frozen=True, slots=True)
class Rated:
    feedback: FeedbackRecord
    version: VersionRecord
    previous: int | None  # the rating this one replaced
    open_prompt: PromptRecord | None  # a "what should change?" still waiting for its answer

    @property
    def wants_comment(self) -> bool:
        return self.feedback.rating <= LOW_RATING


@dataclass(frozen=True, slots=True)
class Prompt:
    """A "what should change?" message, its feedback, and the improvement it led to (None: unanswered)."""

    record: PromptRecord
    feedback: FeedbackRecord
    answered_by: JobRecord | None


@dataclass(frozen=True, slots=True)
class Stats:
    jobs_by_status: dict[str, int]
    ratings: dict[int, int]
    methods: dict[str, int]
    median_ms: float | None
    p95_ms: float | None

    @property
    def average_rating(self) -> float | None:
        total = sum(self.ratings.values())
        return sum(r * n for r, n in self.ratings.items()) / total if total else None

    @property
    def lm_share(self) -> float | None:
        total = sum(self.methods.values())
        return self.methods.get("lm", 0) / total if total else None


class FeedbackService:
    def __init__(self, engine: AsyncEngine, jobs: JobService, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.reader = read_only(engine)  # reads take no write lock on SQLite
        self.jobs = jobs
        self.clock = clock or SystemClock()

    async def rate(self, *, user_id: int, version_id: int, rating: int) -> Rated:
        """Record (or change) the user's rating of their own version; one row per user and version."""
        if not 1 <= rating <= 5:
            raise ValueError(f"rating {rating} is not 1..5")
        async with self.engine.begin() as conn:
            version = await job_queries.get_version(conn, version_id)
            job = await job_queries.get_job(conn, version.job_id) if version else None
            if version is None or job is None or job.user_id != user_id:
                raise JobNotFoundError(f"version {version_id}")
            row, previous = await rating_queries.upsert_rating(
                conn, user_id=user_id, version_id=version_id, rating=rating, now=self.clock.now()
            )
            latest = await rating_queries.latest_prompt(conn, row.id)
            answered = await job_queries.find_job_by_request(conn, improve_key(latest)) if latest else None
        logger.info("user %s rated version %s: %s (was %s)", user_id, version_id, rating, previous)
        return Rated(row, version, previous, latest if latest and answered is None else None)

    async def get(self, feedback_id: int) -> FeedbackRecord | None:
        async with self.reader.connect() as conn:
            return await rating_queries.get_feedback(conn, feedback_id)

    async def attach_prompt(self, feedback_id: int, *, chat_id: int, message_id: int) -> PromptRecord:
        """Remember a "what should change?" message, so a reply to it can be matched."""
        async with self.engine.begin() as conn:
            return await rating_queries.add_prompt(
                conn, feedback_id=feedback_id, chat_id=chat_id, message_id=message_id, now=self.clock.now()
            )

    async def find_prompt(self, *, user_id: int, chat_id: int, message_id: int) -> Prompt | None:
        """The user's own prompt that ``message_id`` is, or None."""
        async with self.reader.connect() as conn:
            record = await rating_queries.find_prompt(conn, chat_id=chat_id, message_id=message_id)
            return await self._prompt(conn, record, user_id) if record else None

    async def waiting_prompt(self, *, user_id: int, chat_id: int) -> Prompt | None:
        """The user's unanswered question in this chat, if it was asked within PROMPT_WAITS_S."""
        since = self.clock.now() - timedelta(seconds=PROMPT_WAITS_S)
        async with self.reader.connect() as conn:
            record = await rating_queries.latest_prompt_in_chat(conn, user_id=user_id, chat_id=chat_id, since=since)
            prompt = await self._prompt(conn, record, user_id) if record else None
        return prompt if prompt is not None and prompt.answered_by is None else None

    async def latest_prompt(self, *, user_id: int, feedback_id: int) -> Prompt | None:
        """The newest prompt of the user's own feedback (for Skip), or None."""
        async with self.reader.connect() as conn:
            record = await rating_queries.latest_prompt(conn, feedback_id)
            return await self._prompt(conn, record, user_id) if record else None

    async def _prompt(self, conn: AsyncConnection, record: PromptRecord, user_id: int) -> Prompt | None:
        feedback = await rating_queries.get_feedback(conn, record.feedback_id)
        if feedback is None or feedback.user_id != user_id:
            return None
        return Prompt(record, feedback, await job_queries.find_job_by_request(conn, improve_key(record)))

    async def improve(self, prompt: Prompt, *, comment: str | None, chat_id: int, reply_to: int | None) -> Submitted:
        """Store the comment (None for Skip) with its sentiment, and queue the improved version: once per prompt."""
        if prompt.answered_by is not None:
            return Submitted(prompt.answered_by, False, None)
        if comment is not None:
            comment = comment.strip()
            if len(comment) > MAX_COMMENT_CHARS:
                raise ScriptRejectedError(
                    f"Your note is {len(comment)} characters; the limit is {MAX_COMMENT_CHARS}. "
                    "Please reply to my question again with a shorter one."
                )
        feedback = prompt.feedback
        async with self.engine.begin() as conn:
            updated = await rating_queries.set_comment(
                conn,
                feedback.id,
                comment=comment or None,
                sentiment=sentiment(feedback.rating, comment),
                now=self.clock.now(),
            )
            version = await job_queries.get_version(conn, feedback.version_id)
        if version is None:
            raise JobNotFoundError(f"version {feedback.version_id}")
        return await self.jobs.submit_improvement(
            user_id=updated.user_id,
            feedback_id=updated.id,
            version=version,
            chat_id=chat_id,
            request_key=improve_key(prompt.record),
            reply_to=reply_to,
        )

    async def stats(self) -> Stats:
        async with self.reader.connect() as conn:
            by_status = await stats_queries.jobs_by_status(conn)
            ratings = await stats_queries.rating_distribution(conn)
            methods = await stats_queries.versions_by_method(conn)
            times = await stats_queries.recent_pipeline_ms(conn, limit=STATS_WINDOW)
        return Stats(by_status, ratings, methods, _median(times), _p95(times))


def improve_key(prompt: PromptRecord) -> str:
    """The idempotency key of the improvement a prompt leads to: one per prompt, whether by note or Skip."""
    return f"improve:prompt:{prompt.id}"


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _p95(values: list[int]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=20, method="inclusive")[-1])
