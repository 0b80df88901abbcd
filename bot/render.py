"""Pure rendering: records -> Telegram HTML, every user-provided string escaped, every message within 4096.

Telegram counts a message's length after entity parsing, in UTF-16 code units; ``visible_length`` measures
exactly that, and builders stop adding lines before the limit.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.i18n import ENGLISH, N_, Texts
from bot.texts import failure_text
from core.feedback import MAX_COMMENT_CHARS, Stats
from core.improve import LONGEST_SCENE_S, SHORTEST_SCENE_S
from core.revision import Limit, Revision, parse_revision
from core.storyboard import Storyboard
from core.types import POSITION_CAP, JobKind, JobRecord, JobStatus, JobSummary, VersionRecord

if TYPE_CHECKING:
    from core.erase import DataCounts
    from core.queries import ScriptHistory

MAX_MESSAGE = 4096
MAX_CAPTION = 1024
CAPTION_BUDGET = 1000  # a caption's visible characters, all told: under Telegram's 1024 in every language
PREVIEW_BUDGET = 3800  # a result of its own: under 4096, with room to spare
SCENE_PREVIEW_CHARS = 160

STATUS_LINES = {
    JobStatus.QUEUED: N_("⏳ Queued"),
    JobStatus.RUNNING: N_("⚙️ Working on it…"),
    JobStatus.DONE: N_("✅ Done"),
    JobStatus.FAILED: N_("❌ Failed"),
    JobStatus.CANCELLED: N_("🚫 Cancelled"),
}
STATUS_NAMES = {
    JobStatus.QUEUED: N_("queued"),
    JobStatus.RUNNING: N_("running"),
    JobStatus.DONE: N_("done"),
    JobStatus.FAILED: N_("failed"),
    JobStatus.CANCELLED: N_("cancelled"),
}
METHOD_NAMES = {
    "lm": N_("the language model"),
    "local": N_("the built-in generator"),
    "local_fallback": N_("the built-in generator (the language model was unavailable)"),
    "local_heuristic": N_("the built-in improver"),
}
TITLE_SHOWN = 200
RESULT_TAIL_ROOM = 400  # a scene line (160 emoji are 320 UTF-16 units) and "… and N more": what a revision must leave
CHANGES_SHOWN = 6  # a revision names this many changes, then counts the rest
NOT_DONE_SHOWN = 3

_TAG = re.compile(r"<[^>]+>")


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def visible_length(html_text: str) -> int:
    """The length Telegram checks: tags removed, entities decoded, in UTF-16 code units."""
    plain = html.unescape(_TAG.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def human_size(n: int, *, t: Texts = ENGLISH) -> str:
    """1048576 -> "1 MB", 1536 -> "2 KB"."""
    if n >= 1024 * 1024:
        return t("{size} MB", size=format(n / 1024 / 1024, ".1f").removesuffix(".0"))
    return t("{size} KB", size=max(1, round(n / 1024)))


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def status_line(job: JobRecord, position: int | None = None, *, t: Texts = ENGLISH) -> str:
    if job.status == JobStatus.QUEUED and position is not None:
        if position > POSITION_CAP:
            line = t("⏳ Queued (more than {cap} ahead)", cap=POSITION_CAP)
        elif position > 1:
            line = t("⏳ Queued (position {position})", position=position)
        else:
            line = t("⏳ Queued (next up)")
    else:
        line = t(STATUS_LINES[job.status]) if job.status in STATUS_LINES else esc(job.status)
    if job.status == JobStatus.QUEUED and job.attempts > 0:
        line = t("{status}, retrying", status=line)
    if job.status == JobStatus.FAILED and job.error:
        line += f": {esc(failure_text(job, t=t))}"
    return line


def render_ack(job: JobRecord, position: int | None = None, *, t: Texts = ENGLISH) -> str:
    if job.kind == JobKind.IMPROVE:
        what = t("🎬 Improving your storyboard. Job <code>{job_id}</code>", job_id=job.id)
    else:
        what = t("🎬 Got your script. Job <code>{job_id}</code>", job_id=job.id)
    status = status_line(job, position, t=t)
    if job.status == JobStatus.DONE:
        status = t("{status}: the storyboard is below.", status=status)
    hint = (
        "\n" + t("Ask with /status {job_id} · cancel with /cancel {job_id}", job_id=job.id) if job.status.active else ""
    )
    return f"{what}\n{status}{hint}"


def render_status(job: JobRecord, position: int | None = None, *, t: Texts = ENGLISH) -> str:
    created = job.created_at.strftime("%Y-%m-%d %H:%M UTC")
    if job.kind == JobKind.IMPROVE:
        head = t("Job <code>{job_id}</code> (improvement, sent {created})", job_id=job.id, created=created)
    else:
        head = t("Job <code>{job_id}</code> (storyboard, sent {created})", job_id=job.id, created=created)
    return f"{head}\n{status_line(job, position, t=t)}"


def render_failed(job: JobRecord, *, t: Texts = ENGLISH) -> str:
    return t("❌ Job <code>{job_id}</code> failed. {reason}", job_id=job.id, reason=esc(failure_text(job, t=t)))


def render_result(
    job: JobRecord, version: VersionRecord, storyboard: Storyboard, *, budget: int | None = None, t: Texts = ENGLISH
) -> str:
    """The result's summary: a message of its own (``budget`` the 4096 of a text), or a video's caption (1024).
    ``budget`` counts the whole text: the scenes shown are as many as fit with the header and the closing lines."""
    budget = PREVIEW_BUDGET if budget is None else budget
    scenes = t.plural("{n} scene", "{n} scenes", storyboard.scene_count)
    method = METHOD_NAMES.get(storyboard.generation_method)
    made_by = t(method) if method else esc(storyboard.generation_method)
    revision = parse_revision(version.revision)
    header = (
        f"<b>{esc(shorten(storyboard.title, min(TITLE_SHOWN, budget // 8)))}</b>\n"
        + t(
            "Job <code>{job_id}</code> · version {version} · {scenes} · {duration} s",
            job_id=job.id,
            version=version.version,
            scenes=scenes,
            duration=format(storyboard.total_duration, "g"),
        )
        + "\n"
        + t("Made by {method}.", method=made_by)
        + "\n"
    )
    closing = "\n\n" + t("How did I do? Rate it:")
    if revision is not None:  # as many of its lines, most telling first, as leave room for a scene and the tail
        room = budget - visible_length(header) - visible_length(closing) - RESULT_TAIL_ROOM
        for line in revision_lines(revision, storyboard, t=t):
            if visible_length(line) + 1 > room:
                break
            header += line + "\n"
            room -= visible_length(line) + 1
    scene_lines = [
        f"{n}. <i>"
        + t("{start}–{end} s", start=format(scene.start_time, "g"), end=format(scene.start_time + scene.duration, "g"))
        + f"</i> {esc(shorten(scene.text, SCENE_PREVIEW_CHARS))}"
        for n, scene in enumerate(storyboard.scenes, start=1)
    ]
    shown = _fit(scene_lines, budget - visible_length(header) - visible_length(closing))
    while True:
        more = len(scene_lines) - len(shown)
        tail = (
            "\n" + t.plural("… and {n} more scene in the JSON file.", "… and {n} more scenes in the JSON file.", more)
            if more
            else ""
        )
        text = header + "\n".join(shown) + tail + closing
        if not shown or visible_length(text) <= budget:
            return text
        shown.pop()  # the tail took the room of the last scene


def render_not_found(job_id: str, t: Texts) -> str:
    """A job id the user named that is not one of theirs (or not at all): the same words for both."""
    return t(
        "I can't find job <code>{job_id}</code> among your jobs. /jobs lists them.", job_id=esc(shorten(job_id, 40))
    )


def revision_lines(revision: Revision, storyboard: Storyboard, *, t: Texts = ENGLISH) -> list[str]:
    """What an improvement changed, what of the note it did not do and why, most telling first: never "improved"
    over a copy."""
    lines = []
    if revision.unchanged:
        lines.append(t("⚠️ Nothing changed: this version is the same as the one you rated."))
    else:
        changes = _change_items(revision, t)
        shown = changes[:CHANGES_SHOWN]
        more = len(changes) - len(shown)
        if more:
            shown.append(t.plural("{n} more change", "{n} more changes", more))
        lines.append(t("✏️ What changed: {changes}.", changes="; ".join(shown)))
    if revision.not_followed:
        parts = "; ".join(f"“{esc(shorten(part, 80))}”" for part in revision.not_followed[:NOT_DONE_SHOWN])
        lines.append(t("Not done: {parts}.", parts=parts))
    lines.extend(_limit_line(limit, storyboard, t) for limit in revision.limits)
    if storyboard.generation_method == "local_heuristic" and (revision.unchanged or revision.not_followed):
        lines.append(
            t(
                "Without a language model I can change the timing (“faster”, “scene 3 longer”, “make it 30 "
                "seconds”) and a scene's picture (“scene 2: a close-up of the cup”)."
            )
        )
    return lines


def _change_items(revision: Revision, t: Texts) -> list[str]:
    items = []
    if revision.total_before != revision.total_after:
        items.append(
            t(
                "{before} → {after} s in all",
                before=format(revision.total_before, "g"),
                after=format(revision.total_after, "g"),
            )
        )
    for change in revision.changes:
        if change.duration_changed:
            items.append(
                t(
                    "scene {n}: {before} → {after} s",
                    n=change.scene,
                    before=format(change.duration_before, "g"),
                    after=format(change.duration_after, "g"),
                )
            )
        if change.visual_changed:
            items.append(t("scene {n}: a new picture note", n=change.scene))
    return items


def _limit_line(limit: Limit, storyboard: Storyboard, t: Texts) -> str:
    if limit is Limit.SHORTEST:
        return t("The scenes are as short as a scene can be ({seconds} s).", seconds=format(SHORTEST_SCENE_S, "g"))
    if limit is Limit.LONGEST:
        return t("The scenes are as long as a scene can be ({seconds} s).", seconds=format(LONGEST_SCENE_S, "g"))
    if limit is Limit.TARGET:
        return t("The length you asked for is more than these scenes can stretch or shrink to.")
    return t.plural(
        "This storyboard has only {n} scene.", "This storyboard has only {n} scenes.", storyboard.scene_count
    )


def render_prompt(*, t: Texts = ENGLISH) -> str:
    return t(
        "What should change? <b>Reply</b> with a note of up to {max_chars} characters "
        "(say, “faster”, “slower”, “the ending needs more time”), "
        "or tap <i>Skip</i> under the storyboard to improve it without one.",
        max_chars=MAX_COMMENT_CHARS,
    )


def render_stats(stats: Stats, *, t: Texts = ENGLISH) -> str:
    by_status = ", ".join(
        f"{t(STATUS_NAMES[JobStatus(status)]) if status in STATUS_NAMES else esc(status)} {n}"
        for status, n in sorted(stats.jobs_by_status.items())
    )
    distribution = " ".join(f"{r}★ {stats.ratings.get(r, 0)}" for r in range(1, 6))
    na = t("n/a")
    average = f"{stats.average_rating:.2f}" if stats.average_rating is not None else na
    share = f"{stats.lm_share:.0%}" if stats.lm_share is not None else na
    median = t("{ms} ms", ms=format(stats.median_ms, ".0f")) if stats.median_ms is not None else na
    p95 = t("{ms} ms", ms=format(stats.p95_ms, ".0f")) if stats.p95_ms is not None else na
    return "\n".join(
        [
            t("<b>bhiv-bot stats</b>"),
            t("Jobs: {by_status}", by_status=by_status or t("none")),
            t("Ratings: average {average}; {distribution}", average=average, distribution=distribution),
            t(
                "Made by the LM: {share} (fallbacks: {fallbacks})",
                share=share,
                fallbacks=stats.methods.get("local_fallback", 0),
            ),
            t("Pipeline time: median {median}, p95 {p95}", median=median, p95=p95),
        ]
    )


def _fit(lines: list[str], budget: int) -> list[str]:
    """As many whole lines as fit in ``budget`` visible characters."""
    shown: list[str] = []
    used = 0
    for line in lines:
        cost = visible_length(line) + 1
        if used + cost > budget:
            break
        shown.append(line)
        used += cost
    return shown


# -- /jobs, /version and /delete -------------------------------------------------------------------------------

JOB_NAME_CHARS = 60


def render_job_list(summaries: Iterable[JobSummary], t: Texts) -> str:
    """The user's recent jobs, each named by its script: the storyboard's title, or before there is one the
    script's first line."""
    lines = []
    for summary in summaries:
        job = summary.job
        name = summary.title or summary.first_line or t("(untitled)")
        if job.kind == JobKind.IMPROVE:
            kind = (
                t(" · improvement, v{version}", version=summary.version)
                if summary.version is not None
                else t(" · improvement")
            )
        else:
            kind = ""
        lines.append(
            f"<code>{job.id}</code> · <i>{esc(shorten(name, JOB_NAME_CHARS))}</i> · {job.created_at:%m-%d %H:%M}"
            f"{kind} · {t(STATUS_LINES[job.status])}"
        )
    if not lines:
        return t("No jobs yet. Send me a script: one line per scene.")
    return t("Your recent jobs:") + "\n" + "\n".join(_fit(lines, PREVIEW_BUDGET))


