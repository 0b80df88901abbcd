"""Where updates come in, durably: each is stored (core.inbox) before Telegram is told the bot has it, then
handled from the store through python-telegram-bot's ``Application.process_update``.

- ``Poller``: getUpdates of our own (the Application is built with ``updater(None)``): one transaction per
  answer, and the next offset, which confirms it, only after that committed. python-telegram-bot's Updater
  confirms a batch with its very next call, before any handler has stored anything.
- ``bot.webhook.WebhookServer``: the webhook's route, answering 200 only after the commit.
- ``Updates``: the handling side: a stored update (or the parts of one long paste, joined) becomes a
  ``telegram.Update`` for the handlers, who learn from here which inbox updates they are handling (a new job
  marks them handled in its own transaction) and whether a transient failure may be tried again.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from core.inbox import Attempt, Dispatcher, Entry, Inbox, JSONDict, Outcome
from core.paste import JOIN_WINDOW_S, TextPart, join

logger = logging.getLogger(__name__)

CHAT_KEYS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "message_reaction_count",
    "chat_boost",
    "removed_chat_boost",
)
POLL_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# The Poller asks for getUpdates through do_api_request on purpose (Bot.get_updates returns parsed objects, and
# the inbox stores the JSON as it came): python-telegram-bot's advice to use Bot.get_updates does not apply.
GET_UPDATES_ADVICE = r"Please use 'Bot\.getUpdates'"
warnings.filterwarnings("ignore", GET_UPDATES_ADVICE, PTBUserWarning)
GET_UPDATES_LIMIT = 100
HANDLING_GRACE_S = 1.5  # a handler takes milliseconds; what is cut off stays stored, for the next start


def describe(data: JSONDict) -> tuple[int | None, TextPart | None]:
    """An update's chat (the order its updates keep), and, for a private text message, what the paste joiner
    needs of it."""
    chat_id = _chat_of(data)
    message = data.get("message")
    if not isinstance(message, dict) or not isinstance(text := message.get("text"), str):
        return chat_id, None
    chat = message.get("chat")
    if not isinstance(chat, dict) or chat.get("type") != "private":
        return chat_id, None
    date = message.get("date")
    entities = message.get("entities")
    command = isinstance(entities, list) and any(
        isinstance(e, dict) and e.get("type") == "bot_command" and e.get("offset") == 0 for e in entities
    )
    return chat_id, TextPart(text, date if isinstance(date, int) else 0, command=command)


def _chat_of(data: JSONDict) -> int | None:
    for key in CHAT_KEYS:
        value = data.get(key)
        if isinstance(value, dict) and isinstance(chat := value.get("chat"), dict) and isinstance(chat.get("id"), int):
            return chat["id"]
    for key in (
        "callback_query",
        "inline_query",
        "chosen_inline_result",
        "shipping_query",
        "pre_checkout_query",
        "poll_answer",
    ):
        value = data.get(key)
        if not isinstance(value, dict):
            continue
        message = value.get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return chat["id"]
        sender = value.get("from") or value.get("user")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return sender["id"]  # a user's private chat has the user's id
    return None


def joined(entries: Sequence[Entry]) -> JSONDict:
    """The first part's update, carrying the whole paste (its entities would point into one part only)."""
    first = entries[0].data
    message = dict(first["message"])  # type: ignore[arg-type]
    message["text"] = join([entry.part.text for entry in entries if entry.part is not None])
    message.pop("entities", None)
    return {**first, "message": message}


@dataclass
class _Handling:
    update_ids: tuple[int, ...]
    attempt: Attempt
    retry: bool = False


