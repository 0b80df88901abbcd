"""The ``bhiv-bot`` command: run | worker | demo | storyboard | migrate.

Whatever stops a command from starting ends it with one line on stderr that names the setting at fault and
the fix, and a non-zero exit: never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from telegram.error import InvalidToken, TelegramError

from bot.app import Webhook, create_application, running
from bot.env_help import RUN_VARIABLES, WORKER_VARIABLES, build_epilog
from bot.logs import configure_logging
from bot.ops import OpsServer
from bot.settings import TelegramSettings
from bot.texts import rejection_text
from core import failpoints, health
from core.errors import BhivError, ScriptRejectedError
from core.scripts import clean_script, decode_script
from core.services import CoreSettings, Role, create_pipeline, migrate_database, open_core

logger = logging.getLogger("bhiv_bot")

WEBHOOK_HINT = "bhiv-bot: WEBHOOK_URL is set but WEBHOOK_SECRET is not; set both (32-256 of A-Z a-z 0-9 _ -)."
WORKER_HINT = "bhiv-bot: WORKER_CONCURRENCY=0 leaves a worker nothing to do; set it to 1 or more (default 4)."
SETUP_HINT = (
    "bhiv-bot: TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather (https://t.me/BotFather), "
    "or try the bot without Telegram: bhiv-bot demo"
)


def main(argv: list[str] | None = None) -> int:
    # python-telegram-bot 22: durations such as RetryAfter.retry_after as timedelta (the coming default).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    failpoints.arm_from_env()  # crash tests only: docs/RELIABILITY.md
    parser = argparse.ArgumentParser(prog="bhiv-bot", description="Turn short video scripts into storyboards.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_help = "start the bot: long polling, or a webhook when WEBHOOK_URL is set"
    commands.add_parser("run", help=run_help, description=run_help, **_env_epilog(RUN_VARIABLES))
    worker_help = (
        "run storyboard jobs only (no Telegram token), against the bot's DATABASE_URL, on this machine or another"
    )
    commands.add_parser("worker", help=worker_help, description=worker_help, **_env_epilog(WORKER_VARIABLES))
    commands.add_parser("demo", help="chat with the real bot in this terminal, through the bundled Telegram emulator")
    storyboard = commands.add_parser("storyboard", help="print the storyboard JSON for a script file (- for stdin)")
    storyboard.add_argument("file", help="a text file with one line per scene, or - to read standard input")
    storyboard.add_argument("--video", metavar="OUT.mp4", type=Path, help="also render the storyboard as a video")
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
        if args.command == "worker":
            return worker(telegram, settings)
        if args.command == "demo":
            from bot.demo import run_demo  # the emulator is a third of the code: only the demo loads it

            return asyncio.run(run_demo(telegram, settings, files_dir=settings.storage.data_dir / "demo-files"))
        if args.command == "storyboard":
            data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
            return asyncio.run(_storyboard(settings, data, video=args.video))
        return asyncio.run(_migrate(settings))
    except ScriptRejectedError as exc:
        print(f"bhiv-bot: {rejection_text(exc)}", file=sys.stderr)
        return 1
    except InvalidToken:
        # python-telegram-bot puts the token in this error's text: say what to check, never the token.
        print(
            "bhiv-bot: TELEGRAM_BOT_TOKEN was refused by the Bot API (getMe answered 401 or 404): check the token, "
            "and TELEGRAM_API_BASE_URL if you set it",
            file=sys.stderr,
        )
        return 1
    except TelegramError as exc:  # getMe could not be made: the network, or the URL
        print(
            f"bhiv-bot: the Bot API at TELEGRAM_API_BASE_URL ({_host_of(telegram.telegram_api_base_url)}) did not "
            f"answer ({type(exc).__name__}); check that URL and this machine's network",
            file=sys.stderr,
        )
        return 1
    except BhivError as exc:
        print(f"bhiv-bot: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bhiv-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _env_epilog(variables: list[tuple[str, str]]) -> dict[str, Any]:
    """The environment a command reads, kept as written (RawDescriptionHelpFormatter) under its --help."""
    return {"epilog": build_epilog(variables), "formatter_class": argparse.RawDescriptionHelpFormatter}


def _host_of(url: str) -> str:
    """The host part of a URL for a message (never its path: the token follows it), or that it does not parse."""
    try:
        return urlsplit(url).netloc or "no host"
    except ValueError:
        return "not a valid URL"


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


def run(telegram: TelegramSettings, settings: CoreSettings) -> int:
    if not telegram.token:
        print(SETUP_HINT, file=sys.stderr)
        return 2
    if telegram.webhook_url and not telegram.webhook_secret:
        print(WEBHOOK_HINT, file=sys.stderr)
        return 2
    roles = frozenset({Role.RECEIVE, Role.SEND} | ({Role.WORK} if settings.jobs.worker_concurrency else set()))
    asyncio.run(serve(telegram, settings, roles=roles))
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def serve(telegram: TelegramSettings, settings: CoreSettings, *, roles: frozenset[Role]) -> None:
    """Run until SIGINT or SIGTERM, then stop in order: no new work, in-flight jobs and sends finish."""
    stop = _stop_on_signals()
    webhook = None
    if telegram.webhook_url and telegram.webhook_secret:
        webhook = Webhook(
            telegram.webhook_url,
            telegram.webhook_secret.get_secret_value(),
            listen=telegram.webhook_listen,
            port=telegram.webhook_port,
        )
    application = create_application(telegram, settings, roles=roles)
    async with running(application, webhook=webhook):
        if webhook is None:
            logger.info("long polling %s", _host_of(telegram.telegram_api_base_url))
        else:
            logger.info("webhook mode on %s:%s", webhook.listen, webhook.port)
        await stop.wait()
    logger.info("stopped")


def worker(telegram: TelegramSettings, settings: CoreSettings) -> int:
    if settings.jobs.worker_concurrency == 0:
        print(WORKER_HINT, file=sys.stderr)
        return 2
    asyncio.run(serve_worker(telegram, settings))
    return 0


async def serve_worker(telegram: TelegramSettings, settings: CoreSettings) -> None:
    """The pipeline only, WORKER_CONCURRENCY jobs at once, with /healthz and /metrics, until SIGINT or SIGTERM:
    then no new claims, and the jobs in hand get SHUTDOWN_GRACE_S to finish before they go back to the queue."""
    stop = _stop_on_signals()
    if not settings.storage.database_url:
        logger.warning(
            "DATABASE_URL is not set: this worker uses %s, and runs only the jobs of a bot on this machine that "
            "uses the same file; set DATABASE_URL to the bot's database",
            settings.storage.resolved_database_url(),
        )
    async with contextlib.AsyncExitStack() as stack:
        core = await open_core(settings, roles=frozenset({Role.WORK}))
        stack.push_async_callback(core.aclose)
        if telegram.ops_enabled:
            ops = OpsServer(
                lambda: health.check(core, None, max_outbox_lag_s=telegram.max_outbox_lag_s),
                host=telegram.ops_listen,
                port=telegram.ops_port,
            )
            await ops.start()
            stack.push_async_callback(ops.stop)
        workers = core.workers
        assert workers is not None  # WORKER_CONCURRENCY > 0, checked above
        await workers.start()
        stack.push_async_callback(workers.stop)
        core.listen(bot_id=None)
        logger.info(
            "worker %s is up: %d job(s) at once; wake-ups %s",
            workers.name,
            settings.jobs.worker_concurrency,
            "by LISTEN/NOTIFY, polling as the safety net" if core.db.can_listen else "by polling (SQLite)",
        )
        await stop.wait()
        logger.info("stopping: no new jobs; the jobs in hand get %.0f s", settings.jobs.shutdown_grace_s)
    logger.info("stopped")


async def _storyboard(settings: CoreSettings, data: bytes, *, video: Path | None = None) -> int:
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
    if video is not None:
        from core.fonts import find_fonts, warn_missing
        from core.video import render_video

        fonts = find_fonts()
        warn_missing(fonts)
        info = await asyncio.to_thread(render_video, result.storyboard, video, fonts)
        print(
            f"bhiv-bot: video {info.path} ({info.duration_s:g} s, {info.cards} cards, {info.width}x{info.height} "
            f"H.264, {info.size_bytes / 1024:.0f} KB); play it with any player, e.g. ffplay or VLC",
            file=sys.stderr,
        )
    return 0


async def _migrate(settings: CoreSettings) -> int:
    print(await migrate_database(settings.storage))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
