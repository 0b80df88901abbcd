"""The words a user reads for what core reports as codes: rejections, quotas, job states and failures.

Each takes the user's ``Texts`` as ``t`` (English when none is given: the CLI, the demo and the tests that read
English).
"""

from __future__ import annotations

from bot.i18n import ENGLISH, N_, Texts
from core.errors import Quota, QuotaExceededError, RejectReason, ScriptRejectedError
from core.types import FailureCode, JobKind, JobRecord

SEND_TEXT = N_("Send me a script as a text message or a .txt, .md or .fountain file: one line per scene.")
BINARY_HINT = N_("That looks like a binary file, not a script. Please send plain text (.txt, .md or .fountain).")
SOMETHING_WRONG = N_("Something went wrong.")

FAILURES: dict[FailureCode, str] = {
    FailureCode.PIPELINE: N_(
        "Something went wrong on our side while making this storyboard. Please send the script again."
    ),
    FailureCode.INPUT_GONE: N_("The storyboard this was to improve is gone, so it could not be improved."),
    FailureCode.WORKER_CRASHES: N_("This script stopped the worker several times, so it was set aside."),
    FailureCode.RECIPIENT_GONE: N_("The chat was closed before the job started."),
}
IMPROVEMENT_FAILED = N_(
    "Something went wrong on our side while improving this storyboard. Rate it again to ask once more."
)


def failure_text(job: JobRecord, *, t: Texts = ENGLISH) -> str:
    if job.error is None:
        return t(SOMETHING_WRONG)
    if job.error == FailureCode.PIPELINE and job.kind == JobKind.IMPROVE:
        return t(IMPROVEMENT_FAILED)
    return t(FAILURES.get(job.error, SOMETHING_WRONG))


def rejection_text(exc: ScriptRejectedError, *, t: Texts = ENGLISH) -> str:
    reason, size, limit = exc.reason, exc.size or 0, exc.limit
    if reason == RejectReason.EMPTY:
        return t("The script is empty. Please send some text: one line per scene.")
    if reason == RejectReason.TOO_LONG:
        return t.plural(
            "The script is {n} character long; the limit is {limit}. Please send a shorter one.",
            "The script is {n} characters long; the limit is {limit}. Please send a shorter one.",
            size,
            n=format(size, ","),
            limit=format(limit or 0, ","),
        )
    if reason == RejectReason.TOO_MANY_SCENES:
        return t.plural(
            "The script makes {n} scene; a storyboard holds at most {limit}. Please split it.",
            "The script makes {n} scenes; a storyboard holds at most {limit}. Please split it.",
            size,
            limit=limit,
        )
    if reason == RejectReason.UNDECODABLE:
        return t(
            "I could not read that file as text. Please save it as UTF-8 (or UTF-16 with a BOM) and send it again."
        )
    if reason == RejectReason.BINARY:
        return t(BINARY_HINT)
    return t.plural(
        "Your note is {n} character; the limit is {limit}. Please reply to my question again with a shorter one.",
        "Your note is {n} characters; the limit is {limit}. Please reply to my question again with a shorter one.",
        size,
        limit=limit,
    )


def quota_text(exc: QuotaExceededError, *, t: Texts = ENGLISH) -> str:
    if exc.quota == Quota.ACTIVE_JOBS:
        return t.plural(
            "You already have {n} storyboard in the works; the limit is {limit}. "
            "Please wait for one to finish (see /jobs).",
            "You already have {n} storyboards in the works; the limit is {limit}. "
            "Please wait for one to finish (see /jobs).",
            exc.count,
            limit=exc.limit,
        )
    wait = minutes(exc.retry_after_s or 60, t=t)  # not inside t.plural(...): pybabel would take its t for a message
    return t.plural(
        "You have sent {n} script in the last hour; the limit is {limit}. Please try again in {minutes}.",
        "You have sent {n} scripts in the last hour; the limit is {limit}. Please try again in {minutes}.",
        exc.count,
        limit=exc.limit,
        minutes=wait,
    )


def refusal_text(exc: ScriptRejectedError | QuotaExceededError, *, t: Texts = ENGLISH) -> str:
    return rejection_text(exc, t=t) if isinstance(exc, ScriptRejectedError) else quota_text(exc, t=t)


def minutes(seconds: float, *, t: Texts = ENGLISH) -> str:
    """How long to wait, as it follows "try again in" (Russian: "через 5 минут")."""
    count = max(1, round(seconds / 60))
    return t.plural("{n} minute", "{n} minutes", count)
