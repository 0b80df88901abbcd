"""The words a user reads for what core reports as codes: rejections, quotas, job states and failures."""

from __future__ import annotations

from core.errors import Quota, QuotaExceededError, RejectReason, ScriptRejectedError
from core.types import FailureCode, JobKind, JobRecord

SEND_TEXT = "Send me a script as a text message or a .txt, .md or .fountain file: one line per scene."
BINARY_HINT = "That looks like a binary file, not a script. Please send plain text (.txt, .md or .fountain)."

FAILURES: dict[FailureCode, str] = {
    FailureCode.PIPELINE: (
        "Something went wrong on our side while making this storyboard. Please send the script again."
    ),
    FailureCode.INPUT_GONE: "The storyboard this was to improve is gone, so it could not be improved.",
    FailureCode.WORKER_CRASHES: "This script stopped the worker several times, so it was set aside.",
    FailureCode.RECIPIENT_GONE: "The chat was closed before the job started.",
}
IMPROVEMENT_FAILED = "Something went wrong on our side while improving this storyboard. Rate it again to ask once more."


def failure_text(job: JobRecord) -> str:
    if job.error is None:
        return "Something went wrong."
    if job.error == FailureCode.PIPELINE and job.kind == JobKind.IMPROVE:
        return IMPROVEMENT_FAILED
    return FAILURES.get(job.error, "Something went wrong.")


def rejection_text(exc: ScriptRejectedError) -> str:
    reason = exc.reason
    if reason == RejectReason.EMPTY:
        return "The script is empty. Please send some text: one line per scene."
    if reason == RejectReason.TOO_LONG:
        return f"The script is {exc.size:,} characters long; the limit is {exc.limit:,}. Please send a shorter one."
    if reason == RejectReason.TOO_MANY_SCENES:
        return (
            f"The script has {exc.size} non-empty lines; a storyboard holds at most {exc.limit} scenes. "
            "Please split it."
        )
    if reason == RejectReason.UNDECODABLE:
        return "I could not read that file as text. Please save it as UTF-8 (or UTF-16 with a BOM) and send it again."
    if reason == RejectReason.BINARY:
        return BINARY_HINT
    return (
        f"Your note is {exc.size} characters; the limit is {exc.limit}. "
        "Please reply to my question again with a shorter one."
    )


def quota_text(exc: QuotaExceededError) -> str:
    if exc.quota == Quota.ACTIVE_JOBS:
        return (
            f"You already have {exc.count} storyboards in the works; the limit is {exc.limit}. "
            "Please wait for one to finish (see /jobs)."
        )
    return (
        f"You have sent {exc.count} scripts in the last hour; the limit is {exc.limit}. "
        f"Please try again in {minutes(exc.retry_after_s or 60)}."
    )


def refusal_text(exc: ScriptRejectedError | QuotaExceededError) -> str:
    return rejection_text(exc) if isinstance(exc, ScriptRejectedError) else quota_text(exc)


def minutes(seconds: float) -> str:
    count = max(1, round(seconds / 60))
    return f"{count} minute" + ("" if count == 1 else "s")
