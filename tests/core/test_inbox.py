"""The inbox on both backends: updates stored once, handled in order per chat, replayed after a stop, joined when
they are the parts of one paste, tried again on a transient failure, and pruned after the retention."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from core import inbox as inbox_module
from core.clock import ManualClock, SystemClock
from core.inbox import MAX_REPLAYS, Attempt, Dispatcher, Entry, Inbox, JSONDict, Outcome
from core.owners import Holder, process_name, this_process
from core.paste import MIN_PART_CHARS, TextPart
from storage.db import Database
from storage.tables import inbox as inbox_table

BOT_ID = 4242
HOLDER = Holder(this_process(), lease_s=15.0)


def describe(data: JSONDict) -> tuple[int | None, TextPart | None]:
    chat = data.get("chat")
    text = data.get("text")
    part = TextPart(text, int(data.get("date", 0))) if isinstance(text, str) else None  # type: ignore[call-overload]
    return (chat if isinstance(chat, int) else None), part


def update(update_id: int, chat: int | None, text: str = "hello", date: int = 1000) -> JSONDict:
    return {"update_id": update_id, "chat": chat, "text": text, "date": date}


def make_inbox(db: Database, clock: object | None = None, *, holder: Holder = HOLDER) -> Inbox:
    return Inbox(
        db,
        bot_id=BOT_ID,
        clock=clock or SystemClock(),  # type: ignore[arg-type]
        holder=holder,
        describe=describe,
        retention_days=7,
    )


async def unhandled(inbox: Inbox) -> list[Entry]:
    """What is stored and not handled, whoever holds it, oldest first."""
    rows = await inbox.db.read(
        lambda conn: conn.execute(
            select(inbox_table.c.payload)
            .where(inbox_table.c.bot_id == BOT_ID, inbox_table.c.handled_at.is_(None))
            .order_by(inbox_table.c.update_id)
        ).all()
    )
    return [inbox.entry(json.loads(payload)) for (payload,) in rows]


class Recorder:
    """A handler that records what it was given, optionally slow, and how many ran at once per chat."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[int, ...]] = []
        self.running: Counter[int | None] = Counter()
        self.max_same_chat = 0
        self.max_running = 0

    async def __call__(self, entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        chat = entries[0].chat_id
        self.running[chat] += 1
        self.max_same_chat = max(self.max_same_chat, self.running[chat])
        self.max_running = max(self.max_running, sum(self.running.values()))
        try:
            await asyncio.sleep(self.delay_s)
            self.calls.append(tuple(entry.update_id for entry in entries))
            return Outcome.HANDLED
        finally:
            self.running[chat] -= 1


async def stored(inbox: Inbox, *updates: JSONDict) -> list[Entry]:
    return await inbox.store([inbox.entry(data) for data in updates])


async def test_an_update_sent_again_is_stored_once(db: Database) -> None:
    inbox = make_inbox(db)

    first = await stored(inbox, update(1, 10), update(2, 10))
    again = await stored(inbox, update(2, 10), update(3, 10))

    assert [e.update_id for e in first] == [1, 2]
    assert [e.update_id for e in again] == [3]
    assert [e.update_id for e in await unhandled(inbox)] == [1, 2, 3]


async def test_updates_are_handled_in_order_per_chat_and_chats_side_by_side(db: Database) -> None:
    inbox = make_inbox(db)
    handler = Recorder(delay_s=0.01)
    dispatcher = Dispatcher(inbox, handler, concurrency=8, join_window_s=0.1)
    await dispatcher.start()
    updates = [update(n, chat=n % 3) for n in range(1, 31)]

    dispatcher.feed(await stored(inbox, *updates))
    await dispatcher.wait_idle()
    await dispatcher.stop()

    by_chat = defaultdict(list)
    for (update_id,) in handler.calls:
        by_chat[update_id % 3].append(update_id)
    assert all(ids == sorted(ids) for ids in by_chat.values())
    assert sorted(u for (u,) in handler.calls) == list(range(1, 31))
    assert handler.max_same_chat == 1  # a chat's next update waits for its previous one
    assert handler.max_running > 1  # while other chats go on
    assert await unhandled(inbox) == []


async def test_what_a_stop_left_unhandled_is_handled_at_the_next_start_and_the_rest_never_again(
    db: Database,
) -> None:
    inbox = make_inbox(db)
    gate = asyncio.Event()

    async def stuck_on_three(entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        if entries[0].update_id == 3:
            await gate.wait()  # still being handled when the process goes
        first_run.append(entries[0].update_id)
        return Outcome.HANDLED

    first_run: list[int] = []
    dispatcher = Dispatcher(inbox, stuck_on_three, concurrency=4, join_window_s=0.1)
    await dispatcher.start()
    dispatcher.feed(await stored(inbox, *(update(n, chat=7) for n in range(1, 6))))
    while first_run != [1, 2]:
        await asyncio.sleep(0.01)
    await dispatcher.stop(timeout_s=0.1)

    second = Recorder()
    restarted = Dispatcher(make_inbox(db), second, concurrency=4, join_window_s=0.1)
    await restarted.start()
    await restarted.wait_idle()
    await restarted.stop()

    assert [ids for ids in second.calls] == [(3,), (4,), (5,)]


async def test_an_update_found_unhandled_at_every_start_is_given_up(db: Database) -> None:
    inbox = make_inbox(db)
    await stored(inbox, update(1, 5))

    found = [await inbox.start_replay() for _ in range(MAX_REPLAYS + 1)]

    assert [len(entries) for entries in found] == [1] * MAX_REPLAYS + [0]
    assert await unhandled(inbox) == []


async def test_a_transient_failure_is_tried_again_and_the_chat_waits_for_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_module, "RETRY_BACKOFF_S", (0.01, 0.01, 0.01))
    inbox = make_inbox(db)
    attempts: Counter[int] = Counter()
    order: list[int] = []

    async def flaky(entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        update_id = entries[0].update_id
        attempts[update_id] += 1
        if update_id == 1 and attempts[1] <= 2:
            return Outcome.RETRY
        order.append(update_id)
        return Outcome.HANDLED

    dispatcher = Dispatcher(inbox, flaky, concurrency=4, join_window_s=0.1)
    await dispatcher.start()
    dispatcher.feed(await stored(inbox, update(1, 9), update(2, 9)))
    await dispatcher.wait_idle()
    await dispatcher.stop()

    assert attempts == {1: 3, 2: 1}
    assert order == [1, 2]
    assert await unhandled(inbox) == []


async def test_the_last_try_is_said_so_and_then_the_update_is_done_with(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_module, "RETRY_BACKOFF_S", (0.01, 0.01))
    inbox = make_inbox(db)
    tries: list[tuple[bool, bool]] = []

    async def always_failing(entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        tries.append((attempt.first, attempt.last))
        return Outcome.RETRY

    dispatcher = Dispatcher(inbox, always_failing, concurrency=1, join_window_s=0.1)
    await dispatcher.start()
    dispatcher.feed(await stored(inbox, update(1, 9)))
    await dispatcher.wait_idle()
    await dispatcher.stop()

    assert tries == [(True, False), (False, False), (False, True)]  # on the last, the user is told it failed
    assert await unhandled(inbox) == []  # and the update is done with: it cannot wedge its chat


async def test_the_parts_of_a_long_paste_are_handled_as_one_and_a_short_message_waits_for_nothing(
    db: Database,
) -> None:
    inbox = make_inbox(db)
    handler = Recorder()
    dispatcher = Dispatcher(inbox, handler, concurrency=8, join_window_s=0.5)
    await dispatcher.start()
    long_text = "x" * MIN_PART_CHARS
    loop = asyncio.get_running_loop()

    dispatcher.feed(await stored(inbox, update(1, chat=1, text=long_text), update(2, chat=2, text="short")))
    started = loop.time()
    while (2,) not in handler.calls:
        await asyncio.sleep(0.005)
    short_waited_s = loop.time() - started
    await asyncio.sleep(0.1)  # the second part comes a moment later
    dispatcher.feed(await stored(inbox, update(3, chat=1, text=long_text), update(4, chat=1, text="the end")))
    dispatcher.feed(await stored(inbox, update(5, chat=3, text=long_text)))  # a long message alone
    await dispatcher.wait_idle()
    await dispatcher.stop()

    assert short_waited_s < 0.4
    assert (1, 3, 4) in handler.calls
    assert (5,) in handler.calls
    assert await unhandled(inbox) == []


async def test_a_long_message_and_one_dated_later_are_two_scripts(db: Database) -> None:
    inbox = make_inbox(db)
    handler = Recorder()
    dispatcher = Dispatcher(inbox, handler, concurrency=8, join_window_s=0.5)
    await dispatcher.start()

    dispatcher.feed(
        await stored(inbox, update(1, chat=1, text="x" * MIN_PART_CHARS, date=100), update(2, chat=1, date=103))
    )
    await dispatcher.wait_idle()
    await dispatcher.stop()

    assert handler.calls == [(1,), (2,)]


async def test_handled_updates_are_pruned_after_the_retention_and_unhandled_ones_never(db: Database) -> None:
    clock = ManualClock()
    inbox = make_inbox(db, clock)
    await stored(inbox, update(1, 5), update(2, 5))
    await inbox.mark_handled([1])

    clock.advance(6 * 24 * 3600)
    kept = await inbox.prune()
    clock.advance(2 * 24 * 3600)
    pruned = await inbox.prune()

    assert (kept, pruned) == (0, 1)
    assert [e.update_id for e in await unhandled(inbox)] == [2]


async def test_an_id_telegram_reuses_after_a_day_is_a_new_update(db: Database) -> None:
    clock = ManualClock()
    inbox = make_inbox(db, clock)
    await stored(inbox, update(1, 5, text="old"))
    await inbox.mark_handled([1])

    clock.advance(2 * 24 * 3600)  # Telegram starts ids anew after a week without updates
    new = await stored(inbox, update(1, 5, text="new"))

    assert [e.data["text"] for e in new] == ["new"]
    assert [e.data["text"] for e in await unhandled(inbox)] == ["new"]


def a_dead_process_here() -> str:
    """The owner name of a process of this host that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return process_name(int(child.stdout))


async def test_updates_another_live_process_holds_are_left_to_it_until_its_lease_runs_out(db: Database) -> None:
    clock = ManualClock()
    draining = make_inbox(db, clock, holder=Holder("old-machine:1", lease_s=15.0))
    await stored(draining, update(1, 5), update(2, 6))

    newcomer = make_inbox(db, clock, holder=Holder("new-machine:1", lease_s=15.0))
    at_start = await newcomer.start_replay()
    clock.advance(10)
    before_expiry = (await newcomer.keep(frozenset())).found
    clock.advance(6)  # the old one renewed nothing: it died with its machine
    after_expiry = (await newcomer.keep(frozenset())).found

    assert (at_start, before_expiry) == ([], [])
    assert [e.update_id for e in after_expiry] == [1, 2]


async def test_a_renewed_hold_is_kept_and_a_released_one_is_taken_at_once(db: Database) -> None:
    clock = ManualClock()
    draining = make_inbox(db, clock, holder=Holder("old-machine:1", lease_s=15.0))
    await stored(draining, update(1, 5), update(2, 6))
    newcomer = make_inbox(db, clock, holder=Holder("new-machine:1", lease_s=15.0))

    clock.advance(10)
    await draining.keep(frozenset({1, 2}))  # alive: it renews
    clock.advance(10)
    while_renewed = (await newcomer.keep(frozenset())).found
    await draining.mark_handled([1])
    await draining.release()  # it stops, 2 unhandled
    after_release = (await newcomer.keep(frozenset())).found

    assert while_renewed == []
    assert [e.update_id for e in after_release] == [2]


async def test_a_dead_process_of_this_host_is_taken_over_at_once(db: Database) -> None:
    dead = make_inbox(db, holder=Holder(a_dead_process_here(), lease_s=600.0))
    await stored(dead, update(1, 5))

    restarted = make_inbox(db)

    assert [e.update_id for e in await restarted.start_replay()] == [1]


async def test_updates_taken_by_another_process_while_this_one_was_cut_off_are_left_to_it(db: Database) -> None:
    """This process could not renew its hold for longer than the lease (cut off from the database): another took
    its updates. At its next renewal it learns so, and leaves those still waiting to the other."""
    clock = ManualClock()
    gate = asyncio.Event()
    handled: list[int] = []

    async def slow(entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        await gate.wait()
        handled.append(entries[0].update_id)
        return Outcome.HANDLED

    cut_off = make_inbox(db, clock, holder=Holder("old-machine:1", lease_s=15.0))
    dispatcher = Dispatcher(cut_off, slow, concurrency=4, join_window_s=0.1)
    dispatcher.feed(await stored(cut_off, update(1, 5), update(2, 5), update(3, 5)))  # 1 being handled, 2 and 3 wait
    await asyncio.sleep(0.05)
    clock.advance(20)
    other = make_inbox(db, clock, holder=Holder("new-machine:1", lease_s=15.0))
    taken = await other.keep(frozenset())

    kept = await cut_off.keep(frozenset(dispatcher._known))
    dispatcher._drop_lost(kept.lost)
    gate.set()
    await dispatcher.wait_idle()
    await dispatcher.stop()

    assert [e.update_id for e in taken.found] == [1, 2, 3]
    assert kept.lost == {1, 2, 3}
    assert handled == [1]  # already under way here; 2 and 3 are the other's


async def test_an_update_that_comes_late_goes_before_the_newer_ones_of_its_chat_still_waiting(db: Database) -> None:
    inbox = make_inbox(db)
    gate = asyncio.Event()
    order: list[int] = []

    async def handler(entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        if entries[0].update_id == 2:
            await gate.wait()
        order.append(entries[0].update_id)
        return Outcome.HANDLED

    dispatcher = Dispatcher(inbox, handler, concurrency=4, join_window_s=0.1)
    dispatcher.feed(await stored(inbox, update(2, 5), update(4, 5)))
    await asyncio.sleep(0.02)  # 2 is being handled, 4 waits
    dispatcher.feed(await stored(inbox, update(1, 5), update(3, 5)))  # taken over from a dead process, say
    gate.set()
    await dispatcher.wait_idle()
    await dispatcher.stop()

    assert order == [2, 1, 3, 4]
