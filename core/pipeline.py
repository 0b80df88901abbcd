"""The pipeline: script -> storyboard, storyboard + feedback -> improved storyboard and what it changed.

The script is split into scenes first (``core.formats``). The LM, when one is configured, writes the storyboard
for those scenes and is held to them (``core.anchor``): a reply that does not keep them is asked for once more,
then repaired from the script; one that keeps too little of it counts as a failed reply. The built-in generator
and improver stand in when no LM is configured, or when it gives up (the storyboard says which in
``generation_method``). CPU-bound steps run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core import improve as heuristic
from core.anchor import Anchored, anchor
from core.errors import LMError, LMErrorKind
from core.formats import parse_script
from core.generator import generate_local, source_scenes, title_of
from core.lm import LMClient, LMDraft
from core.metrics import LM_FALLBACKS, LM_REPAIRS
from core.revision import Revision, compare
from core.storyboard import SceneDraft, Storyboard, assemble, drafts_of

logger = logging.getLogger(__name__)

Ask = Callable[[str | None], Awaitable[LMDraft]]  # the LM asked once, with what its last answer got wrong


@dataclass(frozen=True, slots=True)
class PipelineResult:
    storyboard: Storyboard
    lm_error: LMError | None = None  # why the LM was not used, when it was configured
    revision: Revision | None = None  # an improvement's account of what it changed

    @property
    def fell_back(self) -> bool:
        return self.lm_error is not None


class Pipeline:
    def __init__(self, lm: LMClient | None = None) -> None:
        self.lm = lm

    async def generate(self, script: str, *, file_name: str | None = None, job_id: str = "-") -> PipelineResult:
        if self.lm is None:  # the built-in generator: one trip to a thread, parse and assemble together
            return PipelineResult(await asyncio.to_thread(generate_local, script, file_name=file_name))
        parsed = await asyncio.to_thread(parse_script, script, file_name)
        scenes, title = source_scenes(parsed), title_of(parsed)
        lm = self.lm
        try:
            draft, anchored = await self._anchored(
                lambda correction: lm.generate(scenes, title=parsed.title, correction=correction), scenes, job_id
            )
        except LMError as exc:
            logger.warning("job %s: LM failed (%s); using the local generator", job_id, exc.kind.value)
            LM_FALLBACKS.labels(exc.kind.value).inc()
            return PipelineResult(await asyncio.to_thread(assemble, title, "local_fallback", scenes), exc)
        return PipelineResult(await asyncio.to_thread(assemble, parsed.title or draft.title, "lm", anchored.scenes))

    async def improve(
        self, current: Storyboard, *, rating: int, comment: str | None, job_id: str = "-"
    ) -> PipelineResult:
        if self.lm is None:
            board, revision = await asyncio.to_thread(heuristic.improve, current, rating, comment)
            return PipelineResult(board, revision=revision)
        lm = self.lm
        scenes = drafts_of(current)
        try:
            _draft, anchored = await self._anchored(
                lambda correction: lm.improve(current, rating=rating, comment=comment, correction=correction),
                scenes,
                job_id,
            )
        except LMError as exc:
            logger.warning("job %s: LM failed to improve (%s); using the heuristic", job_id, exc.kind.value)
            LM_FALLBACKS.labels(exc.kind.value).inc()
            board, revision = await asyncio.to_thread(heuristic.improve, current, rating, comment)
            return PipelineResult(board, exc, revision)
        board = await asyncio.to_thread(assemble, current.title, "lm", anchored.scenes)
        return PipelineResult(board, revision=compare(current, board, note_given=bool((comment or "").strip())))

    async def _anchored(self, ask: Ask, scenes: list[SceneDraft], job_id: str) -> tuple[LMDraft, Anchored]:
        """The LM's draft held to ``scenes``: asked once more when its scenes were not the script's, repaired
        from the script after that; an LMError (BAD_REPLY) when too little of it came from the LM."""
        draft = await ask(None)
        anchored = await asyncio.to_thread(anchor, scenes, draft.scenes)
        if anchored.structural:
            logger.info("job %s: the LM's scenes were not the script's (%s); asking once more", job_id, _told(anchored))
            try:
                again = await ask(anchored.correction())
            except LMError as exc:
                logger.warning("job %s: asking the LM again failed (%s)", job_id, exc.kind.value)
            else:
                second = await asyncio.to_thread(anchor, scenes, again.scenes)
                if _repaired(second) <= _repaired(anchored):
                    draft, anchored = again, second
        for kind, numbers in anchored.repairs.items():
            LM_REPAIRS.labels(kind.value).inc(len(numbers))
        if not anchored.usable:
            raise LMError(LMErrorKind.BAD_REPLY, f"the reply kept too little of the script ({_told(anchored)})")
        if anchored.repairs:
            logger.info("job %s: repaired the LM's storyboard from the script (%s)", job_id, _told(anchored))
        return draft, anchored


def _repaired(anchored: Anchored) -> int:
    return sum(len(numbers) for numbers in anchored.repairs.values())


def _told(anchored: Anchored) -> str:
    return ", ".join(f"{kind.value} {numbers[:10]}" for kind, numbers in anchored.repairs.items()) or "nothing"
