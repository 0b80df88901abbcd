from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from core.batching import Batcher


class Recorder:
    """A batch function that answers each item with its square, or with an error for a negative one."""

    def __init__(self, *, fail_batch_with: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_batch_with = fail_batch_with

    async def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)  # a transaction takes time; callers arriving meanwhile queue for the next batch
        if self.fail_batch_with is not None and len(self.batches) == 1:
            raise self.fail_batch_with
        return [ValueError(f"negative: {item}") if item < 0 else item * item for item in items]


async def test_concurrent_callers_share_batches_and_each_gets_its_own_result() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run, max_batch=64)

    results = await asyncio.gather(*(batcher(n) for n in range(100)))

    assert results == [n * n for n in range(100)]
    assert [len(batch) for batch in run.batches] == [64, 36]
    assert sorted(item for batch in run.batches for item in batch) == list(range(100))


async def test_a_lone_caller_waits_for_nobody() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)

    assert [await batcher(n) for n in (2, 3)] == [4, 9]
    assert run.batches == [[2], [3]]


async def test_an_error_for_one_item_reaches_only_its_caller() -> None:
    batcher: Batcher[int, int] = Batcher(Recorder())

    results = await asyncio.gather(batcher(0), batcher(-1), batcher(2), return_exceptions=True)

    assert results[0] == 0 and results[2] == 4
    assert isinstance(results[1], ValueError) and str(results[1]) == "negative: -1"


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    run = Recorder(fail_batch_with=RuntimeError("database went away"))
    batcher: Batcher[int, int] = Batcher(run)

    results = await asyncio.gather(*(batcher(n) for n in range(4)), return_exceptions=True)

    assert run.batches == [[0, 1, 2, 3]]
    assert all(isinstance(result, RuntimeError) for result in results)
    assert await batcher(5) == 25


async def test_a_caller_that_gives_up_does_not_take_the_others_down() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    first = asyncio.create_task(batcher(1))
    await asyncio.sleep(0)
    second, third = asyncio.create_task(batcher(2)), asyncio.create_task(batcher(3))
    await asyncio.sleep(0)

    second.cancel()

    assert await first == 1 and await third == 9
    with pytest.raises(asyncio.CancelledError):
        await second
    assert run.batches == [[1], [2, 3]]  # its item was written anyway, as a committed write would be
