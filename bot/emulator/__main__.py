"""``python -m bot.emulator``: serve the Bot API emulator until Ctrl-C (or SIGTERM).

Prints the URLs to plug in: TELEGRAM_API_BASE_URL, TELEGRAM_API_FILE_URL, and the user-side control URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from bot.emulator.flood import FloodLimits
from bot.emulator.server import BotAPIEmulator

logger = logging.getLogger(__name__)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.emulator", description="A local Telegram Bot API emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default="123456:TEST", help="the bot token the emulator accepts")
    parser.add_argument("--bot-username", default="bhiv_test_bot")
    parser.add_argument("--flood-limits", action="store_true", help="enforce Telegram-like flood limits")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    emulator = BotAPIEmulator(args.token, args.bot_username, flood_limits=FloodLimits() if args.flood_limits else False)
    await emulator.start(args.host, args.port)
    print(f"TELEGRAM_API_BASE_URL={emulator.base_url}", flush=True)
    print(f"TELEGRAM_API_FILE_URL={emulator.file_url}", flush=True)
    print(f"EMULATOR_CONTROL_URL={emulator.control_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
