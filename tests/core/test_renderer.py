"""The render stage's limits: a render past RENDER_TIMEOUT_S, or a video over MAX_VIDEO_BYTES even at 640x360, is
a result without a video (and a log line), never a failed job; a render in time is the MP4 from another process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import av
import pytest

from core.fonts import Fonts, find_fonts
from core.renderer import Renderer
from core.settings import RenderSettings
from core.storyboard import SceneDraft, Storyboard, assemble

LONG = "The camera follows her down the stairs into the crowded street below, where the market is opening"


def board(scenes: int) -> Storyboard:
    return assemble("t", "local", [SceneDraft(text=f"{n}. {LONG}", duration_s=3.0) for n in range(scenes)])


def renderer(**settings: object) -> Renderer:
    return Renderer(RenderSettings.model_construct(**(RenderSettings().model_dump() | settings)), find_fonts())


async def test_a_video_is_made_in_a_render_process_and_decodes(tmp_path: Path) -> None:
    video = await renderer().render(board(3), job_id="j1")

    assert video is not None
    assert (video.width, video.height, video.duration_s) == (1280, 720, 9.0)
    path = f"{tmp_path}/v.mp4"
    with open(path, "wb") as out:
        out.write(video.data)
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.name == "h264"


async def test_a_render_past_its_time_limit_gives_no_video_and_the_next_render_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow = renderer(render_timeout_s=0.001)
    with caplog.at_level(logging.WARNING):
        late = await slow.render(board(40), job_id="j2")
    again = await renderer().render(board(1), job_id="j3")  # a fresh pool after the killed one

    assert late is None
    assert "RENDER_TIMEOUT_S" in caplog.text
    assert again is not None


async def test_a_video_too_large_even_at_640x360_gives_no_video(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        video = await renderer(max_video_bytes=100_000).render(board(30), job_id="j4")

    assert video is None
    assert "trying smaller" in caplog.text and "MAX_VIDEO_BYTES" in caplog.text


async def test_a_render_that_fails_in_its_process_gives_no_video_and_the_job_goes_on(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    broken = Fonts({"latin": tmp_path / "no-such-font.ttf", "cyrillic": None, "devanagari": None})
    with caplog.at_level(logging.WARNING):
        video = await Renderer(RenderSettings.model_construct(**RenderSettings().model_dump()), broken).render(
            board(2), job_id="j5"
        )

    assert video is None
    assert "could not be made" in caplog.text


async def test_renders_wait_for_a_free_process_before_their_time_limit_starts() -> None:
    """Six renders at once on one render process: each gets the whole limit for itself, none times out for having
    waited behind the others (about 0.5 s each and a 2 s limit; the last waits 2.5 s for its turn)."""
    shared = renderer(render_processes=1, render_timeout_s=2.0)
    videos = await asyncio.gather(*(shared.render(board(40), job_id=f"q{n}") for n in range(6)))

    assert all(video is not None for video in videos)
