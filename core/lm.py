"""The LM client: OpenAI-compatible chat completions, hardened (CONTRACT.md, "LM protocol").

Policy, in one place:

- One shared ``httpx.AsyncClient`` per ``LMClient``. A request times out after ``lm_timeout_s`` (connect:
  ``lm_connect_timeout_s``); a whole call, retries and waits included, after ``lm_job_deadline_s`` (DEADLINE).
- Structured output degrades step by step: ``json_schema`` -> ``json_object`` + schema -> plain prompt.
  A form the server rejects (a 400 or 422, or a 5xx whose body names ``response_format``) is left at once,
  without counting as an attempt; the form that then works is remembered, so later calls start there.
- 429 (Retry-After honoured, capped), 5xx, timeouts and connection errors are retried with exponential
  backoff and jitter, ``lm_max_attempts`` requests in all; a wait that would pass the deadline is not
  started (DEADLINE). Other 4xx are never retried (REJECTED).
- A bad reply (not JSON, not the schema) is not retried: BAD_REPLY. Asking again costs a whole generation,
  seldom helps a model that already failed the schema, and the caller's local generator is the faster way out.

The API key is only ever in the client's default headers; it is in no log line, message or repr.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from core.errors import LMError, LMErrorKind, StoryboardInvalidError
from core.lm_reply import DEFAULT_MAX_SCENES, LMDraft, parse_reply, reply_json_schema
from core.metrics import LM_REQUEST_SECONDS, LM_RETRIES
from core.settings import LMSettings
from core.storyboard import SceneDraft, Storyboard

__all__ = ["LMClient", "LMDraft", "OutputForm"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Message = dict[str, str]

COMPLETIONS_PATH = "/chat/completions"
MAX_CONNECTIONS = 20
MAX_KEEPALIVE_CONNECTIONS = 10
ERROR_SNIPPET_CHARS = 200
_FORM_WORDS = ("response_format", "json_schema", "json_object")

REPLY_SHAPE = '{"title": "...", "scenes": [{"text": "...", "duration": 4.0, "visual": "..."}]}'
GENERATE_PROMPT = (
    "You write storyboards for short videos. The user gives a script as JSON, already split into numbered scenes. "
    "Answer with exactly one storyboard scene for each numbered scene, in the same order: as many scenes as the "
    "script has, never merged, split, dropped or added. For each scene give: text, the scene's words, copied "
    "exactly; duration, how long it is on screen in seconds (time to say or read its words, about 2.5 words a "
    "second, typically 3 to 8); visual, a short description of what the camera shows. Give a short title. "
    f"Answer with one JSON object and nothing else, of this form: {REPLY_SHAPE}"
)
IMPROVE_PROMPT = (
    "You revise video storyboards. The user gives the current storyboard as JSON (numbered scenes with their "
    "text, duration in seconds and visual), a rating from 1 (bad) to 5 (great) and maybe a note. Do what the note "
    "asks of the durations and the visuals. Keep the scenes and their words: exactly one for each numbered "
    "scene, in the same order, its text copied, never merged, split, dropped or added. "
    f"Answer with one JSON object and nothing else, of this form: {REPLY_SHAPE}"
)


class OutputForm(StrEnum):
    """How structured output is asked for, best first."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    PLAIN = "plain"


FORMS = tuple(OutputForm)


