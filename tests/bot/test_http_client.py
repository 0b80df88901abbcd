"""The HTTP client under python-telegram-bot must not touch the import system per request."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

import httpx


class ImportSpy(importlib.abc.MetaPathFinder):
    """Records every module lookup that misses ``sys.modules``."""

    def __init__(self) -> None:
        self.looked_up: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        self.looked_up.append(fullname)


async def test_requests_through_httpx_look_up_no_module() -> None:
    handlers: list[asyncio.Task[None]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while await reader.readuntil(b"\r\n\r\n"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.create_task(serve(reader, writer)))

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spy = ImportSpy()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/")  # the first request may import what it needs once
            sys.meta_path.insert(0, spy)
            for _ in range(20):
                assert (await client.get("/")).status_code == 200
    finally:
        if spy in sys.meta_path:
            sys.meta_path.remove(spy)
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers)  # the client has closed its connection: each handler ends

    assert spy.looked_up == []  # httpcore imports sniffio per request: installed, that is a dict lookup
