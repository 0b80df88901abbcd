from __future__ import annotations

import asyncio

from bot.locks import KeyedLocks


async def test_one_key_runs_one_at_a_time_other_keys_run_alongside_and_idle_keys_are_forgotten() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: int, name: str, pause_s: float) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(pause_s)
            order.append(f"{name} out")

    await asyncio.gather(hold(1, "a", 0.05), hold(1, "b", 0), hold(2, "c", 0))

    assert order.index("a out") < order.index("b in")  # same key: after
    assert order.index("c in") < order.index("a out")  # other key: alongside
    assert len(locks) == 0
