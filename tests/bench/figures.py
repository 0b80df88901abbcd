"""The figures, in the order a full run measures them; each group returns one or more ``Figure``s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.bench import core_figures, lm_figures, process_figures, render_figures, scale_figures, telegram_figures
from tests.bench.harness import Bench
from tests.bench.report import Figure

Measure = Callable[[Bench], Awaitable[list[Figure]]]

FIGURES: dict[str, Measure] = {
    "ack_latency": telegram_figures.ack_latency,
    "ack_floor": telegram_figures.ack_floor,
    "burst": telegram_figures.burst,
    "ack_throughput": telegram_figures.ack_throughput,
    "delivery": telegram_figures.delivery,
    "steady": telegram_figures.steady,
    "statements": telegram_figures.statements,
    "pipeline": core_figures.pipeline,
    "submit": core_figures.submit,
    "memory": process_figures.memory,
    "startup": process_figures.startup,
    "workers": scale_figures.workers,
    "render": render_figures.render,
    "anchoring": lm_figures.anchoring,
}
