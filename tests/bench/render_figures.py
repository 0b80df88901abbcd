"""The video's cost: CPU and wall time to render a 30 s storyboard of 8 scenes and one of 300, in this process
(``core.video.render_video``: Pillow cards, PyAV's libx264), and the size of what it wrote."""

from __future__ import annotations

import time

from core.fonts import find_fonts
from core.storyboard import SceneDraft, Storyboard, assemble
from core.video import render_video
from tests.bench.harness import Bench, say
from tests.bench.report import Figure, median

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
    return figures
