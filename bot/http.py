"""python-telegram-bot's HTTP seam (``telegram.request.BaseRequest``) on aiohttp.

PTB's default HTTPXRequest spent about two thirds of a bare echo bot's CPU per message (httpcore's pool scan,
h11, cookie extraction), more with concurrent updates; the same calls through one aiohttp session cost about
half. Only the Bot API goes through here: the LM client stays on httpx. Timeouts mean what PTB's do: connect
(including the wait for a pooled connection), read (each read of the answer), write is not separate in aiohttp
and is covered by the read timeout.

The URL carries the bot's token, so no error raised here names it: aiohttp's own errors are mapped to PTB's
NetworkError / TimedOut with their class and the host only.
"""

from __future__ import annotations

import io
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT = BaseRequest.DEFAULT_NONE  # "not given": use this instance's setting


def _given(value: Any, default: float | None) -> float | None:
    return default if value is _DEFAULT else value


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout_s: float | None = 5.0,
        connect_timeout_s: float | None = 5.0,
        pool_timeout_s: float | None = 1.0,
        media_write_timeout_s: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout_s = read_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._pool_timeout_s = pool_timeout_s
        self._media_write_timeout_s = media_write_timeout_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout_s

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none; a real jar costs per answer
                headers={"User-Agent": self.USER_AGENT},
                raise_for_status=False,
                trust_env=True,  # HTTPS_PROXY / HTTP_PROXY, as python-telegram-bot's httpx client honours them
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = _DEFAULT,
        write_timeout: Any = _DEFAULT,
        connect_timeout: Any = _DEFAULT,
        pool_timeout: Any = _DEFAULT,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        read_s = _given(read_timeout, self._read_timeout_s)
        if files:  # an upload: its write may take longer than an answer's read
            write_s = _given(write_timeout, self._media_write_timeout_s)
            read_s = None if read_s is None or write_s is None else max(read_s, write_s)
        connect_s = _given(connect_timeout, self._connect_timeout_s)
        pool_s = _given(pool_timeout, self._pool_timeout_s)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect_s is None or pool_s is None else connect_s + pool_s,
            sock_connect=connect_s,
            sock_read=read_s,
        )
        try:
            async with self._session.request(method, url, data=_body(request_data), timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.InvalidURL as exc:  # its text and its traceback would carry the URL, so the token
            raise NetworkError(f"aiohttp.{type(exc).__name__}: the Bot API URL is not valid") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {_without_url(exc)}") from exc


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """What PTB's HTTPXRequest sends: the parameters form-encoded, or multipart when there are files."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        # as a stream: aiohttp writes raw bytes over 1 MB (a video) in one go and warns that it blocks the loop
        body = io.BytesIO(content) if isinstance(content, bytes) else content
        form.add_field(name, body, filename=filename, content_type=mime_type)
    return form


def _without_url(exc: aiohttp.ClientError) -> str:
    """The error's text, without the request's URL (it holds the token) where aiohttp puts it in."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.ClientResponseError):
        return type(exc).__name__
    return str(exc) or type(exc).__name__
