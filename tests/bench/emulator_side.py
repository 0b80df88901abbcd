"""The Telegram side of the benchmarks, in a process of its own: the Bot API emulator plus the users that load it.

Real Telegram is another machine; here it gets its own process (and core), so the emulator's HTTP parsing and the
load generator are not billed to the bot under test. Both ends of every latency are stamped in this process with
one clock (``time.time``, the clock ``Call.started`` uses): the moment an update is queued for the bot and the
moment the bot's answer reaches the emulator.

The parent drives it with ``EmulatorSide`` (one request at a time over a pipe):

    async with EmulatorSide.start(TOKEN) as emu:
        await emu.flood(FloodLimits())            # or None: off
        pushed = await emu.send(schedule, text)   # [(offset_s, user_id)] -> {user_id: queued_at}
        replies = await emu.wait_for_sends(user_ids, timeout_s=30)
        calls = await emu.calls()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bot.emulator import BotAPIEmulator, FloodLimits
from bot.emulator.model import JSONDict
from bot.emulator.params import Params

logger = logging.getLogger(__name__)

SENDS = ("sendMessage", "sendDocument")
COMMANDS = frozenset({"flood", "reset", "open_chats", "send", "wait_for_sends", "wait_call", "calls"})
START_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the benchmarks need of one recorded Bot API call."""

    method: str
    status: int
    started: float  # wall clock, when the request reached the emulator
    chat_id: int | None

    @property
    def ok(self) -> bool:
        return self.status == 200


class _Side:
    """Runs in the child: every public coroutine is a command the parent may send."""

    def __init__(self, emu: BotAPIEmulator) -> None:
        self.emu = emu
        self.arrivals: list[tuple[str, float]] = []  # (method, when it began executing)
        execute = emu.execute

        async def stamped(method: str, params: Params) -> tuple[int, JSONDict]:
            # A long poll is recorded in ``calls`` only when it returns; this sees it arrive.
            self.arrivals.append((method, time.time()))
            return await execute(method, params)

        emu.execute = stamped  # type: ignore[method-assign]

    async def flood(self, limits: dict[str, Any] | None) -> None:
        self.emu.flood.configure(FloodLimits(**limits) if limits is not None else None)

    async def reset(self) -> None:
        """Forget the recorded calls (each measurement reads only its own)."""
        self.emu.calls.clear()
        self.arrivals.clear()

    async def open_chats(self, user_ids: list[int]) -> None:
        """Users who have talked to the bot before, so it may write to them first."""
        for user_id in user_ids:
            self.emu.user(user_id).chat.info.started = True

    async def send(self, schedule: list[tuple[float, int]], text: str) -> dict[int, float]:
        """Each user sends ``text`` at its offset from now; returns when each update was queued."""
        users = {user_id: self.emu.user(user_id) for _, user_id in schedule}
        loop = asyncio.get_running_loop()
        start = loop.time()
        queued: dict[int, float] = {}
        for offset_s, user_id in sorted(schedule):
            delay_s = start + offset_s - loop.time()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            queued[user_id] = time.time()
            await users[user_id].send_text(text)
        return queued

    async def wait_for_sends(
        self, chat_ids: list[int], timeout_s: float, methods: list[str] | None = None
    ) -> dict[int, float]:
        """The first successful send (of ``methods``) to each chat; returns early if all have one."""
        wanted, names = set(chat_ids), set(methods or ["sendMessage"])
        first: dict[int, float] = {}
        seen = 0
        deadline = time.monotonic() + timeout_s
        while len(first) < len(wanted) and time.monotonic() < deadline:
            calls = self.emu.calls
            for call in calls[seen:]:
                chat_id = _chat_id(call.params)
                if call.ok and call.method in names and chat_id in wanted and chat_id not in first:
                    first[chat_id] = call.started
            seen = len(calls)
            await asyncio.sleep(0.01)
        return first

    async def wait_call(self, method: str, timeout_s: float) -> float | None:
        """When the first call of ``method`` began (waiting up to ``timeout_s``), None if none did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, when in self.arrivals:
                if name == method:
                    return when
            await asyncio.sleep(0.005)
        return None

    async def calls(self) -> list[CallInfo]:
        return [CallInfo(call.method, call.status, call.started, _chat_id(call.params)) for call in self.emu.calls]


def _chat_id(params: dict[str, object]) -> int | None:
    raw = params.get("chat_id")
    try:
        return int(str(raw)) if raw is not None else None
    except ValueError:
        return None


def _child_main(conn: Connection, token: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(conn, token))


async def _serve(conn: Connection, token: str) -> None:
    loop = asyncio.get_running_loop()
    async with BotAPIEmulator(token=token) as emu:
        side = _Side(emu)
        conn.send((emu.base_url, emu.file_url))
        while True:
            request = await loop.run_in_executor(None, conn.recv)
            if request is None:
                return
            name, kwargs = request
            if name not in COMMANDS:
                conn.send(("error", f"unknown command {name!r}"))
                continue
            try:
                conn.send(("ok", await getattr(side, name)(**kwargs)))
            except Exception as exc:  # reported to the parent, which raises it there
                logger.exception("emulator side: %s failed", name)
                conn.send(("error", repr(exc)))


class EmulatorSide:
    """The parent's handle on the emulator process."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection, urls: tuple[str, str]) -> None:
        self._process = process
        self._conn = conn
        self.base_url, self.file_url = urls
        self._lock = asyncio.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, token: str) -> AsyncIterator[EmulatorSide]:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_child_main, args=(child, token), name="bench-emulator", daemon=True)
        process.start()
        if not await asyncio.to_thread(parent.poll, START_TIMEOUT_S):
            process.kill()
            raise RuntimeError("the emulator process did not start")
        side = cls(process, parent, parent.recv())
        try:
            yield side
        finally:
            await side._close()

    async def _close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        await asyncio.to_thread(self._process.join, 10.0)
        if self._process.is_alive():
            self._process.kill()

    async def _call(self, name: str, **kwargs: object) -> Any:
        async with self._lock:
            self._conn.send((name, kwargs))
            status, result = await asyncio.to_thread(self._conn.recv)
        if status != "ok":
            raise RuntimeError(f"emulator side: {name} failed: {result}")
        return result

    async def flood(self, limits: FloodLimits | None) -> None:
        await self._call("flood", limits=dataclasses.asdict(limits) if limits is not None else None)

    async def reset(self) -> None:
        await self._call("reset")

    async def open_chats(self, user_ids: Iterable[int]) -> None:
        await self._call("open_chats", user_ids=list(user_ids))

    async def send(self, schedule: list[tuple[float, int]], text: str) -> dict[int, float]:
        return dict(await self._call("send", schedule=schedule, text=text))

    async def wait_for_sends(
        self, chat_ids: Iterable[int], *, timeout_s: float, methods: Iterable[str] = ("sendMessage",)
    ) -> dict[int, float]:
        return dict(
            await self._call("wait_for_sends", chat_ids=list(chat_ids), timeout_s=timeout_s, methods=list(methods))
        )

    async def wait_call(self, method: str, *, timeout_s: float) -> float | None:
        result = await self._call("wait_call", method=method, timeout_s=timeout_s)
        return float(result) if result is not None else None

    async def calls(self) -> list[CallInfo]:
        return list(await self._call("calls"))


def describe(calls: Iterable[CallInfo]) -> str:
    """Calls counted by method and status, for diagnostics on stderr."""
    counts: dict[str, int] = {}
    for call in calls:
        key = f"{call.method}:{call.status}"
        counts[key] = counts.get(key, 0) + 1
    return json.dumps(dict(sorted(counts.items())))