class _TransientError(Exception):
    """One attempt failed in a way that another attempt may fix."""

    def __init__(
        self,
        kind: LMErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


class _FormRejectedError(Exception):
    """The server refused the ``response_format`` that was sent."""


@dataclass
class _Call:
    """The state of one ``generate``/``improve`` call across its attempts."""

    messages: list[Message]
    schema: dict[str, object]  # the reply's JSON schema, its scene count fixed to the script's
    form_index: int
    deadline_at: float
    attempts: int = 0


class LMClient:
    """Chat completions against ``settings.lm_base_url``; ``generate`` and ``improve`` return a draft."""

    def __init__(
        self,
        settings: LMSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_scenes: int = DEFAULT_MAX_SCENES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not settings.lm_base_url:
            raise LMError(LMErrorKind.NOT_CONFIGURED, "LM_BASE_URL is not set")
        if httpx.URL(settings.lm_base_url).scheme not in {"http", "https"}:
            raise LMError(LMErrorKind.NOT_CONFIGURED, "LM_BASE_URL must be an http(s) URL")
        self._settings = settings
        self._max_scenes = max_scenes
        self._sleep = sleep
        self._form_index = 0
        self._secret = settings.lm_api_key.get_secret_value() if settings.lm_api_key else ""
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        self._http = httpx.AsyncClient(
            base_url=settings.lm_base_url,
            headers=headers,
            timeout=httpx.Timeout(settings.lm_timeout_s, connect=settings.lm_connect_timeout_s),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"LMClient(base_url={self._settings.lm_base_url!r}, model={self._settings.lm_model!r})"

    @property
    def output_form(self) -> OutputForm:
        """The structured-output form the next call starts with."""
        return FORMS[self._form_index]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LMClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def generate(
        self, scenes: Sequence[SceneDraft], *, title: str | None = None, correction: str | None = None
    ) -> LMDraft:
        """A storyboard draft for a script already split into ``scenes`` (a screenplay's scene heading, when there
        is one, goes with its scene as its setting); ``correction`` says what the last answer got wrong."""
        script = {
            "title": title or "",
            "scenes": [
                {"n": n, "text": scene.text, **({"setting": scene.visual} if scene.visual else {})}
                for n, scene in enumerate(scenes, start=1)
            ],
        }
        return await self._complete(_messages(GENERATE_PROMPT, script, correction), scene_count=len(scenes))

    async def improve(
        self, storyboard: Storyboard, *, rating: int, comment: str | None, correction: str | None = None
    ) -> LMDraft:
        """A revised draft of ``storyboard``, scene for scene, that answers a rating (1..5) and the user's note."""
        current = {
            "title": storyboard.title,
            "scenes": [
                {
                    "n": n,
                    "text": scene.text,
                    "duration": scene.duration,
                    "visual": scene.frames[0].visual or "",
                }
                for n, scene in enumerate(storyboard.scenes, start=1)
            ],
            "rating": rating,
            "note": (comment or "").strip(),
        }
        return await self._complete(_messages(IMPROVE_PROMPT, current, correction), scene_count=storyboard.scene_count)

    async def _complete(self, messages: list[Message], *, scene_count: int) -> LMDraft:
        budget_s = self._settings.lm_job_deadline_s
        call = _Call(
            messages=messages,
            schema=reply_json_schema(scene_count=scene_count),
            form_index=self._form_index,
            deadline_at=time.monotonic() + budget_s,
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget_s):
                content = await self._with_retries(call)
        except TimeoutError as exc:
            raise LMError(LMErrorKind.DEADLINE, f"no reply within {budget_s:g} s", attempts=call.attempts) from exc
        try:  # off the event loop: its cost grows with the reply, which is the model's (and so the user's) text
            draft = await asyncio.to_thread(parse_reply, content, max_scenes=self._max_scenes)
        except StoryboardInvalidError as exc:
            raise LMError(LMErrorKind.BAD_REPLY, str(exc), attempts=call.attempts) from exc
        logger.debug(
            "LM replied with %d scenes in %.2f s (%d attempts)",
            len(draft.scenes),
            time.monotonic() - started,
            call.attempts,
        )
        return draft

    async def _with_retries(self, call: _Call) -> str:
        retrying = AsyncRetrying(
            stop=lambda state: self._should_stop(state, call),
            wait=self._wait_s,
            retry=retry_if_exception_type(_TransientError),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        content = ""
        try:
            async for attempt in retrying:
                with attempt:
                    call.attempts = attempt.retry_state.attempt_number
                    content = await self._attempt(call)
        except _TransientError as exc:
            raise self._gave_up(exc, call.attempts) from exc
        except LMError as exc:
            exc.attempts = call.attempts
            raise
        return content

    def _should_stop(self, state: RetryCallState, call: _Call) -> bool:
        if state.attempt_number >= self._settings.lm_max_attempts:
            return True
        return time.monotonic() + state.upcoming_sleep >= call.deadline_at

    def _gave_up(self, exc: _TransientError, attempts: int) -> LMError:
        if attempts < self._settings.lm_max_attempts:
            message = f"the next attempt would pass the deadline; last: {exc.message}"
            return LMError(LMErrorKind.DEADLINE, message, status=exc.status, attempts=attempts)
        message = f"gave up after {attempts} attempts; last: {exc.message}"
        return LMError(exc.kind, message, status=exc.status, attempts=attempts)

    def _wait_s(self, state: RetryCallState) -> float:
        """Exponential backoff with jitter; on a 429 at least its Retry-After, up to the cap."""
        low, high = self._settings.lm_backoff_min_s, self._settings.lm_backoff_max_s
        exponential = low * 2 ** (state.attempt_number - 1)
        backoff = min(high, exponential + random.uniform(0, low))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _TransientError) and exc.retry_after_s is not None:
            return max(backoff, min(exc.retry_after_s, self._settings.lm_retry_after_cap_s))
        return backoff

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        kind = exc.kind.value if isinstance(exc, _TransientError) else "?"
        LM_RETRIES.labels(kind).inc()
        status = exc.status if isinstance(exc, _TransientError) else None
        logger.warning(
            "LM attempt %d of %d failed (%s, status %s); retrying in %.2f s",
            state.attempt_number,
            self._settings.lm_max_attempts,
            kind,
            status,
            state.upcoming_sleep,
        )

    async def _attempt(self, call: _Call) -> str:
        """One attempt: post, stepping down the forms the server rejects; the reply's content.

        A form is remembered once the server accepts it, even if the model's content then fails to parse.
        """
        while True:
            form = FORMS[call.form_index]
            try:
                response = await self._post(call, form)
            except _FormRejectedError as exc:
                call.form_index += 1
                logger.warning(
                    "LM server rejected response_format %s (%s); trying %s", form, exc, FORMS[call.form_index]
                )
                continue
            self._remember(call.form_index)
            return _content(response)

    def _remember(self, form_index: int) -> None:
        if form_index > self._form_index:
            self._form_index = form_index
            logger.info("LM output form is now %s for this client", FORMS[form_index])

    async def _post(self, call: _Call, form: OutputForm) -> _Answer:
        """Send one request; the answer if its status is a success, else the error it stands for. An answer
        over ``lm_max_reply_bytes`` is not read further (a reply is untrusted: a 50 MB one must cost nothing)."""
        body = self._request_body(call, form)
        limit = self._settings.lm_max_reply_bytes
        started = time.monotonic()
        try:
            async with self._http.stream("POST", COMPLETIONS_PATH, json=body) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise LMError(LMErrorKind.BAD_REPLY, f"answer of {declared} bytes, over {limit}; not read")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise LMError(LMErrorKind.BAD_REPLY, f"answer over {limit} bytes; not read further")
                    chunks.append(chunk)
                answer = _Answer(response.status_code, response.headers, b"".join(chunks))
        except httpx.TimeoutException as exc:
            LM_REQUEST_SECONDS.labels("timeout").observe(time.monotonic() - started)
            raise _TransientError(LMErrorKind.TIMEOUT, f"request timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            LM_REQUEST_SECONDS.labels("connect_error").observe(time.monotonic() - started)
            raise _TransientError(LMErrorKind.CONNECT, f"connection failed ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise LMError(LMErrorKind.BAD_REPLY, f"unreadable response ({type(exc).__name__})") from exc
        LM_REQUEST_SECONDS.labels(f"{answer.status_code // 100}xx").observe(time.monotonic() - started)
        self._check_status(answer, form)
        return answer

    def _request_body(self, call: _Call, form: OutputForm) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self._settings.lm_model,
            "messages": call.messages,
            "stream": False,
            "max_tokens": self._settings.lm_max_tokens,
        }
        if form is OutputForm.JSON_SCHEMA:
            schema = {"name": "storyboard", "strict": True, "schema": call.schema}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif form is OutputForm.JSON_OBJECT:
            body["response_format"] = {"type": "json_object", "schema": call.schema}
        return body

    def _check_status(self, response: _Answer, form: OutputForm) -> None:
        status = response.status_code
        if response.is_success:
            return
        if form is not OutputForm.PLAIN and _rejects_form(status, response.text):
            raise _FormRejectedError(f"status {status}")
        if status == 429:
            retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(LMErrorKind.RATE_LIMITED, "status 429", status=429, retry_after_s=retry_after_s)
        message = f"status {status}: {self._snippet(response.text)}"
        if status >= 500:
            raise _TransientError(LMErrorKind.SERVER, message, status=status)
        raise LMError(LMErrorKind.REJECTED, message, status=status)

    def _snippet(self, text: str) -> str:
        """The start of an error body, for messages; the key is scrubbed first in case a server echoes it."""
        if self._secret:
            text = text.replace(self._secret, "***")
        return " ".join(text.split())[:ERROR_SNIPPET_CHARS]


def _message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def _messages(system: str, document: dict[str, object], correction: str | None) -> list[Message]:
    messages = [_message("system", system), _message("user", json.dumps(document, ensure_ascii=False, indent=1))]
    if correction:
        messages.append(_message("user", correction))
    return messages


def _rejects_form(status: int, body: str) -> bool:
    """Whether an error answers the ``response_format`` sent rather than the request as a whole.

    CONTRACT.md: a 400 or 422 to a request that carries a ``response_format`` steps down (servers rarely say
    which field they refused, and the format is the only part that changes between forms); a 5xx counts only
    when its body names the format. In the plain form a 400 is what it is: REJECTED, never retried.
    """
    return status in (400, 422) or (status >= 500 and any(word in body for word in _FORM_WORDS))


@dataclass(frozen=True, slots=True)
class _Answer:
    """A response read whole (within the size limit)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def _content(response: _Answer) -> str:
    """``choices[0].message.content`` of a chat completion, or BAD_REPLY."""
    try:
        content = json.loads(response.content)["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError, RecursionError) as exc:
        raise LMError(LMErrorKind.BAD_REPLY, "response is not a chat completion") from exc
    if not isinstance(content, str) or not content.strip():
        raise LMError(LMErrorKind.BAD_REPLY, "chat completion has no content")
    return content


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds from now: a number, or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
