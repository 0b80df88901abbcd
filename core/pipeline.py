"""The pipeline: script -> storyboard, storyboard + feedback -> improved storyboard.

The LM when one is configured; the local generator when not, or when the LM gives up (the storyboard says
which in ``generation_method``). CPU-bound steps run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from core.errors import LMError
from core.lm import LMClient
from core.metrics import LM_FALLBACKS
from core.storyboard import Storyboard, assemble, generate_local, improve_heuristic

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    storyboard: Storyboard
    lm_error: LMError | None = None  # why the LM was not used, when it was configured

    @property
    def fell_back(self) -> bool:
        return self.lm_error is not None


class Pipeline:
    def __init__(self, lm: LMClient | None = None) -> None:
        self.lm = lm

    async def generate(self, script: str, *, job_id: str = "-") -> PipelineResult:
        if self.lm is None:
            return PipelineResult(await asyncio.to_thread(generate_local, script))
        try:
            draft = await self.lm.generate(script)
        except LMError as exc:
            logger.warning("job %s: LM failed (%s); using the local generator", job_id, exc.kind.value)
            LM_FALLBACKS.labels(exc.kind.value).inc()
            return PipelineResult(await asyncio.to_thread(generate_local, script, method="local_fallback"), exc)
        return PipelineResult(await asyncio.to_thread(assemble, draft.title, "lm", list(draft.scenes)))

    async def improve(
        self, current: Storyboard, *, rating: int, comment: str | None, job_id: str = "-"
    ) -> PipelineResult:
        if self.lm is None:
            return PipelineResult(await asyncio.to_thread(improve_heuristic, current, rating, comment))
        try:
            draft = await self.lm.improve(current, rating=rating, comment=comment)
        except LMError as exc:
            logger.warning("job %s: LM failed to improve (%s); using the heuristic", job_id, exc.kind.value)
            LM_FALLBACKS.labels(exc.kind.value).inc()
            return PipelineResult(await asyncio.to_thread(improve_heuristic, current, rating, comment), exc)
        return PipelineResult(await asyncio.to_thread(assemble, draft.title, "lm", list(draft.scenes)))
