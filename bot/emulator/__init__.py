"""A local Telegram Bot API server for tests and the demo: it speaks the methods bhiv-bot uses, as Telegram does,
including Telegram's limits and error texts, so a test fails where the real API would reject the bot.

    async with BotAPIEmulator(token="123456:TEST") as emu:
        bot = telegram.Bot(emu.token, base_url=emu.base_url, base_file_url=emu.file_url)
        alice = emu.user(1001, first_name="Alice")
        await alice.send_text("Hello")
        ...
        assert not emu.errors((400, 499))

Modules: ``server`` (HTTP, recording, the public class), ``methods_messages`` / ``methods_bot`` (the Bot API
methods), ``limits`` (argument checks), ``parse_html`` / ``parse_markdown`` / ``entities`` (formatted text),
``updates`` (the update queue and long polling), ``webhook`` (delivery), ``flood`` and ``faults`` (429s, 5xx,
drops), ``state`` / ``model`` (the world), ``users`` (the user side), ``control`` (the user side over HTTP).
Run it alone with ``python -m bot.emulator``.

Where it differs from Telegram (everything else aims to match, texts included):
- stricter: a raw ``&`` in HTML is refused (Telegram keeps it; its documentation forbids it) unless
  ``EmulatorOptions(strict_html=False)``; callback queries expire after ``callback_query_timeout_s`` (15 s);
- relaxed: ``http://`` webhooks on loopback, any port (Telegram: HTTPS on 443, 80, 88, 8443); webhook delivery is
  one request at a time, retried forever with a 0.05 s..1 s backoff; pending updates never expire (24 h on
  Telegram); no 48-hour edit window; edits are allowed after the user blocked the bot; no URL fetching for
  sendDocument and sendVideo; a video's duration, width and height are the ones the bot declared (Telegram reads
  them from the file when they are not given); no 48-hour window for deleteMessage; no inline_message_id; chats
  are addressed by id only; getUpdates has no forced 3 s minimum poll and conflicts are answered at once;
  auto-detected entities are a subset (commands, mentions, hashtags, e-mail, scheme-ful URLs);
- absent: every other Bot API method (404 "Not Found"), close and logOut.
Text length is counted in Unicode code points (as measured on Telegram), entity offsets in UTF-16 units.
"""

from __future__ import annotations

from bot.emulator.errors import ApiError
from bot.emulator.faults import SENDING_METHODS, Fault, Faults
from bot.emulator.flood import FloodLimits
from bot.emulator.model import (
    Call,
    CallbackAnswer,
    ChatEvent,
    ChatMessage,
    MessageVersion,
    StoredFile,
    UserInfo,
    WebhookDelivery,
)
from bot.emulator.server import DROPPED, BotAPIEmulator
from bot.emulator.state import EmulatorOptions
from bot.emulator.users import ChatView, EmulatedUser, PendingAnswer
from bot.emulator.webhook import SECRET_HEADER

__all__ = [
    "DROPPED",
    "SECRET_HEADER",
    "SENDING_METHODS",
    "ApiError",
    "BotAPIEmulator",
    "Call",
    "CallbackAnswer",
    "ChatEvent",
    "ChatMessage",
    "ChatView",
    "EmulatedUser",
    "EmulatorOptions",
    "Fault",
    "Faults",
    "FloodLimits",
    "MessageVersion",
    "PendingAnswer",
    "StoredFile",
    "UserInfo",
    "WebhookDelivery",
]
