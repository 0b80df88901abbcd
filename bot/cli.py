"""The ``bhiv-bot`` command: storyboard | migrate (and, from the Telegram side, run | demo)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError
from telegram import Update

from bot.app import create_application
from bot.demo import run_demo
from bot.logs import configure_logging
from bot.settings import TelegramSettings
from core.errors import BhivError
from core.intake import clean_script, decode_script
from core.services import CoreSettings, create_pipeline, migrate_database

logger = logging.getLogger("bhiv_bot")

WEBHOOK_HINT = "bhiv-bot: WEBHOOK_URL is set but WEBHOOK_SECRET is not; set both (1-256 of A-Z a-z 0-9 _ -)."
SETUP_HINT = (
    "bhiv-bot: TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather (https://t.me/BotFather), "
    "or try the bot without Telegram: bhiv-bot demo"
)


def main(argv: list[str] | None = None) -> int:
    # python-telegram-bot 22: durations such as RetryAfter.retry_after as timedelta (the coming default).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    parser = argparse.ArgumentParser(prog="bhiv-bot", description="Turn short video scripts into storyboards.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="start the bot: long polling, or a webhook when WEBHOOK_URL is set")
    commands.add_parser("demo", help="chat with the real bot in this terminal, through the bundled Telegram emulator")
    storyboard = commands.add_parser("storyboard", help="print the storyboard JSON for a script file (- for stdin)")
    storyboard.add_argument("file", help="a text file with one line per scene, or - to read standard input")
    commands.add_parser("migrate", help="bring the database (DATABASE_URL) to the current schema")
    args = parser.parse_args(argv)

    try:
        settings = CoreSettings.from_env()
        telegram = TelegramSettings()
        quiet = args.command in ("storyboard", "demo")
        configure_logging(secrets=secrets_of(settings, telegram), level="WARNING" if quiet else None)
    except (ValidationError, ValueError) as exc:
        print(f"bhiv-bot: bad setting: {settings_problem(exc)}", file=sys.stderr)
        return 2
    try:
        if args.command == "run":
            return run(telegram, settings)
        if args.command == "demo":
            return asyncio.run(
                run_demo(telegram, demo_settings(settings), files_dir=settings.storage.data_dir / "demo-files")
            )
        if args.command == "storyboard":
            data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
            return asyncio.run(_storyboard(settings, data))
        return asyncio.run(_migrate(settings))
    except BhivError as exc:
        print(f"bhiv-bot: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bhiv-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def settings_problem(exc: Exception) -> str:
    """One line naming the environment variable at fault (never echoing its value: it may be a secret)."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "?"
        return f"{name}: {error['msg']}"
    return str(exc).splitlines()[0]  # e.g. LOG_LEVEL: Unknown level: 'VERBOSE'


def secrets_of(settings: CoreSettings, telegram: TelegramSettings) -> list[str]:
    """Everything that must never reach a log line."""
    values = [settings.lm.lm_api_key, telegram.telegram_bot_token, telegram.webhook_secret]
    return [value.get_secret_value() for value in values if value is not None]


def demo_settings(settings: CoreSettings) -> CoreSettings:
    """The demo keeps its own SQLite file (data/demo.db, new each run) unless DATABASE_URL says otherwise."""
    if settings.storage.database_url:
        return settings
    storage = settings.storage.model_copy(update={"database_url": _demo_database_url(settings)})
    return dataclasses.replace(settings, storage=storage)


def _demo_database_url(settings: CoreSettings) -> str:
    """A fresh SQLite file each run: the emulator numbers messages from 1 again, and a message id seen before
    would be taken for a re-delivered update."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    path = (settings.storage.data_dir / "demo.db").resolve()
    for stale in (path, path.with_name("demo.db-wal"), path.with_name("demo.db-shm")):
        stale.unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def run(telegram: TelegramSettings, settings: CoreSettings) -> int:
    if not telegram.token:
        print(SETUP_HINT, file=sys.stderr)
        return 2
    if telegram.webhook_url and not telegram.webhook_secret:
        print(WEBHOOK_HINT, file=sys.stderr)
        return 2
    application = create_application(telegram, settings)
    if telegram.webhook_url:
        assert telegram.webhook_secret is not None
        logger.info("webhook mode on %s:%s", telegram.webhook_listen, telegram.webhook_port)
        application.run_webhook(
            listen=telegram.webhook_listen,
            port=telegram.webhook_port,
            url_path=urlsplit(telegram.webhook_url).path.lstrip("/"),
            webhook_url=telegram.webhook_url,
            secret_token=telegram.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        logger.info("long polling %s", urlsplit(telegram.telegram_api_base_url).netloc)
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


async def _storyboard(settings: CoreSettings, data: bytes) -> int:
    text = clean_script(
        decode_script(data), max_chars=settings.jobs.max_script_chars, max_scenes=settings.jobs.max_scenes
    )
    pipeline, lm = create_pipeline(settings.lm)
    try:
        result = await pipeline.generate(text)
    finally:
        if lm is not None:
            await lm.aclose()
    if result.lm_error is not None:
        print(f"bhiv-bot: the LM failed ({result.lm_error}); used the local generator", file=sys.stderr)
    print(result.storyboard.to_json())
    return 0


async def _migrate(settings: CoreSettings) -> int:
    print(await migrate_database(settings.storage))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
