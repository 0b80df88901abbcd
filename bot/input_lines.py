"""Lines of standard input for an asyncio program, read so that stopping the program never waits for a key.

A thread blocked in ``sys.stdin.readline()`` cannot be interrupted: ``asyncio.run`` joins its executor's threads
on the way out, so Ctrl-C would wait for the next Enter. A terminal, a pipe or a socket is therefore watched with
``loop.add_reader`` and read with ``os.read`` when it has data: no thread, nothing to wait for. A regular file or
``/dev/null`` cannot be watched (epoll refuses them) and never blocks for long, so it is read in a thread.
"""

from __future__ import annotations

import asyncio
import codecs
import os

CHUNK_BYTES = 64 * 1024


class InputLines:
    """``async with InputLines(fd) as lines: line = await lines.readline()``: one line without its end, or None
    at the end of input. Universal newlines as ``sys.stdin`` has them (``\\r\\n`` ends a line too); bytes that
    are not valid in ``encoding`` become U+FFFD instead of an error."""

    def __init__(self, fd: int, *, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._pending = ""
        self._eof = False
        self._arrived = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # set while the fd is watched

    async def __aenter__(self) -> InputLines:
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(self._fd, self._on_readable)
        except (OSError, ValueError, NotImplementedError):
            pass  # a regular file, /dev/null, or a loop without add_reader: read in a thread
        else:
            self._loop = loop
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._unwatch()

    async def readline(self) -> str | None:
        while True:
            line, newline, rest = self._pending.partition("\n")
            if newline:
                self._pending = rest
                return line.removesuffix("\r")
            if self._eof:
                self._pending = ""
                return line.removesuffix("\r") if line else None
            await self._more()

    async def _more(self) -> None:
        if self._loop is None:
            self._feed(await asyncio.to_thread(os.read, self._fd, CHUNK_BYTES))
            return
        self._arrived.clear()
        await self._arrived.wait()

    def _on_readable(self) -> None:
        # Read here, not in readline: the loop has just seen data, so this does not block (a read later could
        # meet a readiness already consumed, and a terminal in blocking mode would then hold the whole loop).
        try:
            data = os.read(self._fd, CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError:  # EIO: the terminal went away
            data = b""
        self._feed(data)
        self._arrived.set()

    def _feed(self, data: bytes) -> None:
        self._pending += self._decoder.decode(data, final=not data)
        if not data:
            self._eof = True
            self._unwatch()

    def _unwatch(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
