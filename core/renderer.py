"""The render stage: a storyboard's video made in a pool of processes, off the event loop and off the GIL.

``Renderer.render`` hands the storyboard (as JSON) to a process of the pool, which draws and encodes it
(``core.video``) and sends the MP4 back as bytes: a worker on another machine than the bot's keeps the file in the
database, where the bot's sender finds it. ``RENDER_PROCESSES`` renders run at once, the others wait their turn;
each has ``RENDER_TIMEOUT_S`` from its start, and past it the pool's processes are killed and the pool made anew
(another render that was running there is tried once more). A process's address space is capped at
``RENDER_MAX_MEMORY_MB``. A video over
``MAX_VIDEO_BYTES`` (Telegram's 50 MB upload) is rendered again at 640x360, and if that is still too large the
result goes without a video. Whatever goes wrong, the job does not fail: it is the storyboard, without its video,
and a log line says why.

The pool is one per process, made at the first render (tests that start many bots share it).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import resource
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from core.fonts import Fonts, find_fonts, warn_missing
from core.settings import RenderSettings
from core.storyboard import Storyboard, parse_storyboard

logger = logging.getLogger(__name__)

SMALLER = (640, 360)


@dataclass(frozen=True, slots=True)
class RenderedVideo:
    data: bytes
    duration_s: float
    width: int
    height: int
    thumbnail: bytes | None = None
    codec: str = "h264"

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def _start_render_process(max_mb: int) -> None:
    """In each render process, before any work: cap its address space, and leave Ctrl-C to the parent (a terminal
    sends SIGINT to the whole process group; the parent stops its renders itself, without a traceback from each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit = max_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _render(document: str, size: tuple[int, int], fonts: Fonts) -> RenderedVideo:
    """In a render process: the storyboard's MP4, with its duration, size and thumbnail."""
    from core.video import render_video, thumbnail_jpeg

    storyboard = parse_storyboard(document)
    with tempfile.TemporaryDirectory(prefix="bhiv-render-") as folder:
        info = render_video(storyboard, Path(folder) / "video.mp4", fonts, size=size)
        return RenderedVideo(
            info.path.read_bytes(), info.duration_s, info.width, info.height, thumbnail_jpeg(storyboard, fonts)
        )


_POOLS: dict[tuple[int, int], ProcessPoolExecutor] = {}  # (processes, memory cap) -> this process's pool


def _kill(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's processes now (a render past its limit cannot be cancelled, only killed), and let it go."""
    kill_workers = getattr(pool, "kill_workers", None)  # Python 3.14
    if callable(kill_workers):
        kill_workers()
    else:  # before 3.14 the pool's processes are only in this attribute, which CPython has kept since 3.2
        for process in list(getattr(pool, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
    pool.shutdown(wait=False, cancel_futures=False)


class Renderer:
    """Renders at most RENDER_PROCESSES videos at once (a render waits for a free process before its time limit
    starts), so a timeout never counts time spent waiting in line."""

    def __init__(self, settings: RenderSettings, fonts: Fonts) -> None:
        self.settings = settings
        self.fonts = fonts
        self._key = (settings.render_processes, settings.render_max_memory_mb)
        self._slots = asyncio.Semaphore(settings.render_processes)

    @classmethod
    def create(cls, settings: RenderSettings) -> Renderer:
        fonts = find_fonts()
        warn_missing(fonts)
        return cls(settings, fonts)

    def _executor(self) -> ProcessPoolExecutor:
        pool = _POOLS.get(self._key)
        if pool is None:
            pool = _POOLS[self._key] = ProcessPoolExecutor(
                max_workers=self.settings.render_processes,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a process with threads and a loop
                initializer=_start_render_process,
                initargs=(self.settings.render_max_memory_mb,),
            )
        return pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        """Kill ``pool`` and forget it, unless a newer pool has taken its place already."""
        if _POOLS.get(self._key) is pool:
            del _POOLS[self._key]
        _kill(pool)

    def close(self) -> None:
        """At shutdown: a render still running would hold the process's exit until it ends."""
        pool = _POOLS.get(self._key)
        if pool is not None:
            self._discard(pool)

    async def render(self, storyboard: Storyboard, *, job_id: str = "-") -> RenderedVideo | None:
        """The video, or None (logged) when it could not be made within the limits."""
        for size in ((1280, 720), SMALLER):
            try:
                video = await self._in_pool(storyboard, size)
            except TimeoutError:
                logger.warning(
                    "job %s: the video took longer than RENDER_TIMEOUT_S (%.0f s); the result goes without it",
                    job_id,
                    self.settings.render_timeout_s,
                )
                return None
            except Exception as exc:  # whatever it was (a dead process, FFmpeg, a bug): the storyboard still goes
                logger.warning("job %s: the video could not be made (%r); the result goes without it", job_id, exc)
                return None
            if video.size_bytes <= self.settings.max_video_bytes:
                return video
            logger.info("job %s: the video is %.1f MB at %dx%d; trying smaller", job_id, video.size_bytes / 1e6, *size)
        logger.warning(
            "job %s: the video is over MAX_VIDEO_BYTES (%.0f MB) even at 640x360; the result goes without it",
            job_id,
            self.settings.max_video_bytes / 1e6,
        )
        return None

    async def _in_pool(self, storyboard: Storyboard, size: tuple[int, int]) -> RenderedVideo:
        """One render in a free process of the pool. A pool broken under it (another render's timeout killed its
        processes) is made anew and the render tried once more there."""
        document = storyboard.to_json()
        async with self._slots:  # a free process: the time limit starts now
            for attempt in (1, 2):
                pool = self._executor()
                future = asyncio.get_running_loop().run_in_executor(pool, _render, document, size, self.fonts)
                try:
                    return await asyncio.wait_for(future, self.settings.render_timeout_s)
                except TimeoutError:
                    self._discard(pool)
                    raise
                except asyncio.CancelledError:  # the worker stops, or the job was cancelled: the process must go
                    self._discard(pool)
                    raise
                except BrokenProcessPool:
                    self._discard(pool)
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")
