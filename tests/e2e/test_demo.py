"""``bhiv-bot demo`` as a newcomer runs it: a real process, its standard input piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo import COMMAND

pytestmark = pytest.mark.slow


def run_cli(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LM_", "TELEGRAM_", "DATABASE_"))}
    env |= {"DATA_DIR": str(tmp_path / "data"), "OPS_PORT": "0"}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_demo_chat_makes_rates_and_improves_a_storyboard(tmp_path: Path) -> None:
    script = tmp_path / "scene.txt"
    script.write_text("A door opens.\nRain outside.\n", encoding="utf-8")
    long_paste = [f"Shot {n}: the camera drifts over the harbour at dawn, gulls circling." for n in range(1, 121)]
    stdin = "\n".join(
        [
            "INT. KITCHEN - NIGHT",
            "A kettle <whistles> & the cat jumps.",
            "",
            "/press 2",
            "/reply slower please",
            f"/file {script}",
            *long_paste,  # over 8,000 characters typed in one go: a client sends it in parts
            "",
            "/jobs",
        ]
    )

    done = run_cli(["demo"], stdin, tmp_path)

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Got your script" in out and "A kettle <whistles> & the cat jumps." in out
    assert "What should change?" in out
    assert re.search(r"Job \w{10} · version 2 · \d+ scenes", out)  # the improvement's result itself, not only its file
    results = set(re.findall(r"Job (\w{10}) · version (\d)", out))  # edits print a result again: count once
    assert len(results) == 4  # the script, its improvement, the file, the long paste
    assert "· 120 scenes ·" in out  # the paste's parts made one script, every line a scene
    assert (tmp_path / "data" / "demo-files").is_dir()
    assert "Traceback" not in done.stderr


def run_main(
    args: list[str], stdin: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """The CLI in this process (a subprocess costs seconds of imports): exit code, stdout, stderr."""
    import io
    import logging

    from bot.cli import main

    for name in ("TELEGRAM_BOT_TOKEN", "LM_BASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        code = main(args)
    finally:
        root.handlers[:], root.level = saved
    out, err = capsys.readouterr()
    return code, out, err


def test_run_without_a_token_says_where_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["run"], b"", monkeypatch, capsys)

    assert code == 2
    assert err.count("\n") == 1
    assert "@BotFather" in err and "bhiv-bot demo" in err


def test_storyboard_command_prints_the_json_for_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["storyboard", "-"], b"One <b>\n\nTwo & three\n", monkeypatch, capsys)

    assert code == 0, err
    assert '"text": "One <b>"' in out and '"start_time": 3.0' in out


def test_storyboard_command_renders_the_video_without_telegram(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import av

    out_path = tmp_path / "out.mp4"
    code, out, err = run_main(
        ["storyboard", "-", "--video", str(out_path)], b"A door opens\nA cat walks in\nThe end\n", monkeypatch, capsys
    )

    assert code == 0, err
    assert '"total_duration": 9.0' in out  # the JSON on stdout as before
    assert f"video {out_path} (9 s, 3 cards, 1280x720 H.264" in err
    with av.open(str(out_path)) as container:
        assert abs(container.duration / av.time_base - 9.0) <= 0.25


def test_storyboard_command_refuses_an_empty_script_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["storyboard", "-"], b"  \n\n", monkeypatch, capsys)

    assert code == 1
    assert "empty" in err and "Traceback" not in err


async def test_demo_uses_the_lm_named_by_lm_base_url(tmp_path: Path) -> None:
    import asyncio

    from tests.fakes.fake_lm import FakeLM

    env = {key: value for key, value in os.environ.items() if not key.startswith(("LM_", "TELEGRAM_", "DATABASE_"))}
    async with FakeLM() as lm:
        env |= {"DATA_DIR": str(tmp_path / "data"), "OPS_PORT": "0", "LM_BASE_URL": lm.base_url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(process.communicate(b"A hero wakes up.\nShe runs.\n\n"), 90)

    assert process.returncode == 0, err.decode()
    assert "Made by the language model." in out.decode()
    assert len(lm.requests) == 1


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WORKER_CONCURRENCY", "many", "WORKER_CONCURRENCY"),
        ("LOG_LEVEL", "verbose", "Unknown level"),
        ("WEBHOOK_SECRET", "has spaces!", "WEBHOOK_SECRET"),
        ("WEBHOOK_SECRET", "short_but_valid_chars", "32-256 characters"),
        ("ALLOWED_USER_IDS", "12,abc", "ALLOWED_USER_IDS"),
        ("TELEGRAM_MAX_SENDS_PER_S", "0.5", "TELEGRAM_MAX_SENDS_PER_S"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_never_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)

    code, _, err = run_main(["migrate"], b"", monkeypatch, capsys)

    assert code == 2
    assert err.count("\n") == 1 and says in err
    assert value not in err or name == "LOG_LEVEL"  # a value may be a secret: not echoed


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LM_", "TELEGRAM_", "DATABASE_"))}
    env.pop("ADMIN_USER_IDS", None)
    return env | {"DATA_DIR": str(tmp_path / "data"), "OPS_PORT": "0", "RENDER_VIDEO": "false"} | extra


# Started through this so the pseudo-terminal becomes the demo's controlling terminal, as a shell's is: then a
# Ctrl-C typed into it is a SIGINT to the demo's whole process group, exactly as at a real terminal.
WITH_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'bot.cli', 'demo'])"
)


class Terminal:
    """A pseudo-terminal whose other end is a real ``bhiv-bot demo``: type into it and read what it shows."""

    def __init__(self, tmp_path: Path) -> None:
        master, slave = os.openpty()
        self.master = master
        self.shown = ""
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-c", WITH_TERMINAL],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env=demo_env(tmp_path),
            cwd=tmp_path,
        )
        os.close(slave)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_for(self, text: str, timeout_s: float = 60.0) -> bool:
        """Read what the demo shows until ``text`` appears (True) or it exits or time runs out (False)."""
        import select
        import time

        deadline = time.monotonic() + timeout_s
        while text not in self.shown and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the demo has exited and closed its end
                return text in self.shown
            self.shown += chunk.decode(errors="replace")
        return text in self.shown

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def test_ctrl_c_in_a_terminal_ends_the_demo_at_once_without_a_traceback(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path)
    try:
        assert terminal.wait_for("/quit"), terminal.shown  # the intro is up: the demo is reading the terminal
        terminal.type("A door opens.\nRain outside.\n\n")
        assert terminal.wait_for("How did I do?"), terminal.shown  # a job went through the whole bot

        terminal.type("\x03")  # Ctrl-C, with nothing typed after it: no Enter

        terminal.wait_for("Bye", timeout_s=30)
        code = terminal.process.wait(timeout=30)
        terminal.wait_for("never shown", timeout_s=1)  # whatever it printed on the way out
    finally:
        terminal.close()
    assert code == 130, terminal.shown
    assert "Bye" in terminal.shown
    assert "Traceback" not in terminal.shown and "Error" not in terminal.shown.split("Bye")[-1]


def test_a_command_ends_the_script_being_typed_instead_of_becoming_a_scene(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        input="line one\nline two\n/jobs\n",
        capture_output=True,
        text=True,
        timeout=90,
        env=demo_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert len(set(re.findall(r"Job (\w{10}) · version", out))) == 1
    assert "· 2 scenes ·" in out and "/jobs" not in out.split("bot:", 1)[1].split("Your recent jobs")[0]
    assert "Your recent jobs" in out  # and the command went to the bot


def run_demo_piped(tmp_path: Path, stdin: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        env=demo_env(tmp_path, **env),
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_intro_names_the_demo_user_who_may_see_stats_and_says_when_skip_exists(tmp_path: Path) -> None:
    out = run_demo_piped(tmp_path, "/stats\n")

    intro = out.split("bot:", 1)[0]
    assert "user 1001" in intro
    assert "6 is Skip" not in intro
    assert "Skip" in intro and "after a rating of 1 or 2" in intro
    assert "/stats" in intro and "ADMIN_USER_IDS" in intro
    assert "/stats is for the bot's admins" not in out  # the demo user is an admin here


def test_demo_keeps_the_operators_admins_and_says_so(tmp_path: Path) -> None:
    out = run_demo_piped(tmp_path, "/stats\n", ADMIN_USER_IDS="42")

    intro = out.split("bot:", 1)[0]
    assert "ADMIN_USER_IDS" in intro and "42" in intro
    assert "/stats is for the bot's admins" in out


def readme_configuration_variables() -> set[str]:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def settings_fields() -> set[str]:
    from bot.settings import TelegramSettings
    from core.settings import AccessSettings, JobSettings, LMSettings, RenderSettings, StorageSettings

    classes = [TelegramSettings, StorageSettings, LMSettings, JobSettings, AccessSettings, RenderSettings]
    return {name.upper() for cls in classes for name in cls.model_fields}


READ_OUTSIDE_SETTINGS = {"LOG_LEVEL", "LOG_FORMAT", "HTTPS_PROXY", "HTTP_PROXY"}  # bot.logs; the HTTP clients


@pytest.mark.parametrize(
    ("command", "must_name"),
    [
        ("run", {"TELEGRAM_BOT_TOKEN", "DATABASE_URL", "LM_BASE_URL", "ADMIN_USER_IDS", "WEBHOOK_URL", "OPS_PORT"}),
        ("worker", {"DATABASE_URL", "LM_BASE_URL", "WORKER_CONCURRENCY", "JOB_LEASE_S", "RENDER_VIDEO"}),
    ],
)
def test_help_lists_the_variables_that_matter_each_in_the_readme_table(
    command: str, must_name: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out

    assert exit_.value.code == 0
    named = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", out.split("environment", 1)[-1]))
    assert must_name <= named
    assert named <= readme_configuration_variables()  # the help never names what the README does not explain
    assert named <= settings_fields() | READ_OUTSIDE_SETTINGS  # nor a variable nothing reads
    assert "README" in out


@pytest.mark.parametrize(
    ("line", "is_command"),
    [("/jobs", True), ("/press 1", True), ("/start@bhiv_bot", True), ("/etc/hosts flashes on screen", False),
     ("/ 2 s of black", False), ("and/or", False)],
)  # fmt: skip
def test_only_a_command_ends_a_typed_script(line: str, is_command: bool) -> None:
    assert bool(COMMAND.match(line)) is is_command
