"""``bhiv-bot demo``: the real bot against the bundled Bot API emulator, with a chat in the terminal.

No token and no network: the emulator listens on loopback, the bot long-polls it exactly as it would poll
Telegram, and the person at the terminal is a Telegram user. Piped input works too: the demo sends what it
reads, waits for every job and message to settle, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.app import create_application, running
from bot.context import SERVICES_KEY
from bot.emulator import BotAPIEmulator
from bot.emulator.model import ChatMessage
from bot.emulator.users import EmulatedUser
from bot.handlers.commands import COMMAND_DESCRIPTIONS
from bot.input_lines import InputLines
from bot.settings import TelegramSettings
from core.services import CoreSettings
from core.settings import AccessSettings

DEMO_TOKEN_SECRET = "DEMO-bhiv_bot"  # noqa: S105 - the emulator's own token, not a secret


def demo_token() -> str:
    """A token of a new bot id each run: a fresh emulator numbers its messages from 1 again, as a new bot's chats
    would be, so the demo keeps its database and finds its earlier runs' messages under another bot."""
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:{DEMO_TOKEN_SECRET}"


DEMO_USER_ID = 1001
SETTLE_TIMEOUT_S = 60.0
QUIET_S = 0.4

# any command, the bot's own included, however many it has: "/jobs", "/press 1", "/start@bot"; not "/etc/hosts"
COMMAND = re.compile(r"/[A-Za-z]\w*(?:@\w+)?(?:\s|$)")
INTERRUPTED = 130  # Ctrl-C: the shell's code for a SIGINT, so a script that runs the demo sees it was stopped

INTRO = """\
bhiv-bot demo: you are chatting with the real bot through a local Telegram emulator (no network).
You are Telegram user {user_id}. Type a script, one line per scene; an empty line sends it, and so does a command.
  /file PATH    send a text file as a document
  /press N      press button N under the newest storyboard: 1-5 rate it; after a rating of 1 or 2
                a 6th button, Skip, asks for the improvement without a note
  /reply TEXT   answer the bot's "What should change?" (it asks after a rating of 1 or 2)
  /quit         leave (Ctrl-D too; Ctrl-C leaves at once)
Any other /command goes to the bot as on Telegram: {commands}.
{stats}
"""


def intro(access: AccessSettings, *, made_admin: bool) -> str:
    if made_admin:
        stats = f"/stats is for ADMIN_USER_IDS; it is not set, so the demo made you ({DEMO_USER_ID}) an admin."
    else:
        admins = ", ".join(str(user_id) for user_id in sorted(access.admin_user_ids))
        verdict = "are among them" if access.is_admin(DEMO_USER_ID) else "are not among them, so it refuses you"
        stats = f"/stats is for ADMIN_USER_IDS, set here to {admins}: you ({DEMO_USER_ID}) {verdict}."
    commands = ", ".join(f"/{name}" for name, _ in COMMAND_DESCRIPTIONS) + ", /stats"  # the bot's menu, as it is
    return INTRO.format(user_id=DEMO_USER_ID, stats=stats, commands=commands)


