"""Figures and how they print: one line each, ``name value [target<=x PASS|MISS]``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Op = Literal["<=", ">=", "=="]


@dataclass(frozen=True, slots=True)
class Target:
    op: Op
    bound: float

    def met_by(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.bound
        if self.op == ">=":
            return value >= self.bound
        return value == self.bound

    def __str__(self) -> str:
        return f"target{self.op}{self.bound:g}"


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float | None  # None: not measured (``note`` says why)
    digits: int = 1
    target: Target | None = None
    note: str = ""

    def line(self) -> str:
        if self.value is None or math.isnan(self.value):
            return f"{self.name} n/a {self.note}".rstrip()
        parts = [self.name, f"{self.value:.{self.digits}f}"]
        if self.target is not None:
            parts += [str(self.target), "PASS" if self.target.met_by(self.value) else "MISS"]
        if self.note:
            parts.append(self.note)
        return " ".join(parts)


def at_most(bound: float) -> Target:
    return Target("<=", bound)


def at_least(bound: float) -> Target:
    return Target(">=", bound)


def exactly(bound: float) -> Target:
    return Target("==", bound)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)
