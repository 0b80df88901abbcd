"""The values the state columns hold, as types. A ``StrEnum`` member is its string, so rows and SQL need no
conversion; every module that reads or writes a status names it through these."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    GENERATE = "generate"
    IMPROVE = "improve"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class FailureCode(StrEnum):
    """Why a job ended without a storyboard (``jobs.error``); the words a user reads are the bot's."""

    PIPELINE = "pipeline"  # the pipeline failed on every attempt
    INPUT_GONE = "input_gone"  # what the job was to improve no longer exists
    WORKER_CRASHES = "worker_crashes"  # the job's worker died on it again and again
    RECIPIENT_GONE = "recipient_gone"  # the chat blocked the bot before the job started


class NotificationKind(StrEnum):
    ACK = "ack"  # "queued", replying to the script
    JOB_STATUS = "job_status"  # an edit of the ack to the job's current status
    JOB_FAILED = "job_failed"  # a message of its own: an edit makes no sound
    RESULT = "result"  # the storyboard's summary and rating buttons
    RESULT_FILE = "result_file"  # the storyboard as a JSON document


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DROPPED = "dropped"
