"""The inbox: an update is a row before Telegram hears that the bot has it, and it is handled from that row.

Three steps, each safe to crash in:

1. **store**: the updates of one getUpdates answer (or one webhook POST) become rows in one transaction, keyed
   by the bot and update_id, their JSON as it came. Only after the commit is Telegram told (the next offset, the
   200 answer). What it did not hear of, it sends again; a row stored already adds nothing.
2. **handle**: the ``Dispatcher`` hands each stored update to the platform's handler, in order per chat (a
   chat's next update starts when its previous one is done; chats run side by side). Text messages that are
   the parts of one long paste are handed over together (``core.paste``). A handling that meets a transient
   failure (the database went away) is tried again, the chat waiting meanwhile.
3. **mark**: a handled update is marked so: in the transaction of the job it made (``Intake`` takes the update
   ids), else just after its handler returned. An update handled but not yet marked at a crash is handled again
   after the restart; per-message idempotency keeps it from making a second job.

Each stored update is held by the process that stored it (``core.owners``): a lease it renews every third of
``BOT_LEASE_S`` and lets go of when it stops. At start, every stored unhandled update that is free (its holder
stopped, died on this host, or let its lease run out) is handled before anything new (``replay``); later ones
that come free (a process that died on another machine) are taken as their leases run out. One taken over
``MAX_REPLAYS`` times (each holder died before handling it) is given up with a log line. So two processes alive
together, as in a rolling deploy, never handle one update twice. Handled rows are deleted after a retention
(``INBOX_RETENTION_DAYS``), so the table stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.engine import Connection

from core import failpoints, owners
from core.clock import Clock
from core.metrics import UPDATES
from core.owners import Holder
from core.paste import MAX_PARTS, TextPart, continues
from storage import inbox as inbox_queries
from storage.db import Database
from storage.records import InboxRecord

logger = logging.getLogger(__name__)

MAX_REPLAYS = 3  # starts that find an update unhandled before it is given up
LOST_AFTER_S = 30.0  # an update of ours stored this long ago and held by no lane here is fed again (a safety net)
PRUNE_EVERY_S = 3600.0
PRUNE_CHUNK = 5000
RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 30.0)  # then the handler is told it is the last try
MARK_RETRY_S = 1.0

JSONDict = dict[str, object]


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored update: its id, its chat (None: an update of no chat), its JSON, and, for a text message
    that may be part of a long paste, what the joiner needs."""

    update_id: int
    chat_id: int | None
    data: JSONDict
    part: TextPart | None = None

    @property
    def lane(self) -> tuple[str, int]:
        """Updates of one chat are handled in order; an update of no chat waits for nobody."""
        return ("chat", self.chat_id) if self.chat_id is not None else ("update", self.update_id)


class Outcome(Enum):
    HANDLED = "handled"
    RETRY = "retry"  # a transient failure: try again later


@dataclass(frozen=True, slots=True)
class Attempt:
    """Which try of an update's handling this is."""

    first: bool  # a retry must not count the update again (the flood guard did the first time)
    last: bool  # no try comes after this one: the platform tells the user it failed


Describe = Callable[[JSONDict], tuple[int | None, TextPart | None]]  # an update's chat, and its text part
Handler = Callable[[Sequence[Entry], Attempt], Awaitable[Outcome]]


