"""/start, /help, /status, /jobs, /cancel, /video and the admin's /stats (/version and /delete: ``history``;
/language: ``language``)."""

from __future__ import annotations

from telegram import BotCommand, Update
from telegram.constants import ParseMode

from bot.context import BotContext
from bot.i18n import ENGLISH, LOCALES, N_, Texts, texts_for, texts_of
from bot.render import (
    STATUS_NAMES,
    esc,
    human_size,
    render_job_list,
    render_not_found,
    render_stats,
    render_status,
    shorten,
)
from bot.sender import video_upload
from core.errors import JobNotFoundError, JobStateError

COMMAND_DESCRIPTIONS = [
    ("start", N_("what I do and how to use me")),
    ("help", N_("how to send a script and rate a storyboard")),
    ("status", N_("where a job stands: /status <id>")),
    ("jobs", N_("your recent jobs")),
    ("cancel", N_("cancel a job: /cancel <id>")),
    ("video", N_("a job's video again: /video <id>")),
    ("version", N_("an earlier version again: /version <id> <n>")),
    ("delete", N_("delete your scripts, jobs, versions and ratings")),
    ("language", N_("the language I speak to you in")),
]


def build_commands(t: Texts = ENGLISH) -> list[BotCommand]:
    """The command menu in one language (setMyCommands, once per locale at start)."""
    return [BotCommand(command, t(description)) for command, description in COMMAND_DESCRIPTIONS]


def command_menus() -> dict[str | None, list[BotCommand]]:
    """The menu for each language_code: None (everyone else) gets English."""
    return {None if locale == ENGLISH.locale else locale: build_commands(texts_for(locale)) for locale in LOCALES}


COMMANDS = build_commands()

HELP = N_(
    "<b>Send me a short video script</b> as a message, or as a .txt, .md or .fountain file (up to {max_size}). "
    "Each non-empty line becomes a scene; in a .fountain screenplay, each scene heading starts one, with its "
    "action and dialogue as its frames.\n\n"
    "I answer at once with a job id, and send the storyboard when it's ready: its video with a summary and "
    "rating buttons, and the JSON file. Rate it 1 or 2 and tell me what should change, and I'll make an "
    "improved version.\n\n"
    "/status <i>id</i> · where a job stands (without an id: your newest)\n"
    "/jobs · your recent jobs\n"
    "/cancel <i>id</i> · cancel a job that hasn't finished (without an id: your newest)\n"
    "/video <i>id</i> · a job's video again (without an id: your newest)\n"
    "/version <i>id</i> <i>n</i> · version n of a job's script again, to rate or improve (without n: its versions)\n"
    "/delete · delete your scripts, jobs, versions and ratings (I ask first)\n"
    "/language · the language I speak to you in"
)


async def on_start(update: Update, context: BotContext) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    t = await texts_of(update, context)
    greeting = (
        t("Hi {name}! I turn short video scripts into storyboards.", name=esc(shorten(user.first_name, 64)))
        if user
        else t("Hi! I turn short video scripts into storyboards.")
    )
    await message.reply_text(greeting + "\n\n" + _help(context, t), parse_mode=ParseMode.HTML)


async def on_help(update: Update, context: BotContext) -> None:
    if update.effective_message is not None:
        t = await texts_of(update, context)
        await update.effective_message.reply_text(_help(context, t), parse_mode=ParseMode.HTML)


def _help(context: BotContext, t: Texts) -> str:
    return t(HELP, max_size=human_size(context.services.telegram.max_document_bytes, t=t))


async def on_status(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    if not context.args:
        recent = await context.services.queries.recent(context.bot.id, user.id, limit=1)
        if not recent:
            await message.reply_text(t("Usage: /status <job id>. You have no jobs yet: send me a script."))
            return
        job = recent[0]
        position = await context.services.queries.queue_position(job)
        await message.reply_text(render_status(job, position, t=t), parse_mode=ParseMode.HTML)
        return
    try:
        job, position = await context.services.queries.get_for_user(context.args[0], user.id, bot_id=context.bot.id)
    except JobNotFoundError:
        await message.reply_text(render_not_found(context.args[0], t), parse_mode=ParseMode.HTML)
        return
    await message.reply_text(render_status(job, position, t=t), parse_mode=ParseMode.HTML)


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
    t = await texts_of(update, context)
    job_id = context.args[0] if context.args else await _newest_active(context, user.id)
    if job_id is None:
        await message.reply_text(t("You have nothing to cancel: no job is queued or running. /jobs lists yours."))
        return
    try:
        job, _ = await context.services.queries.get_for_user(job_id, user.id, bot_id=context.bot.id)
        job = await context.services.queue.cancel(job)
    except JobNotFoundError:
        await message.reply_text(render_not_found(job_id, t), parse_mode=ParseMode.HTML)
        return
    except JobStateError as exc:
        status = t(STATUS_NAMES[exc.status]) if exc.status in STATUS_NAMES else esc(str(exc.status))
        await message.reply_text(
            t("Job <code>{job_id}</code> is already {status}.", job_id=exc.job_id, status=status),
            parse_mode=ParseMode.HTML,
        )
        return
    await message.reply_text(t("🚫 Cancelled job <code>{job_id}</code>.", job_id=job.id), parse_mode=ParseMode.HTML)


async def on_video(update: Update, context: BotContext) -> None:
    """The video of one of the user's jobs, sent again (uploaded from the database, where the worker left it)."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    if context.args:
        job_id: str | None = context.args[0]
    else:
        recent = await context.services.queries.recent(context.bot.id, user.id, limit=1)
        job_id = recent[0].id if recent else None
    if job_id is None:
        await message.reply_text(t("Usage: /video <job id>. You have no jobs yet: send me a script."))
        return
    try:
        job, _ = await context.services.queries.get_for_user(job_id, user.id, bot_id=context.bot.id)
    except JobNotFoundError:
        await message.reply_text(render_not_found(job_id, t), parse_mode=ParseMode.HTML)
        return
    video = await context.services.queries.video_for_job(job.id)
    if video is None or not video.data:
        if job.status.active:
            why = t("No video for job <code>{job_id}</code>: it is not done yet.", job_id=job.id)
        else:
            why = t("No video for job <code>{job_id}</code>: none was made for it.", job_id=job.id)
        await message.reply_text(why, parse_mode=ParseMode.HTML)
        return
    caption = t("Job <code>{job_id}</code> · {duration} s", job_id=job.id, duration=format(video.duration_s, "g"))
    await message.reply_video(**video_upload(video), caption=caption, parse_mode=ParseMode.HTML)


async def on_stats(update: Update, context: BotContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    t = await texts_of(update, context)
    if not context.services.access.is_admin(user.id):
        await message.reply_text(t("/stats is for the bot's admins."))
        return
    await message.reply_text(render_stats(await context.services.feedback.stats(), t=t), parse_mode=ParseMode.HTML)


async def on_unknown_command(update: Update, context: BotContext) -> None:
    if update.effective_message is not None:
        t = await texts_of(update, context)
        await update.effective_message.reply_text(t("I don't know that command. /help lists what I can do."))


async def _newest_active(context: BotContext, user_id: int) -> str | None:
    recent = await context.services.queries.recent(context.bot.id, user_id, limit=10)
    return next((job.id for job in recent if job.status.active), None)