def _method_short(method: str, t: Texts) -> str:
    names = {
        "lm": t("language model"),
        "local": t("built-in generator"),
        "local_fallback": t("built-in generator"),
        "local_heuristic": t("built-in improver"),
    }
    return names.get(method, esc(method))


def render_versions(history: ScriptHistory, t: Texts) -> str:
    """The versions of one script, numbered, with how to get one back."""
    job = history.job
    if not history.versions:
        return t(
            "The script of job <code>{job_id}</code> has no storyboard yet: {status}.",
            job_id=job.id,
            status=status_line(job, t=t).lower(),
        )
    newest = history.versions[-1]
    header = t("<b>{title}</b>\nVersions of this script:", title=esc(shorten(newest.title, 200)))
    lines = [
        f"{version.version} · {_method_short(version.generation_method, t)} · "
        + t.plural("{n} scene", "{n} scenes", version.scene_count)
        + f" · {version.total_duration_s:g} s · {version.created_at:%Y-%m-%d %H:%M} · <code>{version.job_id}</code>"
        for version in history.versions
    ]
    hint = t("Send /version {job_id} {number} to get version {number} back.", job_id=job.id, number=newest.version)
    shown = _fit(lines, PREVIEW_BUDGET - visible_length(header) - visible_length(hint))
    return header + "\n" + "\n".join(shown) + "\n\n" + hint


