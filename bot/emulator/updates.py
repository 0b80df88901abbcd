"""The bot's update queue, with getUpdates' semantics: increasing update_id; ``offset`` confirms (drops) every
update whose id is lower; a negative offset keeps only the last ``-offset``; one long poll at a time, an older one
being ended with 409 when a newer one starts (as tdlib's ``abort_long_poll`` does)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.emulator.errors import GET_UPDATES_CONFLICT

logger = logging.getLogger(__name__)

JSONDict = dict[str, object]
Observer = Callable[[list[JSONDict]], None]

# Sent unless allowed_updates names them (Bot API: "all update types except chat_member, message_reaction, and
# message_reaction_count").
OPT_IN_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class PollSlot:
    """One waiting getUpdates; ``conflict`` is set when something ends it early."""

    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    conflict: str | None = None


class UpdateQueue:
    def __init__(self, first_update_id: int = 1) -> None:
        self.pending: list[JSONDict] = []
        self.history: dict[int, JSONDict] = {}
        self.next_id = first_update_id
        self.allowed: frozenset[str] | None = None
        self.arrived = asyncio.Event()
        self.closed = False
        self._poll: PollSlot | None = None
        # Called, synchronously, with the updates a getUpdates is about to return, and with those an offset
        # confirms: a crash test kills the bot at exactly that moment.
        self.on_sent: list[Observer] = []
        self.on_confirmed: list[Observer] = []

    @staticmethod
    def update_type(update: JSONDict) -> str:
        return next((key for key in update if key != "update_id"), "")

    def is_allowed(self, update_type: str) -> bool:
        if self.allowed is None:
            return update_type not in OPT_IN_TYPES
        return update_type in self.allowed

    def set_allowed(self, allowed: object | None) -> None:
        """``allowed_updates`` of getUpdates / setWebhook: a list replaces the setting, [] restores the default."""
        if allowed is None:
            return
        if isinstance(allowed, list):
            names = frozenset(str(name) for name in allowed)
            self.allowed = names or None

    def push(self, body: JSONDict, *, update_id: int | None = None) -> int | None:
        """Queue an update (``body`` without update_id); None when allowed_updates filters it out."""
        update_type = self.update_type(body)
        if not self.is_allowed(update_type):
            logger.debug("update of type %s filtered by allowed_updates", update_type)
            return None
        if update_id is None:
            update_id = self.next_id
            self.next_id += 1
        update: JSONDict = {"update_id": update_id, **body}
        self.pending.append(update)
        self.pending.sort(key=lambda item: int(str(item["update_id"])))
        self.history[update_id] = update
        self._wake()
        return update_id

    def confirm(self, offset: int) -> None:
        before = self.pending
        if offset < 0:
            self.pending = self.pending[offset:]
        elif offset > 0:
            self.pending = [update for update in self.pending if int(str(update["update_id"])) >= offset]
        if self.on_confirmed and len(self.pending) < len(before):
            kept = {id(update) for update in self.pending}
            self._notify(self.on_confirmed, [update for update in before if id(update) not in kept])

    def take(self, limit: int) -> list[JSONDict]:
        taken = list(self.pending[:limit])
        if taken:
            self._notify(self.on_sent, taken)
        return taken

    @staticmethod
    def _notify(observers: list[Observer], updates: list[JSONDict]) -> None:
        for observer in list(observers):
            observer(updates)

    def head(self) -> JSONDict | None:
        return self.pending[0] if self.pending else None

    def remove(self, update_id: int) -> None:
        self.pending = [update for update in self.pending if update["update_id"] != update_id]

    def clear(self) -> None:
        self.pending.clear()

    def begin_poll(self) -> PollSlot:
        """A new long poll; the previous one, if still waiting, ends with the getUpdates conflict."""
        self.abort_poll(GET_UPDATES_CONFLICT)
        self._poll = PollSlot()
        return self._poll

    def end_poll(self, slot: PollSlot) -> None:
        if self._poll is slot:
            self._poll = None

    def abort_poll(self, description: str) -> None:
        if self._poll is not None:
            self._poll.conflict = description
            self._poll.wakeup.set()
            self._poll = None

    async def wait(self, slot: PollSlot, timeout_s: float) -> None:
        """Until an update arrives, the poll is aborted, the queue closes, or ``timeout_s`` passes."""
        if self.closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slot.wakeup.wait(), timeout_s)
        slot.wakeup.clear()

    def close(self) -> None:
        """End every long poll (they answer with no updates) and keep new ones from waiting."""
        self.closed = True
        self._wake()

    def reopen(self) -> None:
        self.closed = False

    def _wake(self) -> None:
        self.arrived.set()
        if self._poll is not None:
            self._poll.wakeup.set()
