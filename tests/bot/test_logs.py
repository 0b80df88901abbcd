from __future__ import annotations

import json
import logging

import pytest

from bot.logs import configure_logging

TOKEN = "123456:AAH-very-secret_token"


@pytest.fixture(autouse=True)
def restore_logging():  # type: ignore[no-untyped-def]
    """configure_logging changes process-wide state; later tests (caplog at DEBUG) must not inherit it."""
    root = logging.getLogger()
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    for name, saved in quiet.items():
        logging.getLogger(name).setLevel(saved)


def test_secrets_are_redacted_in_messages_args_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(secrets=[TOKEN], level="DEBUG", json_lines=False)
    log = logging.getLogger("test")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"boom at /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("failed")

    err = capsys.readouterr().err
    assert TOKEN not in err
    assert err.count("[REDACTED]") == 2  # the request line and the exception message


def test_json_lines_are_one_object_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(secrets=[TOKEN], level="INFO", json_lines=True)
    logging.getLogger("core.intake").info("job %s queued for user %s", "k7m2q9xw4t", 42)
    try:
        raise ValueError(TOKEN)
    except ValueError:
        logging.getLogger("x").exception("bad")

    lines = capsys.readouterr().err.strip().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries[0]["message"] == "job k7m2q9xw4t queued for user 42"
    assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "core.intake"
    assert "ValueError" in entries[1]["exc"] and TOKEN not in lines[1]


def test_httpx_request_lines_are_silenced_even_at_debug() -> None:
    configure_logging(level="DEBUG", json_lines=False)

    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
