"""The ``bhiv-bot`` command: storyboard | migrate (and, from the Telegram side, run | demo)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.logs import configure_logging
from core.errors import BhivError
from core.intake import clean_script, decode_script
from core.services import CoreSettings, create_pipeline, migrate_database

logger = logging.getLogger("bhiv_bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bhiv-bot", description="Turn short video scripts into storyboards.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    storyboard = commands.add_parser("storyboard", help="print the storyboard JSON for a script file (- for stdin)")
    storyboard.add_argument("file", help="a text file with one line per scene, or - to read standard input")
    commands.add_parser("migrate", help="bring the database (DATABASE_URL) to the current schema")
    args = parser.parse_args(argv)

    settings = CoreSettings.from_env()
    secrets = [settings.lm.lm_api_key.get_secret_value()] if settings.lm.lm_api_key else []
    configure_logging(secrets=secrets, level="WARNING" if args.command == "storyboard" else None)
    try:
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
