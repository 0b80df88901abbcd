"""``python -m tests.bench [FIGURE ...] [--quick]``: run the benchmarks, one line per figure on stdout."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from tests.bench.figures import FIGURES
from tests.bench.harness import open_bench, say
from tests.bench.report import Figure


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description="bhiv-bot's benchmarks.")
    parser.add_argument("figures", nargs="*", metavar="FIGURE", help=f"any of: {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer messages and seconds: a smoke run under a minute")
    args = parser.parse_args(argv)
    unknown = [name for name in args.figures if name not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    return args


async def _run(names: list[str], *, quick: bool) -> int:
    failed = 0
    async with open_bench(quick=quick) as bench:
        for name in names:
            started = time.monotonic()
            try:
                figures = await FIGURES[name](bench)
            except Exception as exc:
                logging.getLogger("tests.bench").exception("%s failed", name)
                figures, failed = [Figure(name, None, note=f"failed: {exc!r}")], failed + 1
            for figure in figures:
                print(figure.line(), flush=True)
            say(f"{name} took {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(_run(args.figures or list(FIGURES), quick=args.quick))


if __name__ == "__main__":
    sys.exit(main())