class Inbox:
    """One bot's stored updates."""

    def __init__(
        self, db: Database, *, bot_id: int, clock: Clock, holder: Holder, describe: Describe, retention_days: float
    ) -> None:
        self.db = db
        self.bot_id = bot_id
        self.holder = holder
        self.clock = clock
        self.describe = describe
        self.retention = timedelta(days=retention_days)

    def entry(self, data: JSONDict) -> Entry:
        """An update as the platform sent it; ValueError when it has no integer update_id."""
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise ValueError("an update needs an integer update_id")
        chat_id, part = self.describe(data)
        return Entry(update_id, chat_id, data, part)

    async def store(self, entries: Sequence[Entry]) -> list[Entry]:
        """Store the entries in one transaction; returns those not stored before, in order. When this returns,
        they are safe: the platform may be told."""
        if not entries:
            return []
        rows = [
            inbox_queries.NewUpdate(
                e.update_id, e.chat_id, json.dumps(e.data, ensure_ascii=False, separators=(",", ":"))
            )
            for e in entries
        ]
        new = await self.db.write(_store, self.bot_id, rows, self.holder, self.clock.now())
        failpoints.reached("inbox.stored")
        UPDATES.labels("stored").inc(len(new))
        UPDATES.labels("resent").inc(len(entries) - len(new))
        return [e for e in entries if e.update_id in new]

    async def start_replay(self) -> list[Entry]:
        """Hold every free unhandled update (a replay counted for each), give up on those replayed too often,
        and return the rest, oldest first."""
        taken, poisoned = await self.db.write(_take, self.bot_id, self.holder, self.clock.now(), own_too=True)
        self._given_up(poisoned)
        return [self._entry_of(record) for record in taken]

    async def keep(self, known: frozenset[int]) -> Kept:
        """Renew this process's hold on its updates, and say what changed: the updates to handle now (those that
        came free: their holder died or let go; and any of its own stored ``LOST_AFTER_S`` ago that are not in
        ``known``, held by nothing here: a handling lost to a bug), and those of ``known`` that are no longer
        its own (another process took them while this one could not renew: cut off from the database for
        longer than the lease)."""
        now = self.clock.now()
        taken, poisoned, lost = await self.db.write(
            _keep, self.bot_id, self.holder, known, now, now - timedelta(seconds=LOST_AFTER_S)
        )
        self._given_up(poisoned)
        return Kept([self._entry_of(record) for record in taken], lost)

    async def release(self) -> int:
        """Let go of this process's unhandled updates (it stops): another process takes them at once."""
        return await self.db.write(inbox_queries.release, self.bot_id, owner=self.holder.name)

    def _entry_of(self, record: InboxRecord) -> Entry:
        return self.entry(json.loads(record.payload))

    @staticmethod
    def _given_up(poisoned: Sequence[InboxRecord]) -> None:
        for record in poisoned:
            UPDATES.labels("given_up").inc()
            logger.error(
                "update %s (chat %s) was taken over %d times, each holder dying before it was handled; given up",
                record.update_id,
                record.chat_id,
                MAX_REPLAYS + 1,
            )

    async def mark_handled(self, update_ids: Iterable[int]) -> None:
        await self.db.write(inbox_queries.mark_handled, self.bot_id, list(update_ids), now=self.clock.now())

    async def prune(self) -> int:
        """Delete the handled updates older than the retention; returns how many."""
        before = self.clock.now() - self.retention
        total = 0
        while True:
            deleted = await self.db.write(inbox_queries.prune, self.bot_id, handled_before=before, limit=PRUNE_CHUNK)
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total


def _store(
    conn: Connection, bot_id: int, rows: Sequence[inbox_queries.NewUpdate], holder: Holder, now: datetime
) -> set[int]:
    new = inbox_queries.store(conn, bot_id, rows, owner=holder.name, until=holder.until(now), now=now)
    failpoints.reached("inbox.store.uncommitted")  # mid-transaction: nothing of it is stored
    return new


_Taken = tuple[list[InboxRecord], list[InboxRecord]]


def _take(conn: Connection, bot_id: int, holder: Holder, now: datetime, *, own_too: bool) -> _Taken:
    gone = owners.dead(inbox_queries.owners(conn, bot_id), alive=holder.name)
    return inbox_queries.take(
        conn,
        bot_id,
        owner=holder.name,
        gone=gone,
        until=holder.until(now),
        now=now,
        max_replays=MAX_REPLAYS,
        own_too=own_too,
    )


def _keep(
    conn: Connection, bot_id: int, holder: Holder, known: frozenset[int], now: datetime, stray_before: datetime
) -> tuple[list[InboxRecord], list[InboxRecord], frozenset[int]]:
    inbox_queries.renew(conn, bot_id, owner=holder.name, until=holder.until(now))
    own = inbox_queries.held(conn, bot_id, owner=holder.name)
    taken, poisoned = _take(conn, bot_id, holder, now, own_too=False)
    fresh = {record.update_id for record in taken}
    stray = [
        update_id
        for update_id, received_at in own
        if received_at < stray_before and update_id not in known and update_id not in fresh
    ]
    if stray:
        logger.warning("%d stored update(s) were held by nobody here; handling them now", len(stray))
    records = sorted([*taken, *inbox_queries.load(conn, bot_id, stray)], key=lambda record: record.update_id)
    not_own = known - {update_id for update_id, _ in own}  # handled meanwhile, most of them
    lost = {r.update_id for r in inbox_queries.load(conn, bot_id, not_own) if r.handled_at is None}
    return records, poisoned, frozenset(lost)


