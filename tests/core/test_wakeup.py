from __future__ import annotations

import asyncio

from core.wakeup import Wakeup


async def test_notify_one_wakes_exactly_one_of_several_waiters() -> None:
    wakeup = Wakeup()
    waiters = [asyncio.create_task(wakeup.wait(5)) for _ in range(3)]
    await asyncio.sleep(0)

    wakeup.notify_one()
    done, pending = await asyncio.wait(waiters, timeout=0.2)
    wakeup.notify()
    await asyncio.gather(*pending)

    assert len(done) == 1


async def test_a_nudge_given_while_nobody_waits_is_kept_for_the_next_wait() -> None:
    wakeup = Wakeup()
    wakeup.notify_one()

    await asyncio.wait_for(wakeup.wait(5), 1)  # returns at once


async def test_wait_times_out_without_a_nudge() -> None:
    wakeup = Wakeup()

    await wakeup.wait(0.01)

    assert not wakeup._waiters  # a timed-out waiter leaves nothing behind