class TerminalChat:
    def __init__(
        self,
        emulator: BotAPIEmulator,
        user: EmulatedUser,
        files_dir: Path,
        *,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.emulator = emulator
        self.user = user
        self.files_dir = files_dir
        self.settle = settle  # for piped input: wait for the bot before the next line
        self._seen_seq = 0

    async def show_bot_messages(self) -> None:
        """Print every bot message (and every edit) as it happens, in the order they happened: an older message
        edited after a newer one was sent must not hide the newer one."""
        while True:
            with contextlib.suppress(TimeoutError):  # an hour with nothing new: keep waiting
                await self.user.chat.wait_for(after=self._seen_seq, timeout_s=3600)
            changed = sorted((m for m in self.user.chat.bot_messages if m.seq > self._seen_seq), key=lambda m: m.seq)
            for message in changed:
                self._seen_seq = message.seq
                print(self.describe(message), flush=True)

    def describe(self, message: ChatMessage) -> str:
        prefix = "bot (edited)" if message.history else "bot"
        lines = [f"{prefix}: {message.text or message.caption or ''}"]
        if message.document is not None:
            lines.append(f"  📎 {self._save(message.document)}")  # a few KB of JSON: written inline
        if message.video is not None:
            seconds = message.video.get("duration", 0)
            lines.append(
                f"  🎞 video, {seconds} s: {self._save(message.video)} (play it with any video player: "
                "xdg-open, open, VLC, ffplay)"
            )
        if message.buttons:
            labels = [f"[{n}: {button['text']}]" for n, button in enumerate(message.buttons, start=1)]
            lines.append("  " + " ".join(labels) + "  (/press N)")
        if message.force_reply:
            lines.append("  (answer with /reply TEXT)")
        return "\n".join(lines)

    def _save(self, media: dict[str, object]) -> str:
        stored = self.emulator.state.files.get(str(media.get("file_id")))
        name = Path(str(media.get("file_name") or "file.bin")).name
        if stored is None:
            return name
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / name
        path.write_bytes(stored.content())
        return f"{name} saved to {path}"

    async def handle(self, line: str, buffer: list[str]) -> bool:
        """One line typed; False to quit. A command ends the script being typed: the script goes first."""
        if buffer and COMMAND.match(line):
            async with self._settling():
                await self._send_script(buffer)
        async with self._settling():
            return await self._handle(line, buffer)

    @contextlib.asynccontextmanager
    async def _settling(self) -> AsyncIterator[None]:
        """For piped input: whatever a line sent is handled before the next line is read."""
        before = self.emulator.state.last_seq
        yield
        if self.settle is not None and self.emulator.state.last_seq != before:
            await self.settle()

    async def _send_script(self, buffer: list[str]) -> None:
        # A script over 4096 characters goes as a client sends it: in parts, which the bot joins.
        await self.user.send_long_text("\n".join(buffer))
        buffer.clear()

    async def _handle(self, line: str, buffer: list[str]) -> bool:
        if not COMMAND.match(line):
            if line.strip():
                buffer.append(line)
            elif buffer:
                await self._send_script(buffer)
            return True
        command, _, rest = line.partition(" ")
        if command == "/quit":
            return False
        if command == "/file":
            await self._send_file(rest.strip())
        elif command == "/press":
            await self._press(rest.strip())
        elif command == "/reply":
            await self._reply(rest.strip())
        else:
            await self.user.send_command(line)
        return True

    async def _send_file(self, name: str) -> None:
        path = Path(name)
        try:
            data = await asyncio.to_thread(lambda: path.expanduser().read_bytes())
        except OSError as exc:
            print(f"(cannot read {path}: {exc.strerror})")
            return
        mime = "text/plain" if path.suffix.lower() in {".txt", ".md", ".fountain"} else "application/octet-stream"
        await self.user.send_document(data, file_name=path.name, mime_type=mime)

    async def _press(self, which: str) -> None:
        message = next((m for m in reversed(self.user.chat.bot_messages) if m.callback_data), None)
        if message is None or not which.isdigit() or not 1 <= int(which) <= len(message.callback_data):
            print("(no such button: /press N with N as shown under the storyboard)")
            return
        answer = await (await self.user.press(message.message_id, message.callback_data[int(which) - 1]))
        print(f"bot (toast): {answer.text or ''}")

    async def _reply(self, text: str) -> None:
        prompt = next((m for m in reversed(self.user.chat.bot_messages) if m.force_reply), None)
        if prompt is None or not text:
            print("(nothing to reply to, or nothing typed: /reply TEXT after the bot asks)")
            return
        await self.user.reply(prompt.message_id, text)


async def run_demo(telegram: TelegramSettings, core: CoreSettings, *, files_dir: Path) -> int:
    """0 when the input ends or /quit, 130 on Ctrl-C; either way the bot and the emulator are stopped in order."""
    token = demo_token()
    made_admin = not core.access.admin_user_ids
    core = demo_settings(core)
    async with BotAPIEmulator(token=token, bot_username="bhiv_demo_bot", bot_first_name="bhiv-bot") as emu:
        telegram = telegram.model_copy(
            update={
                "telegram_bot_token": SecretStr(token),
                "telegram_api_base_url": emu.base_url,
                "telegram_api_file_url": emu.file_url,
                "webhook_url": None,
            }
        )
        application = create_application(telegram, core)
        user = emu.user(DEMO_USER_ID, "You")
        async with running(application, poll_timeout_s=1):

            async def settle() -> None:
                await _settle(application, emu)

            chat = TerminalChat(emu, user, files_dir, settle=None if sys.stdin.isatty() else settle)
            print(intro(core.access, made_admin=made_admin), flush=True)
            interrupted = await _until_interrupted(_converse(chat, settle))
    if interrupted:
        print("\nBye: the bot and the emulator have stopped.", flush=True)
        return INTERRUPTED
    return 0


async def _converse(chat: TerminalChat, settle: Callable[[], Awaitable[None]]) -> None:
    printer = asyncio.create_task(chat.show_bot_messages())
    try:
        await _read_lines(chat)
        await settle()
    finally:
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer


async def _until_interrupted(work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` to its end (False), or until Ctrl-C cancels it (True). Nothing in it may block the loop: the
    terminal is read by the loop itself (bot.input_lines), so the cancel takes effect at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    previous = signal.getsignal(signal.SIGINT)
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        await task
    except asyncio.CancelledError:
        if not interrupted:
            raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:  # asyncio.run's own: a Ctrl-C while stopping cancels that too
            signal.signal(signal.SIGINT, previous)
    return interrupted


def demo_settings(settings: CoreSettings) -> CoreSettings:
    """The demo keeps its own SQLite file (data/demo.db) unless DATABASE_URL says otherwise, and makes the demo
    user an admin, so that /stats can be tried, unless ADMIN_USER_IDS names the admins."""
    changes: dict[str, object] = {}
    if not settings.storage.database_url:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{(settings.storage.data_dir / 'demo.db').resolve()}"
        changes["storage"] = settings.storage.model_copy(update={"database_url": url})
    if not settings.access.admin_user_ids:
        changes["access"] = settings.access.model_copy(update={"admin_user_ids": frozenset({DEMO_USER_ID})})
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


async def _read_lines(chat: TerminalChat) -> None:
    buffer: list[str] = []
    async with InputLines(sys.stdin.fileno(), encoding=sys.stdin.encoding or "utf-8") as lines:
        while (line := await lines.readline()) is not None:
            if not await chat.handle(line, buffer):
                return
    if buffer:  # end of input: send what is pending
        await chat.handle("", buffer)


async def _settle(application: object, emulator: BotAPIEmulator) -> None:
    """Wait until the bot has taken every update, no job is queued or running, nothing waits in the outbox,
    and the chat has been quiet for a moment."""
    services = application.bot_data[SERVICES_KEY]  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    last_seq = -1
    while loop.time() < deadline:
        await asyncio.sleep(QUIET_S)
        idle = emulator.state.updates.head() is None and await services.queries.backlog() == (0, 0)
        if idle and emulator.state.last_seq == last_seq:
            return
        last_seq = emulator.state.last_seq