def _data_lines(counts: DataCounts, t: Texts) -> list[str]:
    lines = []
    if counts.scripts:
        lines.append(t.plural("{n} script", "{n} scripts", counts.scripts))
    if counts.jobs:
        jobs = t.plural("{n} job", "{n} jobs", counts.jobs)
        if counts.active_jobs:
            jobs += t.plural(
                " ({n} still in progress: it stops)", " ({n} still in progress: they stop)", counts.active_jobs
            )
        lines.append(jobs)
    if counts.versions:
        versions = t.plural("{n} storyboard version", "{n} storyboard versions", counts.versions)
        if counts.videos:
            versions += t.plural(" and its video", " and their {n} videos", counts.videos)
        lines.append(versions)
    if counts.ratings:
        lines.append(t.plural("{n} rating, with its note", "{n} ratings, with their notes", counts.ratings))
    if counts.messages:
        lines.append(
            t.plural(
                "{n} message of yours I keep for a while (your scripts as you sent them)",
                "{n} messages of yours I keep for a while (your scripts as you sent them)",
                counts.messages,
            )
        )
    return [f"• {line}" for line in lines]


def _kept(t: Texts) -> str:
    return t(
        "I keep only your Telegram id and name, and your language choice. The messages in this chat stay: "
        "Telegram lets you delete those yourself."
    )


def render_erase_question(counts: DataCounts, t: Texts) -> str:
    return (
        t("<b>Delete your data?</b> This removes for good:")
        + "\n"
        + "\n".join(_data_lines(counts, t))
        + "\n\n"
        + _kept(t)
    )


def render_erased(counts: DataCounts, t: Texts) -> str:
    return (
        t("🗑 Deleted:")
        + "\n"
        + "\n".join(_data_lines(counts, t))
        + "\n\n"
        + _kept(t)
        + " "
        + t("Send me a script any time to start again.")
    )
