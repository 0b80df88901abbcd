"""Reading a Bot API request the way the real server does: every argument becomes a string.

The real server accepts the query string, ``application/x-www-form-urlencoded``, ``multipart/form-data`` (files)
and ``application/json`` bodies; non-string values arrive JSON-encoded (``reply_markup='{"inline_keyboard":...}'``)
and are decoded per argument. A JSON body's native values are re-encoded to that same string form first, so one
code path serves all four shapes.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from bot.emulator.errors import ApiError

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_CHUNK_BYTES = 256 * 1024
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    file_name: str | None
    content_type: str | None
    data: bytes

    def summary(self) -> dict[str, object]:
        return {"file_name": self.file_name, "content_type": self.content_type, "size": len(self.data)}


class Params:
    """The arguments of one call, with the real server's lenient conversions."""

    def __init__(self, values: dict[str, str] | None = None, files: dict[str, UploadedFile] | None = None) -> None:
        self.values: dict[str, str] = dict(values or {})
        self.files: dict[str, UploadedFile] = dict(files or {})

    def has(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def optional(self, name: str) -> str | None:
        return self.values.get(name)

    def integer(self, name: str, default: int = 0) -> int:
        """Like tdlib's ``to_integer``: the leading integer of the value, ``default`` when there is none."""
        raw = self.values.get(name)
        if raw is None:
            return default
        match = _LEADING_INT.match(raw)
        return int(match.group(1)) if match else default

    def clamped(self, name: str, default: int, low: int, high: int) -> int:
        if not self.values.get(name, "").strip():
            return default
        return max(low, min(high, self.integer(name, default)))

    def flag(self, name: str) -> bool:
        return self.values.get(name, "").strip().lower() in {"true", "yes", "1"}

    def decoded(self, name: str, error: str) -> object | None:
        """The decoded JSON value, None when absent or empty; ``error`` (a Bad Request text) when unparsable."""
        raw = self.values.get(name)
        if raw is None or raw == "":
            return None
        try:
            value: object = json.loads(raw)
        except ValueError as exc:
            raise ApiError.bad_request(error) from exc
        return value

    def file(self, name: str) -> UploadedFile | None:
        return self.files.get(name)

    def as_dict(self) -> dict[str, object]:
        """For the call log: the arguments, with files summarised."""
        recorded: dict[str, object] = dict(self.values)
        for name, upload in self.files.items():
            recorded[name] = upload.summary()
        return recorded


def _to_arg(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def params_from_json(body: object) -> dict[str, str]:
    if not isinstance(body, dict):
        raise ApiError.bad_request("JSON object expected as request body")
    values: dict[str, str] = {}
    for key, value in body.items():
        arg = _to_arg(value)
        if arg is not None:
            values[str(key)] = arg
    return values


async def read_params(request: web.Request, *, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> Params:
    """All arguments of ``request``; 413 "Request Entity Too Large" when a file part exceeds the upload limit."""
    values: dict[str, str] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    content_type = request.content_type
    if request.method in {"GET", "HEAD"} or not request.body_exists:
        return Params(values, files)
    if content_type == "multipart/form-data":
        too_big = await _read_multipart(request, values, files, max_upload_bytes)
        if too_big:
            raise ApiError(413, "Request Entity Too Large")
    elif content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise ApiError.bad_request("can't parse JSON encoded request body") from exc
        values.update(params_from_json(body))
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                values[key] = value
    return Params(values, files)


async def _read_multipart(
    request: web.Request, values: dict[str, str], files: dict[str, UploadedFile], max_upload_bytes: int
) -> bool:
    """Fill ``values`` and ``files``; True when a file was too big (the rest of the body is still drained, so the
    client finishes its upload and reads the 413 instead of a broken pipe)."""
    reader = await request.multipart()
    too_big = False
    while True:
        part = await reader.next()
        if part is None:
            return too_big
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if part.filename is None:
            values[name] = await part.text()
            continue
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk(_CHUNK_BYTES):
            size += len(chunk)
            if size > max_upload_bytes:
                too_big = True
                chunks.clear()
            elif not too_big:
                chunks.append(chunk)
        if not too_big:
            files[name] = UploadedFile(name, part.filename, part.headers.get("Content-Type"), b"".join(chunks))
