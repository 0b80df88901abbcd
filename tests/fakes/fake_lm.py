"""A fake OpenAI-compatible chat-completions server on real loopback HTTP, programmable request by request.

    async with FakeLM() as lm:                      # listens on 127.0.0.1, an ephemeral port
        lm.script([Reply.status(429, retry_after="1"), Reply.ok()])
        settings = LMSettings(lm_base_url=lm.base_url)   # http://127.0.0.1:PORT/v1
        ...
        assert len(lm.requests) == 2

Each request to ``POST /v1/chat/completions`` takes the next scripted ``Reply``; when the script is empty,
the ``default`` reply answers (``Reply.ok()``: a valid storyboard with one scene per line of the user's
script, or a slowed-down copy of the storyboard an improvement request carries). Every request is recorded
first, whatever the answer. ``unsupported_forms={"json_schema"}`` makes the server refuse those
``response_format`` types with a 400 that names ``response_format``, before the script is consulted, like a
server that lacks the feature.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from aiohttp import web

ReplyKind = Literal["ok", "content", "status", "raw", "hang", "drop"]
JSON = dict[str, object]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with the class methods."""

    kind: ReplyKind
    storyboard: JSON | None = None  # ok: the reply's JSON, None for the default one
    text: str = ""  # content: the assistant's message; status/raw: the HTTP body
    code: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # hang

    @classmethod
    def ok(cls, storyboard: JSON | None = None) -> Reply:
        """A chat completion whose content is ``storyboard`` as JSON (the default storyboard when None)."""
        return cls("ok", storyboard=storyboard)

    @classmethod
    def content(cls, text: str) -> Reply:
        """A well-formed chat completion whose message is ``text`` verbatim (fences, prose, junk)."""
        return cls("content", text=text)

    @classmethod
    def garbage(cls, text: str = "I am sorry, I cannot help with that.") -> Reply:
        """A chat completion whose content is not JSON."""
        return cls.content(text)

    @classmethod
    def status(cls, code: int, *, retry_after: str | None = None, body: str | None = None) -> Reply:
        """An error status with an OpenAI-style error body; ``retry_after`` is the Retry-After header."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        message = body if body is not None else f"fake error {code}"
        text = json.dumps({"error": {"message": message, "type": "fake", "code": code}})
        return cls("status", text=text, code=code, headers=headers)

    @classmethod
    def raw(cls, body: str, *, code: int = 200, content_type: str = "application/json") -> Reply:
        """``body`` as the whole HTTP response body, e.g. a broken envelope."""
        return cls("raw", text=body, code=code, headers={"Content-Type": content_type})

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Say nothing for ``seconds`` (less if the server closes), then answer with the default reply."""
        return cls("hang", seconds=seconds)

    @classmethod
    def drop(cls) -> Reply:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def reject_response_format(cls, code: int = 400) -> Reply:
        """Refuse the request's ``response_format`` the way llama.cpp-style servers do."""
        return cls.status(code, body="response_format is not supported by this server")


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: JSON

    @property
    def response_format_type(self) -> str | None:
        response_format = self.body.get("response_format")
        return str(response_format.get("type")) if isinstance(response_format, dict) else None

    def document(self) -> dict[str, object] | None:
        """The JSON document of numbered scenes the request carries (its first user message), if any."""
        messages = self.body.get("messages")
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, dict) and message.get("role") == "user":
                try:
                    document = json.loads(str(message.get("content", "")))
                except ValueError:
                    return None
                return document if isinstance(document, dict) and isinstance(document.get("scenes"), list) else None
        return None

    def message(self, role: str) -> str:
        """The content of the last message with ``role`` ("" when there is none)."""
        messages = self.body.get("messages")
        if not isinstance(messages, list):
            return ""
        found = [m for m in messages if isinstance(m, dict) and m.get("role") == role]
        return str(found[-1].get("content", "")) if found else ""


class FakeLM:
    """The server. ``requests`` holds every request received, in order."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        unsupported_forms: Iterable[str] = (),
        default: Callable[[RecordedRequest], Reply] | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.unsupported_forms = frozenset(unsupported_forms)
        self.requests: list[RecordedRequest] = []
        self._default = default or (lambda _request: Reply.ok())
        self._script: deque[Reply] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, replies: Iterable[Reply]) -> None:
        """Queue answers for the next requests, in order."""
        self._script.extend(replies)

    @property
    def response_format_types(self) -> list[str | None]:
        return [request.response_format_type for request in self.requests]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLM:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        headers = {name.lower(): value for name, value in request.headers.items()}
        recorded = RecordedRequest(request.path, headers, body if isinstance(body, dict) else {})
        self.requests.append(recorded)
        if self.latency_s:
            await self._pause(self.latency_s)
        return await self._answer(request, recorded, self._next_reply(recorded))

    def _next_reply(self, recorded: RecordedRequest) -> Reply:
        if recorded.response_format_type in self.unsupported_forms:
            return Reply.reject_response_format()
        return self._script.popleft() if self._script else self._default(recorded)

    async def _answer(self, request: web.Request, recorded: RecordedRequest, reply: Reply) -> web.StreamResponse:
        if reply.kind == "hang":
            await self._pause(reply.seconds)
            return _completion(recorded, json.dumps(default_storyboard(recorded)))
        if reply.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            await self._closing.wait()  # cancelled as soon as aiohttp sees the connection gone
            raise web.HTTPServiceUnavailable
        if reply.kind in {"status", "raw"}:
            return web.Response(
                status=reply.code,
                text=reply.text,
                headers={"Content-Type": "application/json", **reply.headers},
            )
        if reply.kind == "content":
            return _completion(recorded, reply.text)
        return _completion(recorded, json.dumps(reply.storyboard or default_storyboard(recorded)))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up when the server closes so no handler outlives the test."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


def _completion(recorded: RecordedRequest, content: str) -> web.Response:
    number = len(recorded.body.get("messages") or [])
    return web.json_response(
        {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": 0,
            "model": recorded.body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
    )


def default_storyboard(recorded: RecordedRequest) -> JSON:
    """What a well-behaved model would answer to bhiv-bot's request (a JSON document of numbered scenes): one
    scene for each, with a visual note; for an improvement (a document with a rating), the same scenes, slower
    for a low rating. A user message that is not such a document gets one scene per non-empty line."""
    document = recorded.document()
    if document is None:
        return _from_lines(recorded.message("user"))
    scenes = [scene for scene in document.get("scenes") or [] if isinstance(scene, dict)]
    if "rating" in document:
        factor = 1.25 if int(document.get("rating") or 3) <= 2 else 1.0
        replies = [
            {
                "text": str(scene.get("text", "")),
                "duration": round(min(8.0, float(scene.get("duration", 4.0)) * factor), 1),
                "visual": "Revised shot",
            }
            for scene in scenes
        ]
        return {"title": str(document.get("title", "")), "scenes": replies}
    texts = [str(scene.get("text", "")) for scene in scenes]
    return {"title": str(document.get("title") or (texts[0][:60] if texts else "")), "scenes": _scenes(texts)}


def _from_lines(script: str) -> JSON:
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    return {"title": lines[0][:60] if lines else "", "scenes": _scenes(lines)}


def _scenes(texts: list[str]) -> list[JSON]:
    return [
        {"text": text, "duration": round(min(8.0, max(2.0, len(text) / 12)), 1), "visual": f"Shot {number}"}
        for number, text in enumerate(texts, start=1)
    ]
