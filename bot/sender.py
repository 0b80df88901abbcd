"""The outbox's Telegram side: core's Sender role, rendered and sent with python-telegram-bot.

Telegram's answers are mapped onto core's delivery errors at this boundary:
RetryAfter -> DeliveryRetryLaterError; Forbidden (blocked, deactivated) -> RecipientGoneError;
BadRequest -> DeliveryRejectedError, except the answers that mean "already so" (message is not modified,
message to edit not found), which count as delivered; TimedOut and other NetworkError -> DeliveryTransientError.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from telegram import Bot, InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.i18n import Texts, texts_for
from bot.keyboards import build_rating_keyboard
from bot.render import CAPTION_BUDGET, render_ack, render_failed, render_result
from core.delivery import Notification
from core.errors import (
    DeliveryError,
    DeliveryRejectedError,
    DeliveryRetryLaterError,
    DeliveryTransientError,
    RecipientGoneError,
)
from core.metrics import TELEGRAM_ERRORS
from core.storyboard import parse_storyboard
from core.types import JobRecord, NotificationKind, VersionRecord, VideoRecord

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
ALREADY_SO = ("message is not modified", "message to edit not found")
UPLOAD_TIMEOUT_S = 120.0  # a video up to 50 MB on a slow uplink


class TelegramSender:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, notification: Notification) -> int | None:
        try:
            return await self._deliver(notification)
        except TelegramError as exc:
            TELEGRAM_ERRORS.labels(type(exc).__name__).inc()
            if isinstance(exc, BadRequest) and any(text in exc.message.lower() for text in ALREADY_SO):
                return None
            raise map_telegram_error(exc) from exc

    async def _deliver(self, notification: Notification) -> int | None:
        """Every notification of a job is said in the job's language (``jobs.language``, fixed when it was made)."""
        job = notification.job
        if job is None:
            raise DeliveryRejectedError(f"{notification.kind} without a job")
        return await self._BY_KIND[notification.kind](self, notification, job)

    async def _ack(self, notification: Notification, job: JobRecord) -> int | None:
        reply = (
            ReplyParameters(notification.reply_to, allow_sending_without_reply=True) if notification.reply_to else None
        )
        sent = await self.bot.send_message(
            notification.chat_id,
            render_ack(job, notification.queue_position, t=texts_for(job.language)),
            parse_mode=ParseMode.HTML,
            reply_parameters=reply,
            link_preview_options=NO_PREVIEW,
        )
        return sent.message_id

    async def _job_status(self, notification: Notification, job: JobRecord) -> int | None:
        if job.ack_message_id is None:
            return None
        edited = await self.bot.edit_message_text(
            render_ack(job, notification.queue_position, t=texts_for(job.language)),
            chat_id=notification.chat_id,
            message_id=job.ack_message_id,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
        )
        return edited.message_id if isinstance(edited, Message) else job.ack_message_id

    async def _job_failed(self, notification: Notification, job: JobRecord) -> int | None:
        text = render_failed(job, t=texts_for(job.language))
        sent = await self.bot.send_message(notification.chat_id, text, parse_mode=ParseMode.HTML)
        return sent.message_id

    async def _result(self, notification: Notification, job: JobRecord) -> int | None:
        sent = await send_result(
            self.bot,
            notification.chat_id,
            job,
            _version_of(notification, job),
            notification.video,
            texts_for(job.language),
        )
        return sent.message_id

    async def _result_file(self, notification: Notification, job: JobRecord) -> int | None:
        sent = await send_result_file(
            self.bot, notification.chat_id, job.id, _version_of(notification, job), texts_for(job.language)
        )
        return sent.message_id

    _BY_KIND: ClassVar[
        Mapping[NotificationKind, Callable[[TelegramSender, Notification, JobRecord], Awaitable[int | None]]]
    ] = {
        NotificationKind.ACK: _ack,
        NotificationKind.JOB_STATUS: _job_status,
        NotificationKind.JOB_FAILED: _job_failed,
        NotificationKind.RESULT: _result,
        NotificationKind.RESULT_FILE: _result_file,
    }


async def send_result(
    bot: Bot, chat_id: int, job: JobRecord, version: VersionRecord, video: VideoRecord | None, t: Texts
) -> Message:
    """A result as the chat gets it (the outbox's, and /version's again): the video carrying the summary as its
    caption and the rating keyboard; a text message when there is no video (RENDER_VIDEO=false, or none made)."""
    storyboard = parse_storyboard(version.storyboard_json)
    keyboard = build_rating_keyboard(version.id, t=t)
    if video is not None and video.data:
        return await bot.send_video(
            chat_id,
            **video_upload(video),
            caption=render_result(job, version, storyboard, budget=CAPTION_BUDGET, t=t),
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )
    return await bot.send_message(
        chat_id,
        render_result(job, version, storyboard, t=t),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        link_preview_options=NO_PREVIEW,
    )


async def send_result_file(bot: Bot, chat_id: int, job_id: str, version: VersionRecord, t: Texts) -> Message:
    """The storyboard as a JSON document, after its result."""
    return await bot.send_document(
        chat_id,
        version.storyboard_json.encode(),
        filename=f"storyboard-{job_id}-v{version.version}.json",
        caption=t("Storyboard JSON · job {job_id} · version {version}", job_id=job_id, version=version.version),
    )


def video_upload(video: VideoRecord) -> dict[str, Any]:
    """sendVideo's arguments for a stored video (the result's, and /video's): the MP4 and its thumbnail uploaded,
    what a player needs to know before it has them, and time enough for 50 MB."""
    return {
        "video": InputFile(video.data or b"", filename=video.path),
        "duration": max(1, round(video.duration_s)),
        "width": video.width,
        "height": video.height,
        "supports_streaming": True,
        "thumbnail": InputFile(video.thumbnail, filename="thumbnail.jpg") if video.thumbnail else None,
        "read_timeout": UPLOAD_TIMEOUT_S,
        "write_timeout": UPLOAD_TIMEOUT_S,
    }


def _version_of(notification: Notification, job: JobRecord) -> VersionRecord:
    if notification.version is None:
        raise DeliveryRejectedError(f"{notification.kind} for job {job.id} without a version")
    return notification.version


def map_telegram_error(exc: TelegramError) -> DeliveryError:
    if isinstance(exc, RetryAfter):
        return DeliveryRetryLaterError(str(exc), retry_after_s=_seconds(exc.retry_after))
    if isinstance(exc, Forbidden):
        return RecipientGoneError(exc.message)
    if isinstance(exc, BadRequest):
        return DeliveryRejectedError(exc.message)
    return DeliveryTransientError(str(exc))  # NetworkError, TimedOut, a 5xx


def _seconds(retry_after: object) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB's settings."""
    total_seconds = getattr(retry_after, "total_seconds", None)
    return float(total_seconds()) if callable(total_seconds) else float(retry_after)  # type: ignore[arg-type]
