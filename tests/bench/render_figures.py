"""The video's cost: CPU and wall time to render a 30 s storyboard of 8 scenes and one of 300, in this process
(``core.video.render_video``: Pillow cards, PyAV's libx264), and the size of what it wrote; and, when MoviePy is
installed (a dev-only comparison, the seed system's approach: the same cards as clips, written at 24 fps through
its ffmpeg), the same 8 scenes through it, CPU counted with its ffmpeg child process.

MoviePy 2 asks for Pillow < 12, older than the bot's: install it beside, without its pins:
``pip install --no-deps moviepy imageio imageio-ffmpeg proglog decorator numpy tqdm python-dotenv``."""

from __future__ import annotations

import resource
import time

from core.fonts import find_fonts
from core.storyboard import SceneDraft, Storyboard, assemble
from core.video import draw_card, render_video
from tests.bench.harness import Bench, say
from tests.bench.report import Figure, at_least, median

LINE = "The camera follows her down the stairs into the crowded street below"


def _storyboard(scenes: int, seconds: float) -> Storyboard:
    each = round(seconds / scenes, 1)
    drafts = [SceneDraft(text=f"{n + 1}. {LINE}", duration_s=each, visual="Wide, dusk") for n in range(scenes)]
    return assemble("Bench", "local", drafts)


async def render(bench: Bench) -> list[Figure]:
    fonts = find_fonts()
    figures: list[Figure] = []
    for label, board, runs in (
        ("8", _storyboard(8, 30.0), 3 if bench.quick else 7),
        ("300", _storyboard(300, 900.0), 1 if bench.quick else 3),
    ):
        cpu, wall, size = [], [], 0
        for run in range(runs):
            path = bench.workdir / f"render-{label}-{run}.mp4"
            started_cpu, started = time.process_time(), time.perf_counter()
            info = render_video(board, path, fonts)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
            size = info.size_bytes
        say(f"render {label} scenes ({board.total_duration:g} s): cpu " + ", ".join(f"{v:.3f}" for v in cpu))
        figures += [
            Figure(f"render_{label}_scenes_cpu_s", median(cpu), digits=3),
            Figure(f"render_{label}_scenes_wall_s", median(wall), digits=3),
            Figure(f"render_{label}_scenes_mb", size / 1e6, digits=2),
        ]
        if label == "8":
            ours = median(cpu)
    figures += _moviepy(bench, _storyboard(8, 30.0), ours)
    return figures


def _cpu_with_children() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _moviepy(bench: Bench, board: Storyboard, ours_cpu_s: float) -> list[Figure]:
    try:
        import numpy as np
        from moviepy import ImageClip, concatenate_videoclips
    except ImportError:
        note = "(MoviePy not installed: see tests/bench/render_figures.py)"
        return [
            Figure("render_8_scenes_moviepy_cpu_s", None, note=note),
            Figure("render_cpu_ratio_moviepy", None, note=note),
        ]
    fonts = find_fonts()
    cpu = []
    for run in range(1 if bench.quick else 3):
        started = _cpu_with_children()
        clips = [
            ImageClip(np.asarray(draw_card(board, n, fonts))).with_duration(s.duration)
            for n, s in enumerate(board.scenes)
        ]
        concatenate_videoclips(clips).write_videofile(
            str(bench.workdir / f"moviepy-{run}.mp4"), fps=24, codec="libx264", audio=False, logger=None
        )
        cpu.append(_cpu_with_children() - started)
    say("render 8 scenes through MoviePy: cpu " + ", ".join(f"{v:.2f}" for v in cpu))
    return [
        Figure("render_8_scenes_moviepy_cpu_s", median(cpu), digits=2),
        Figure("render_cpu_ratio_moviepy", median(cpu) / ours_cpu_s, digits=1, target=at_least(10)),
    ]
