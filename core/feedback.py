"""Ratings, comments and the improvement they trigger; and the numbers an admin asks for."""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from core.clock import Clock
from core.errors import JobNotFoundError, RejectReason, ScriptRejectedError
from core.intake import Intake
from core.sentiment import sentiment
from core.types import FeedbackRecord, JobRecord, PromptRecord, Submitted, VersionRecord
from storage import jobs as job_queries
from storage import ratings as rating_queries
from storage import stats as stats_queries
from storage.db import Database

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
    """Ratings and notes of one bot's users (``intake.bot_id`` scopes its prompts)."""

    def __init__(self, db: Database, intake: Intake, *, clock: Clock) -> None:
        self.db = db
        self.intake = intake
        self.bot_id = intake.bot_id
        self.clock = clock

    async def rate(self, *, user_id: int, version_id: int, rating: int) -> Rated:
        """Record (or change) the user's rating of their own version; one row per user and version."""
        if not 1 <= rating <= 5:
            raise ValueError(f"rating {rating} is not 1..5")
        rated = await self.db.write(_rate, user_id, version_id, rating, self.clock.now())
        logger.info("user %s rated version %s: %s (was %s)", user_id, version_id, rating, rated.previous)
        return rated

    async def get(self, feedback_id: int) -> FeedbackRecord | None:
        return await self.db.read(rating_queries.get_feedback, feedback_id)

    async def attach_prompt(self, feedback_id: int, *, chat_id: int, message_id: int) -> PromptRecord:
        """Remember a "what should change?" message, so a reply to it can be matched."""
        return await self.db.write(
            rating_queries.add_prompt,
            bot_id=self.bot_id,
            feedback_id=feedback_id,
            chat_id=chat_id,
            message_id=message_id,
            now=self.clock.now(),
        )

    async def find_prompt(self, *, user_id: int, chat_id: int, message_id: int) -> Prompt | None:
        """The user's own prompt that ``message_id`` is, or None."""
        return await self.db.read(_find_prompt, self.bot_id, user_id, chat_id, message_id)

    async def waiting_prompt(self, *, user_id: int, chat_id: int) -> Prompt | None:
        """The user's unanswered question in this chat, if it was asked within PROMPT_WAITS_S."""
        since = self.clock.now() - timedelta(seconds=PROMPT_WAITS_S)
        prompt = await self.db.read(_waiting_prompt, self.bot_id, user_id, chat_id, since)
        return prompt if prompt is not None and prompt.answered_by is None else None

    async def latest_prompt(self, *, user_id: int, feedback_id: int) -> Prompt | None:
        """The newest prompt of the user's own feedback (for Skip), or None."""
        return await self.db.read(_latest_prompt, user_id, feedback_id)

    async def improve(
        self,
        prompt: Prompt,
        *,
        comment: str | None,
        chat_id: int,
        reply_to: int | None,
        update_ids: tuple[int, ...] = (),
        language: str | None = None,
    ) -> Submitted:
        """Store the comment (None for Skip) with its sentiment, and queue the improved version: once per prompt.
        ``language``: the locale the improvement's messages are said in (None: English)."""
        if prompt.answered_by is not None:
            return Submitted(prompt.answered_by, False, None)
        if comment is not None:
            comment = comment.strip()
            if len(comment) > MAX_COMMENT_CHARS:
                raise ScriptRejectedError(RejectReason.NOTE_TOO_LONG, size=len(comment), limit=MAX_COMMENT_CHARS)
        feedback = prompt.feedback
        updated, version = await self.db.write(
            _set_comment,
            feedback.id,
            feedback.version_id,
            comment or None,
            sentiment(feedback.rating, comment),
            self.clock.now(),
        )
        if version is None:
            raise JobNotFoundError(f"version {feedback.version_id}")
        return await self.intake.submit_improvement(
            user_id=updated.user_id,
            feedback_id=updated.id,
            version=version,
            chat_id=chat_id,
            request_key=improve_key(prompt.record),
            reply_to=reply_to,
            update_ids=update_ids,
            language=language,
        )

    async def stats(self) -> Stats:
        by_status, ratings, methods, times = await self.db.read(_stats)
        return Stats(by_status, ratings, methods, _median(times), _p95(times))


# -- transactions ----------------------------------------------------------------------------------------------


def _rate(conn: Connection, user_id: int, version_id: int, rating: int, now: datetime) -> Rated:
    version = job_queries.get_version(conn, version_id)
    job = job_queries.get_job(conn, version.job_id) if version else None
    if version is None or job is None or job.user_id != user_id:
        raise JobNotFoundError(f"version {version_id}")
    row, previous = rating_queries.upsert_rating(conn, user_id=user_id, version_id=version_id, rating=rating, now=now)
    latest = rating_queries.latest_prompt(conn, row.id)
    answered = job_queries.find_job_by_request(conn, improve_key(latest)) if latest else None
    return Rated(row, version, previous, latest if latest and answered is None else None)


def _prompt(conn: Connection, record: PromptRecord | None, user_id: int) -> Prompt | None:
    if record is None:
        return None
    feedback = rating_queries.get_feedback(conn, record.feedback_id)
    if feedback is None or feedback.user_id != user_id:
        return None
    return Prompt(record, feedback, job_queries.find_job_by_request(conn, improve_key(record)))


def _find_prompt(conn: Connection, bot_id: int, user_id: int, chat_id: int, message_id: int) -> Prompt | None:
    return _prompt(
        conn, rating_queries.find_prompt(conn, bot_id=bot_id, chat_id=chat_id, message_id=message_id), user_id
    )


def _waiting_prompt(conn: Connection, bot_id: int, user_id: int, chat_id: int, since: datetime) -> Prompt | None:
    record = rating_queries.latest_prompt_in_chat(conn, bot_id=bot_id, user_id=user_id, chat_id=chat_id, since=since)
    return _prompt(conn, record, user_id)


def _latest_prompt(conn: Connection, user_id: int, feedback_id: int) -> Prompt | None:
    return _prompt(conn, rating_queries.latest_prompt(conn, feedback_id), user_id)


def _set_comment(
    conn: Connection, feedback_id: int, version_id: int, comment: str | None, score: float, now: datetime
) -> tuple[FeedbackRecord, VersionRecord | None]:
    updated = rating_queries.set_comment(conn, feedback_id, comment=comment, sentiment=score, now=now)
    return updated, job_queries.get_version(conn, version_id)


def _stats(conn: Connection) -> tuple[dict[str, int], dict[int, int], dict[str, int], list[int]]:
    return (
        stats_queries.jobs_by_status(conn),
        stats_queries.rating_distribution(conn),
        stats_queries.versions_by_method(conn),
        stats_queries.recent_pipeline_ms(conn, limit=STATS_WINDOW),
    )


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