class Updates:
    """Stored updates, handled by the Application's handlers in order per chat."""

    def __init__(self, application: Application, inbox: Inbox, *, concurrency: int) -> None:  # type: ignore[type-arg]
        self.application = application
        self.inbox = inbox
        self.dispatcher = Dispatcher(inbox, self._handle, concurrency=concurrency, join_window_s=JOIN_WINDOW_S)
        self._handling: dict[int, _Handling] = {}
        self._started = False

    async def start(self) -> None:
        """Replay what is stored and unhandled, then handle what comes. Called once this process is the one
        taking updates (its first getUpdates answered, or its webhook set): during a rolling deploy the old
        process may still be handling stored updates while the new one waits out Telegram's 409."""
        if not self._started:
            await self.dispatcher.start()  # a database that fails it here: the Poller tries again
            self._started = True

    async def stop(self) -> None:
        """Handlings under way get HANDLING_GRACE_S; then the jobs get SHUTDOWN_GRACE_S, inside Docker's 10 s."""
        await self.dispatcher.stop(timeout_s=HANDLING_GRACE_S)

    async def received(self, raw: Sequence[JSONDict]) -> int | None:
        """Store what Telegram sent and queue what is new for handling; returns the highest update_id (None:
        none); raises when it could not be stored (then it must not be confirmed). An update without an integer
        update_id is logged and skipped."""
        entries = []
        for data in raw:
            try:
                entries.append(self.inbox.entry(data))
            except ValueError:
                logger.warning("an update without an update_id was skipped")
        self.dispatcher.feed(await self.inbox.store(entries))
        return max((entry.update_id for entry in entries), default=None)

    def update_ids_of(self, update: Update) -> tuple[int, ...]:
        """The inbox updates a handler is handling (several for a joined paste): a job made of them marks them
        handled in its own transaction."""
        handling = self._handling.get(update.update_id)
        return handling.update_ids if handling is not None else (update.update_id,)

    def first_try(self, update: Update) -> bool:
        """False when this handling is a retry (the flood guard counted the update the first time)."""
        handling = self._handling.get(update.update_id)
        return handling is None or handling.attempt.first

    def try_again_later(self, update: Update) -> bool:
        """Called on a transient failure: True when the update will be handled again (so the user need not be
        told anything), False on its last try."""
        handling = self._handling.get(update.update_id)
        if handling is None or handling.attempt.last:
            return False
        handling.retry = True
        return True

    async def _handle(self, entries: Sequence[Entry], attempt: Attempt) -> Outcome:
        data = entries[0].data if len(entries) == 1 else joined(entries)
        try:
            update = Update.de_json(dict(data), self.application.bot)
        except Exception:
            logger.exception("update %s could not be read; skipped", entries[0].update_id)
            return Outcome.HANDLED
        handling = self._handling[update.update_id] = _Handling(tuple(e.update_id for e in entries), attempt)
        try:
            await self.application.process_update(update)
        finally:
            del self._handling[update.update_id]
        return Outcome.RETRY if handling.retry else Outcome.HANDLED


class Poller:
    """Long polling that confirms an answer only once its updates are stored."""

    def __init__(self, application: Application, updates: Updates, *, timeout_s: int) -> None:  # type: ignore[type-arg]
        self.application = application
        self.updates = updates
        self.timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="get-updates")

    async def stop(self) -> None:
        """Stop fetching. A getUpdates under way is dropped: what it brought is confirmed by nobody, and comes
        again (a store under way commits or not, whole; a stored one is replayed at the next start)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                raw = await self._fetch(offset)
                await self.updates.start()  # this process polls now: what is stored and unhandled is its own
                last = await self.updates.received(raw) if raw else None
                if last is not None:
                    offset = last + 1  # confirms them with the next call: they are stored
                failures = 0
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                logger.error("getUpdates: the token was refused (revoked?); trying again in %.0f s", POLL_BACKOFF_S[-1])
                await asyncio.sleep(POLL_BACKOFF_S[-1])
            except Conflict:
                # Another process polls with this token (a rolling deploy's other half): wait for it to stop.
                if failures == 0:
                    logger.warning("getUpdates: another process is polling with this token; waiting for it to stop")
                failures += 1
                await asyncio.sleep(POLL_BACKOFF_S[min(failures, len(POLL_BACKOFF_S)) - 1])
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
            except Exception as exc:  # the network, the Bot API, or the database refusing the store
                delay_s = POLL_BACKOFF_S[min(failures, len(POLL_BACKOFF_S) - 1)]
                failures += 1
                logger.warning("getUpdates round failed (%s); trying again in %.1f s", _reason(exc), delay_s)
                await asyncio.sleep(delay_s)

    async def _fetch(self, offset: int | None) -> list[JSONDict]:
        """One getUpdates, as its raw JSON (the inbox stores what Telegram sent)."""
        result = await self.application.bot.do_api_request(
            "getUpdates",
            api_kwargs={
                "timeout": self.timeout_s,
                "limit": GET_UPDATES_LIMIT,
                "allowed_updates": list(Update.ALL_TYPES),
            }
            | ({"offset": offset} if offset is not None else {}),
            read_timeout=self.timeout_s + 10.0,
        )
        return [data for data in result if isinstance(data, dict)] if isinstance(result, list) else []


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


def _reason(exc: Exception) -> str:
    if isinstance(exc, TelegramError):
        return f"{type(exc).__name__}: {exc.message}"
    return type(exc).__name__
