"""The LM held to the script, on a real model: how much of the script the model's first answer kept, how much of
the storyboard then came from it, how often it was asked again, and the time a script took.

Needs an OpenAI-compatible server: ``BHIV_BENCH_LM_URL`` (say ``http://127.0.0.1:18080/v1``) and
``BHIV_BENCH_LM_MODEL``. docs/BENCHMARKS.md says how to serve SmolLM2-135M-Instruct on this machine with
llama-cpp-python (the model comes from PyPI). Without the variables the figures say "n/a": nothing is measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from core.anchor import anchor
from core.formats import parse_script
from core.generator import source_scenes
from core.lm import LMClient, LMDraft
from core.pipeline import Pipeline
from core.settings import LMSettings
from core.storyboard import SceneDraft
from tests.bench.harness import Bench, say
from tests.bench.report import Figure, median

SCRIPTS = [
    ("cat.txt", "A door opens slowly.\nA black cat walks in.\nIt jumps on the table.\nThe lights go out."),
    (
        "bus.txt",
        "Morning in the city.\nA girl runs for the bus.\nShe misses it.\nShe laughs and walks instead.\n"
        "The sun comes out.",
    ),
    ("coffee.md", "# Fresh Roast\n\n- **A barista grinds beans.**\n- Steam rises from a cup.\n- *Open daily from 7.*"),
    (
        "kitchen.fountain",
        "Title: The Kettle\n\nINT. KITCHEN - NIGHT\n\nA kettle whistles on the stove.\n\nMARY\nWho left this on?\n\n"
        "EXT. GARDEN - NIGHT\n\nRain falls on the empty chairs.\n",
    ),
    (
        "launch.txt",
        "A rocket stands on the pad.\nThe countdown reaches zero.\nFlames fill the screen.\n"
        "It climbs into the clouds.\nThe crowd cheers.\nSilence in space.",
    ),
]


class _Recording(LMClient):
    """The real client, remembering each draft the model returned (before the pipeline anchors it)."""

    drafts: list[LMDraft]

    async def generate(
        self, scenes: Sequence[SceneDraft], *, title: str | None = None, correction: str | None = None
    ) -> LMDraft:
        draft = await super().generate(scenes, title=title, correction=correction)
        self.drafts.append(draft)
        return draft


async def anchoring(bench: Bench) -> list[Figure]:
    url, model = os.environ.get("BHIV_BENCH_LM_URL"), os.environ.get("BHIV_BENCH_LM_MODEL", "")
    if not url:
        note = "not measured: set BHIV_BENCH_LM_URL (docs/BENCHMARKS.md, a real small model)"
        return [Figure("lm_first_answer_scenes_kept", None, note=note)]
    settings = LMSettings(lm_base_url=url, lm_model=model, lm_timeout_s=300, lm_job_deadline_s=600, lm_max_tokens=1024)
    scripts = SCRIPTS[:2] if bench.quick else SCRIPTS
    first_kept, from_lm, seconds, asked_again, fell_back, total = 0, 0, [], 0, 0, 0
    async with _Recording(settings) as lm:
        lm.drafts = []
        for name, text in scripts:
            scenes = source_scenes(parse_script(text, name))
            lm.drafts.clear()
            started = time.perf_counter()
            result = await Pipeline(lm).generate(text, file_name=name)
            seconds.append(time.perf_counter() - started)
            total += len(scenes)
            if lm.drafts:
                first = anchor(scenes, lm.drafts[0].scenes)
                dropped = sum(len(v) for k, v in first.repairs.items() if k.value in {"dropped", "merged"})
                first_kept += len(scenes) - dropped
            asked_again += len(lm.drafts) > 1
            fell_back += result.fell_back
            board = result.storyboard
            kept = [scene.frames[0].text for scene in board.scenes] == [s.frames[0][:100] for s in scenes]
            if not result.fell_back:  # a visual note the model wrote (a screenplay's heading is the script's own)
                from_lm += sum(
                    1
                    for scene, source in zip(board.scenes, scenes, strict=True)
                    if scene.frames[0].visual and scene.frames[0].visual != source.visual
                )
            say(
                f"{name}: {len(scenes)} scenes, first answer {len(lm.drafts[0].scenes) if lm.drafts else 0}, "
                f"asked {len(lm.drafts)}x, {board.generation_method}, script kept: {kept}, {seconds[-1]:.1f} s"
            )
    return [
        Figure("lm_first_answer_scenes_kept", first_kept / total, digits=2, note=f"of {total} script scenes"),
        Figure("lm_scenes_with_an_lm_visual", from_lm / total, digits=2, note="after anchoring"),
        Figure("lm_asked_again", asked_again, digits=0, note=f"of {len(scripts)} scripts"),
        Figure("lm_fell_back", fell_back, digits=0, note=f"of {len(scripts)} scripts"),
        Figure("lm_seconds_per_script_p50", median(seconds), digits=1, note=f"model {model or '?'}"),
    ]