@dataclass(frozen=True, slots=True)
class Kept:
    """What a renewal of the hold found: updates to handle now, and updates fed here that another process holds
    now."""

    found: list[Entry]
    lost: frozenset[int]


def _insert_in_order(queue: deque[Entry], entry: Entry) -> None:
    """Queue ``entry`` by update_id: one that comes late (taken from a process that died, found stray) goes
    before the newer ones of its chat still waiting."""
    position = len(queue)
    while position and queue[position - 1].update_id > entry.update_id:
        position -= 1
    queue.insert(position, entry)


@dataclass
class _Lane:
    queue: deque[Entry] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Dispatcher:
    """Hands stored updates to ``handler`` in order per chat, ``concurrency`` chats at a time, and marks them
    handled. ``feed`` takes entries that are stored already."""

    def __init__(self, inbox: Inbox, handler: Handler, *, concurrency: int, join_window_s: float) -> None:
        self.inbox = inbox
        self.handler = handler
        self.join_window_s = join_window_s
        self._slots = asyncio.Semaphore(concurrency)
        self._lanes: dict[tuple[str, int], _Lane] = {}
        self._known: set[int] = set()  # fed and not yet marked handled
        self._to_mark: set[int] = set()
        self._marked_while_scanning: set[int] | None = None  # a scan's rows may predate these marks
        self._marker: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._accepting = True
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        """Replay what a previous run left unhandled, then keep the safety net and the pruning going."""
        self.feed(await self.inbox.start_replay(), replayed=True)
        self._background = [
            asyncio.create_task(self._keep_forever(), name="inbox-leases"),
            asyncio.create_task(self._prune_forever(), name="inbox-prune"),
        ]

    def feed(self, entries: Iterable[Entry], *, replayed: bool = False) -> None:
        """Queue stored entries for handling (in the order given: update_id order, within a chat)."""
        if not self._accepting:
            return
        for entry in entries:
            if entry.update_id in self._known:
                continue
            self._known.add(entry.update_id)
            if replayed:
                UPDATES.labels("replayed").inc()
            lane = self._lanes.get(entry.lane)
            if lane is None:
                lane = self._lanes[entry.lane] = _Lane()
            _insert_in_order(lane.queue, entry)
            lane.arrived.set()
            if lane.task is None:
                self._idle.clear()
                lane.task = asyncio.create_task(self._run_lane(entry.lane, lane), name="inbox-lane")

    async def wait_idle(self) -> None:
        """Until every fed update is handled and marked (tests, the benchmark)."""
        while True:
            await self._idle.wait()
            if self._marker is not None:
                await asyncio.shield(self._marker)
            if not self._known:
                return
            await asyncio.sleep(0.01)

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """Take nothing more; handlings under way get ``timeout_s`` to finish. What was waiting stays stored and
        unhandled, for the next start."""
        self._accepting = False
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for lane in self._lanes.values():
            lane.queue.clear()
            lane.arrived.set()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._marker is not None:  # the marks of what was handled; what is not written is handled again
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._marker, timeout_s)  # cancels it past the timeout
        try:
            released = await self.inbox.release()
        except Exception as exc:
            logger.warning("could not let go of the stored updates (%r); their lease runs out instead", exc)
        else:
            if released:
                logger.info("%d stored update(s) left unhandled for the next process", released)

    async def _run_lane(self, key: tuple[str, int], lane: _Lane) -> None:
        try:
            while lane.queue:
                group = await self._take_group(lane)
                if group:
                    await self._handle(group)
        finally:
            lane.task = None
            if not lane.queue:
                del self._lanes[key]
            if not self._lanes:
                self._idle.set()

    async def _take_group(self, lane: _Lane) -> list[Entry]:
        """The lane's next entry, with the parts of a long paste that follow it within the window."""
        group = [lane.queue.popleft()]
        loop = asyncio.get_running_loop()
        while len(group) < MAX_PARTS and group[-1].part is not None and group[-1].part.may_continue:
            if not lane.queue:
                lane.arrived.clear()
                deadline = loop.time() + self.join_window_s
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await lane.arrived.wait()
                if not self._accepting:
                    return []  # stopping: the parts stay stored, the next start joins them
                if not lane.queue:
                    break
            following = lane.queue[0]
            if following.part is None or not continues(group[-1].part, following.part):
                break
            group.append(lane.queue.popleft())
        if len(group) > 1:
            UPDATES.labels("joined").inc(len(group))
        return group

    async def _handle(self, group: list[Entry]) -> None:
        for attempt, backoff_s in enumerate((*RETRY_BACKOFF_S, None)):
            async with self._slots:
                try:
                    outcome = await self.handler(group, Attempt(first=attempt == 0, last=backoff_s is None))
                except Exception:  # the handler's own error handling failed: log, count it handled
                    logger.exception("update %s could not be handled", group[0].update_id)
                    outcome = Outcome.HANDLED
            if outcome is Outcome.HANDLED or backoff_s is None or not self._accepting:
                break
            UPDATES.labels("retried").inc()
            logger.warning(
                "update %s meets a transient failure; try %d again in %.1f s",
                group[0].update_id,
                attempt + 2,
                backoff_s,
            )
            await asyncio.sleep(backoff_s)
        update_ids = [entry.update_id for entry in group]
        if outcome is Outcome.RETRY and self._accepting:  # its last try failed too: the user was told so
            UPDATES.labels("given_up").inc(len(group))
            logger.error("update %s failed %d tries; given up", group[0].update_id, len(RETRY_BACKOFF_S) + 1)
            outcome = Outcome.HANDLED
        if outcome is Outcome.HANDLED:
            UPDATES.labels("handled").inc(len(group))
            self._mark(update_ids)
        else:  # stopping: it stays stored and unhandled, for the next start
            self._known.difference_update(update_ids)

    def _mark(self, update_ids: list[int]) -> None:
        """Mark handled in a group commit: the ids handled while the previous marks are written go together."""
        self._to_mark.update(update_ids)
        if self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._write_marks(), name="inbox-marks")

    async def _write_marks(self) -> None:
        while self._to_mark:
            batch, self._to_mark = self._to_mark, set()
            try:
                await self.inbox.mark_handled(batch)
            except Exception as exc:  # the database went away: keep the ids, try again
                logger.warning("could not mark %d update(s) handled (%r); trying again", len(batch), exc)
                self._to_mark |= batch
                await asyncio.sleep(MARK_RETRY_S)
                continue
            self._known -= batch
            if self._marked_while_scanning is not None:
                self._marked_while_scanning |= batch

    async def _keep_forever(self) -> None:
        """Renew the hold on this process's updates, and feed those that came free, or that nobody here holds."""
        while True:
            await asyncio.sleep(self.inbox.holder.renew_every_s)
            self._marked_while_scanning = set()
            try:
                kept = await self.inbox.keep(frozenset(self._known))
                marked, self._marked_while_scanning = self._marked_while_scanning, None
                self._drop_lost(kept.lost - marked)
                self.feed(entry for entry in kept.found if entry.update_id not in marked)
            except Exception as exc:
                logger.warning("could not renew the hold on stored updates: %r", exc)
            finally:
                self._marked_while_scanning = None

    def _drop_lost(self, update_ids: frozenset[int]) -> None:
        """Updates another process took from this one (it could not renew its hold in time): those still waiting
        here are left to it; one being handled now cannot be called back, and may be handled twice."""
        lost = update_ids & self._known
        if not lost:
            return
        waiting = 0
        for lane in self._lanes.values():
            kept = deque(entry for entry in lane.queue if entry.update_id not in lost)
            waiting += len(lane.queue) - len(kept)
            lane.queue = kept
        self._known -= lost
        logger.warning(
            "%d update(s) held here were taken by another process (this one could not renew its hold for %.0f s): "
            "%d left to it, %d being handled here already may be handled twice",
            len(lost),
            self.inbox.holder.lease_s,
            waiting,
            len(lost) - waiting,
        )

    async def _prune_forever(self) -> None:
        while True:
            try:
                pruned = await self.inbox.prune()
                if pruned:
                    logger.info("pruned %d handled update(s) older than the retention", pruned)
            except Exception as exc:
                logger.warning("could not prune the inbox: %r", exc)
            await asyncio.sleep(PRUNE_EVERY_S)
