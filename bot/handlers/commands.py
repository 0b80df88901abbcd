"""/start, /help, /status, /jobs, /cancel, /video and the admin's /stats (/version and /delete: ``history``)."""

from __future__ import annotations

from telegram import BotCommand, Update
from telegram.constants import ParseMode

from bot.context import BotContext
from bot.i18n import texts_of
from bot.render import esc, human_size, render_job_list, render_stats, render_status, shorten
from bot.sender import video_upload
from core.errors import JobNotFoundError, JobStateError

COMMANDS = [
    BotCommand("start", "what I do and how to use me"),
    BotCommand("help", "how to send a script and rate a storyboard"),
    BotCommand("status", "where a job stands: /status <id>"),
    BotCommand("jobs", "your recent jobs"),
    BotCommand("cancel", "cancel a job: /cancel <id>"),
    BotCommand("video", "a job's video again: /video <id>"),
    BotCommand("version", "an earlier version again: /version <id> <n>"),
    BotCommand("delete", "delete your scripts, jobs, versions and ratings"),
]

HELP = (
    "<b>Send me a short video script</b> as a message, or as a .txt, .md or .fountain file (up to {max_size}). "
    "Each non-empty line becomes a scene.\n\n"
    "I answer at once with a job id, and send the storyboard when it's ready: its video with a summary and "
    "rating buttons, and the JSON file. Rate it 1 or 2 and tell me what should change, and I'll make an "
    "improved version.\n\n"
    "/status <i>id</i> · where a job stands (without an id: your newest)\n"
    "/jobs · your recent jobs\n"
    "/cancel <i>id</i> · cancel a job that hasn't finished (without an id: your newest)\n"
    "/video <i>id</i> · a job's video again (without an id: your newest)\n"
    "/version <i>id</i> <i>n</i> · version n of a job's script again, to rate or improve (without n: its versions)\n"
    "/delete · delete your scripts, jobs, versions and ratings (I ask first)"
)


async def on_start(update: Update, context: BotContext) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    name = esc(shorten(user.first_name, 64)) if user else "there"
    await message.reply_text(
        f"Hi {name}! I turn short video scripts into storyboards.\n\n" + _help(context), parse_mode=ParseMode.HTML
    )


async def on_help(update: Update, context: BotContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(_help(context), parse_mode=ParseMode.HTML)


def _help(context: BotContext) -> str:
    return HELP.format(max_size=human_size(context.services.telegram.max_document_bytes))


async def on_status(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    if not context.args:
        recent = await context.services.queries.recent(context.bot.id, user.id, limit=1)
        if not recent:
            await message.reply_text("Usage: /status <job id>. You have no jobs yet: send me a script.")
            return
        job = recent[0]
        position = await context.services.queries.queue_position(job)
        await message.reply_text(render_status(job, position), parse_mode=ParseMode.HTML)
        return
    try:
        job, position = await context.services.queries.get_for_user(context.args[0], user.id, bot_id=context.bot.id)
    except JobNotFoundError:
        await message.reply_text(_not_found(context.args[0]), parse_mode=ParseMode.HTML)
        return
    await message.reply_text(render_status(job, position), parse_mode=ParseMode.HTML)


async def on_jobs(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    summaries = await context.services.queries.recent_summaries(context.bot.id, user.id)
    await message.reply_text(render_job_list(summaries, t), parse_mode=ParseMode.HTML)


async def on_cancel(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    job_id = context.args[0] if context.args else await _newest_active(context, user.id)
    if job_id is None:
        await message.reply_text("You have nothing to cancel: no job is queued or running. /jobs lists yours.")
        return
    try:
        job, _ = await context.services.queries.get_for_user(job_id, user.id, bot_id=context.bot.id)
        job = await context.services.queue.cancel(job)
    except JobNotFoundError:
        await message.reply_text(_not_found(job_id), parse_mode=ParseMode.HTML)
        return
    except JobStateError as exc:
        await message.reply_text(f"Job <code>{exc.job_id}</code> is already {exc.status}.", parse_mode=ParseMode.HTML)
        return
    await message.reply_text(f"🚫 Cancelled job <code>{job.id}</code>.", parse_mode=ParseMode.HTML)


async def on_video(update: Update, context: BotContext) -> None:
    """The video of one of the user's jobs, sent again (uploaded from the database, where the worker left it)."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    if context.args:
        job_id: str | None = context.args[0]
    else:
        recent = await context.services.queries.recent(context.bot.id, user.id, limit=1)
        job_id = recent[0].id if recent else None
    if job_id is None:
        await message.reply_text("Usage: /video <job id>. You have no jobs yet: send me a script.")
        return
    try:
        job, _ = await context.services.queries.get_for_user(job_id, user.id, bot_id=context.bot.id)
    except JobNotFoundError:
        await message.reply_text(_not_found(job_id), parse_mode=ParseMode.HTML)
        return
    video = await context.services.queries.video_for_job(job.id)
    if video is None or not video.data:
        why = "it is not done yet" if job.status.active else "none was made for it"
        await message.reply_text(f"No video for job <code>{job.id}</code>: {why}.", parse_mode=ParseMode.HTML)
        return
    await message.reply_video(
        **video_upload(video), caption=f"Job <code>{job.id}</code> · {video.duration_s:g} s", parse_mode=ParseMode.HTML
    )


async def on_stats(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    if not context.services.access.is_admin(user.id):
        await message.reply_text("/stats is for the bot's admins.")
        return
    await message.reply_text(render_stats(await context.services.feedback.stats()), parse_mode=ParseMode.HTML)


async def on_unknown_command(update: Update, _context: BotContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text("I don't know that command. /help lists what I can do.")


async def _newest_active(context: BotContext, user_id: int) -> str | None:
    recent = await context.services.queries.recent(context.bot.id, user_id, limit=10)
    return next((job.id for job in recent if job.status.active), None)


def _not_found(job_id: str) -> str:
    return f"I can't find job <code>{esc(shorten(job_id, 40))}</code> among your jobs. /jobs lists them."
