"""A process that cannot start says why in one line, exits non-zero and leaves nothing running: each cause on a
real ``bhiv-bot run`` process (a port in use, a database that cannot be parsed, reached or driven, a refused
token, a bad setting)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.emulator import BotAPIEmulator

pytestmark = pytest.mark.slow

EXIT_WITHIN_S = 30.0
NOISE = ("Traceback", "Task was destroyed", "Event loop is closed", "was never awaited", "Unclosed")


@contextmanager
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_on(port: int) -> dict[str, str]:
    """Webhook mode on ``port`` of loopback."""
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
        "WEBHOOK_SECRET": "s" * 32,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }


@asynccontextmanager
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(token="777001:STARTUP-test_token") as emu:
        yield emu


async def run_bot(emu: BotAPIEmulator, tmp_path: Path, command: str = "run", **env: str) -> tuple[int, str]:
    """``bhiv-bot run`` (or ``command``) with ``env``; (exit code, stderr). The process must exit by itself."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LM_", "TELEGRAM_", "DATABASE_", "WEBHOOK"))}
    variables = base | {
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_BASE_URL": emu.base_url,
        "TELEGRAM_API_FILE_URL": emu.file_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'startup.db'}",
        "OPS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        command,
        env=variables | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), EXIT_WITHIN_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail("the process did not exit by itself: something was left running")
    assert process.returncode is not None
    return process.returncode, err.decode(errors="replace")


def assert_one_line(err: str, *names: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("bhiv-bot: "), lines[0]
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    assert not any(noise in err for noise in NOISE), err
    return lines[0]


async def test_an_ops_port_in_use_is_one_line_naming_ops_port(tmp_path: Path) -> None:
    with busy_port() as port:
        async with emulator() as emu:
            code, err = await run_bot(emu, tmp_path, OPS_PORT=str(port))

    assert code != 0
    assert_one_line(err, "OPS_PORT", str(port), "set OPS_PORT")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WORKER_CONCURRENCY": "0"}, ("WORKER_CONCURRENCY", "1 or more")),
        ({"DATABASE_URL": "definitely not a url"}, ("DATABASE_URL", "does not parse")),
        ({"OPS_PORT": "busy"}, ("OPS_PORT", "set OPS_PORT")),
    ],
    ids=["no workers", "a bad database url", "ops port in use"],
)
async def test_a_worker_that_cannot_start_says_why_in_one_line(
    tmp_path: Path, env: dict[str, str], names: tuple[str, ...]
) -> None:
    with busy_port() as port:
        values = {name: str(port) if value == "busy" else value for name, value in env.items()}
        async with emulator() as emu:
            code, err = await run_bot(emu, tmp_path, "worker", TELEGRAM_BOT_TOKEN="", **values)

    assert code != 0
    assert_one_line(err, *names)


async def test_a_webhook_port_in_use_is_one_line_naming_webhook_port(tmp_path: Path) -> None:
    with busy_port() as port:
        async with emulator() as emu:
            code, err = await run_bot(emu, tmp_path, **webhook_on(port))

    assert code != 0
    assert_one_line(err, "WEBHOOK_PORT", str(port))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("definitely not a url", "does not parse"),
        ("mysql://root@127.0.0.1/test", "sqlite or postgresql"),
    ],
)
async def test_a_database_url_that_does_not_parse_is_one_line(tmp_path: Path, url: str, says: str) -> None:
    async with emulator() as emu:
        code, err = await run_bot(emu, tmp_path, DATABASE_URL=url)

    assert code != 0
    assert_one_line(err, "DATABASE_URL", says)


async def test_a_sqlite_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    async with emulator() as emu:
        code, err = await run_bot(emu, tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/bot.db")

    assert code != 0
    assert_one_line(err, "DATABASE_URL", "cannot open")


async def test_a_postgres_server_that_refuses_is_one_line(tmp_path: Path) -> None:
    async with emulator() as emu:
        code, err = await run_bot(
            emu, tmp_path, DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/bhiv"
        )

    assert code != 0
    assert_one_line(err, "DATABASE_URL", "cannot reach")


@pytest.mark.postgres
async def test_a_postgres_database_that_does_not_exist_is_one_line(tmp_path: Path, postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="bhiv_missing_db").render_as_string(hide_password=False)
    async with emulator() as emu:
        code, err = await run_bot(emu, tmp_path, DATABASE_URL=url)

    assert code != 0
    assert_one_line(err, "DATABASE_URL", "bhiv_missing_db", "database created")


async def test_psycopg_not_installed_for_a_postgres_url_names_the_install(tmp_path: Path) -> None:
    shim = tmp_path / "no-psycopg"
    (shim / "psycopg").mkdir(parents=True)
    (shim / "psycopg" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\")\n")
    async with emulator() as emu:
        code, err = await run_bot(
            emu,
            tmp_path,
            DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            PYTHONPATH=f"{shim}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        )

    assert code != 0
    assert_one_line(err, "DATABASE_URL", "pip install -e '.[postgres]'")


async def test_a_bad_log_level_is_one_line_naming_it(tmp_path: Path) -> None:
    async with emulator() as emu:
        code, err = await run_bot(emu, tmp_path, LOG_LEVEL="CHATTY")

    assert code == 2
    assert_one_line(err, "LOG_LEVEL")


async def test_a_refused_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    """getMe answered 404 (a valid token at the wrong TELEGRAM_API_BASE_URL) or 401 (a revoked one):
    python-telegram-bot puts the token in its error; nothing of it reaches the output."""
    async with emulator() as emu, emulator() as other:
        wrong_base = other.base_url.replace("/bot", "/nowhere/bot")
        code, err = await run_bot(emu, tmp_path, TELEGRAM_API_BASE_URL=wrong_base)
        token = emu.token

    assert code != 0
    assert_one_line(err, "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL")
    assert token not in err and token.split(":")[1] not in err


async def test_bhiv_bot_run_never_loads_the_emulator(tmp_path: Path) -> None:
    """The bundled emulator is a third of the code; only the demo needs it. The webhook port in use stops the run
    after every role has started, so every module the run imports has been imported by then."""
    with busy_port() as port:
        async with emulator() as emu:
            _, err = await run_bot(emu, tmp_path, PYTHONPROFILEIMPORTTIME="1", **webhook_on(port))

    imported = [line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")]
    assert "core.workers" in imported and "bot.app" in imported  # the run got as far as every role
    assert [name for name in imported if name.startswith("bot.emulator") or name == "bot.demo"] == []


@pytest.mark.parametrize("base_url", ["closed-port", "http://[::1/bot"], ids=["unreachable", "malformed"])
async def test_a_bot_api_that_cannot_be_reached_is_one_line_without_the_token(tmp_path: Path, base_url: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/bot" if base_url == "closed-port" else base_url
    async with emulator() as emu:
        code, err = await run_bot(emu, tmp_path, TELEGRAM_API_BASE_URL=url)
        token = emu.token

    assert code != 0
    assert_one_line(err, "TELEGRAM_API_BASE_URL")
    assert token.split(":")[1] not in err
