"""Injected failures, configurable while the emulator runs and repeatable with a seed.

    emu.faults.set(methods={"sendMessage"}, p_429=0.2, retry_after=1, p_5xx=0.05, seed=1)   # random, seeded
    emu.faults.push("sendMessage", Fault.too_many(2), Fault.server_error())                # the next two calls
    emu.faults.clear()

Kinds: ``429`` (Too Many Requests with retry_after), ``5xx`` (502 Bad Gateway by default, as Telegram's JSON or an
nginx HTML page), ``drop`` (the connection is closed without an answer), ``drop_after`` (the call takes effect, then
the connection is closed: the lost-response case that makes retries send twice) and added latency. Apart from
``drop_after`` a faulted call takes no effect.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

FaultKind = Literal["429", "5xx", "drop", "drop_after"]
BodyStyle = Literal["json", "nginx"]

SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendVideo",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
        "sendChatAction",
    }
)
ALL_METHODS = "*"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    retry_after: int = 1
    status: int = 502
    body: BodyStyle = "json"

    @classmethod
    def too_many(cls, retry_after: int = 1) -> Fault:
        return cls("429", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 502, body: BodyStyle = "json") -> Fault:
        return cls("5xx", status=status, body=body)

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def drop_after_effect(cls) -> Fault:
        return cls("drop_after")


@dataclass
class FaultRule:
    methods: frozenset[str] | None  # lower-case names; None: every method
    p_429: float = 0.0
    retry_after: int = 1
    p_5xx: float = 0.0
    status_5xx: int = 502
    body_5xx: BodyStyle = "json"
    p_drop: float = 0.0
    p_drop_after: float = 0.0
    latency_s: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, method: str) -> bool:
        return self.methods is None or method.lower() in self.methods

    def roll(self) -> Fault | None:
        """One draw per probability, always in the same order, so a seed replays the same sequence."""
        draws = [self.rng.random() for _ in range(4)]
        if draws[0] < self.p_drop:
            return Fault.drop()
        if draws[1] < self.p_drop_after:
            return Fault.drop_after_effect()
        if draws[2] < self.p_429:
            return Fault.too_many(self.retry_after)
        if draws[3] < self.p_5xx:
            return Fault.server_error(self.status_5xx, self.body_5xx)
        return None


@dataclass(frozen=True)
class Decision:
    latency_s: float = 0.0
    fault: Fault | None = None


def _method_set(methods: Iterable[str] | str | None) -> frozenset[str] | None:
    if methods is None:
        return frozenset(name.lower() for name in SENDING_METHODS)
    if methods == ALL_METHODS:
        return None
    if isinstance(methods, str):
        return frozenset({methods.lower()})
    return frozenset(name.lower() for name in methods)


class Faults:
    """The fault plan of one emulator."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._queued: dict[str, deque[Fault]] = {}

    def set(
        self,
        *,
        methods: Iterable[str] | str | None = None,
        p_429: float = 0.0,
        retry_after: int = 1,
        p_5xx: float = 0.0,
        status_5xx: int = 502,
        body_5xx: BodyStyle = "json",
        p_drop: float = 0.0,
        p_drop_after: float = 0.0,
        latency_s: float = 0.0,
        seed: int | None = None,
    ) -> FaultRule:
        """Replace the random rules with one. ``methods``: names, ``"*"`` for all, None for the sending methods."""
        self.rules.clear()
        return self.add(
            methods=methods,
            p_429=p_429,
            retry_after=retry_after,
            p_5xx=p_5xx,
            status_5xx=status_5xx,
            body_5xx=body_5xx,
            p_drop=p_drop,
            p_drop_after=p_drop_after,
            latency_s=latency_s,
            seed=seed,
        )

    def add(
        self,
        *,
        methods: Iterable[str] | str | None = None,
        p_429: float = 0.0,
        retry_after: int = 1,
        p_5xx: float = 0.0,
        status_5xx: int = 502,
        body_5xx: BodyStyle = "json",
        p_drop: float = 0.0,
        p_drop_after: float = 0.0,
        latency_s: float = 0.0,
        seed: int | None = None,
    ) -> FaultRule:
        """Add a rule next to the existing ones (the first rule that fires wins; latencies add up)."""
        rule = FaultRule(
            _method_set(methods),
            p_429=p_429,
            retry_after=retry_after,
            p_5xx=p_5xx,
            status_5xx=status_5xx,
            body_5xx=body_5xx,
            p_drop=p_drop,
            p_drop_after=p_drop_after,
            latency_s=latency_s,
            rng=random.Random(seed),
        )
        self.rules.append(rule)
        return rule

    def push(self, method: str, *faults: Fault) -> None:
        """Make the next calls of ``method`` (``"*"``: of any method) fail with ``faults``, in order."""
        self._queued.setdefault(method.lower(), deque()).extend(faults)

    def clear(self) -> None:
        self.rules.clear()
        self._queued.clear()

    def decide(self, method: str) -> Decision:
        for key in (method.lower(), ALL_METHODS):
            queue = self._queued.get(key)
            if queue:
                return Decision(fault=queue.popleft())
        latency_s = 0.0
        fault: Fault | None = None
        for rule in self.rules:
            if not rule.matches(method):
                continue
            latency_s += rule.latency_s
            rolled = rule.roll()
            if fault is None:
                fault = rolled
        return Decision(latency_s, fault)
