"""The result as a video the chat plays: the real bot against the emulator, with RENDER_VIDEO on (the shipped
default; the other end-to-end tests turn it off to save the suite its renders)."""

from __future__ import annotations

import av
import pytest
from sqlalchemy import select

from bot.emulator import BotAPIEmulator
from storage.db import open_database
from storage.tables import video_metadata
from tests.e2e.conftest import BotConfig, RunBot, is_ack, is_document, is_result, job_id_of

SCRIPT = "INT. KITCHEN - NIGHT\nA kettle starts to whistle\nМаша наливает чай\nवे चुपचाप चाय पीते हैं"


@pytest.fixture
def config(config: BotConfig) -> BotConfig:
    config.video = True
    return config


async def test_the_result_is_a_video_with_the_summary_and_rating_buttons_then_the_json(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    user = emulator.user(1301, "Vera")
    async with run_bot():
        await user.send_text(SCRIPT)
        result = await user.chat.wait_for(is_result, timeout_s=30)
        document = await user.chat.wait_for(is_document, timeout_s=10)

    ack = next(m for m in user.chat.bot_messages if is_ack(m))
    call = emulator.calls_to("sendVideo")[-1].params
    stored = emulator.state.files[str(result.video["file_id"])]  # type: ignore[index]
    path = config.database_url.removeprefix("sqlite+aiosqlite:///")
    with av.open(_written(stored.content(), path + ".mp4")) as container:
        stream = container.streams.video[0]
        duration_s = container.duration / av.time_base
        codec, pix_fmt, size = stream.codec_context.name, stream.codec_context.pix_fmt, (stream.width, stream.height)
    db = await open_database(config.database_url)
    try:
        rows = await db.read(lambda conn: conn.execute(select(video_metadata)).all())
    finally:
        await db.close()

    assert result.video is not None and result.media_kind == "video"
    assert "thumbnail" in result.video  # the first card, small: what the chat shows before it plays
    assert job_id_of(ack) in (result.caption or "")  # the summary, as its caption
    assert "How did I do?" in (result.caption or "") and len(result.callback_data) == 5
    assert (call["duration"], call["width"], call["height"], call["supports_streaming"]) == (
        "12",
        "1280",
        "720",
        "true",
    )
    assert (codec, pix_fmt, size) == ("h264", "yuv420p", (1280, 720))
    assert abs(duration_s - 12.0) <= 0.25
    assert document.document is not None and str(document.document["file_name"]).endswith(".json")
    assert len(rows) == 1
    assert (rows[0].codec, rows[0].width, rows[0].height, rows[0].size_bytes) == ("h264", 1280, 720, stored.size)
    assert rows[0].path.endswith(".mp4")
    calls = [c.method for c in emulator.calls if c.method.startswith(("send", "edit", "deleteMessage"))]
    assert calls == ["sendMessage", "sendVideo", "sendDocument"]  # at most 3 calls a script, the ack included


def _written(data: bytes, path: str) -> str:
    with open(path, "wb") as out:
        out.write(data)
    return path


async def test_video_sends_a_jobs_video_again_and_says_so_when_there_is_none(
    emulator: BotAPIEmulator, run_bot: RunBot, config: BotConfig
) -> None:
    user = emulator.user(1302, "Walt")
    async with run_bot():
        await user.send_text("One scene\nTwo scenes")
        result = await user.chat.wait_for(is_result, timeout_s=30)
        await user.chat.wait_for(is_document, timeout_s=10)  # the job's last message, before the commands
        job_id = job_id_of(next(m for m in user.chat.bot_messages if is_ack(m)))
        mark = user.chat.mark()
        await user.send_text(f"/video {job_id}")
        again = await user.chat.wait_for(lambda m: m.video is not None, after=mark, timeout_s=10)
        mark = user.chat.mark()
        await user.send_text("/video nosuchjob1")
        missing = await user.chat.wait_for(after=mark, timeout_s=10)

    assert again.video is not None and result.video is not None
    assert again.video["file_size"] == result.video["file_size"]
    assert job_id in (again.caption or "")
    assert "nosuchjob1" in (missing.text or "") and missing.video is None
