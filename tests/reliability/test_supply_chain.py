"""The Docker image installs what pyproject.toml asks for: docker/requirements.lock pins every dependency (and the
PostgreSQL extra, and the build backend the image builds bhiv-bot with) at a version the project admits, each with
its hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\]+)")


def _lock() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "docker" / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = (match[2], 0)
        if current is not None and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def test_the_image_lock_pins_every_dependency_at_an_admitted_version_with_hashes() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, backend = pyproject["project"], pyproject["build-system"]["requires"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["postgres"] + backend]
    pins = _lock()

    missing = [str(r) for r in wanted if canonicalize_name(r.name) not in pins]
    outside = [
        f"{r.name}=={pins[canonicalize_name(r.name)][0]} (wants {r.specifier})"
        for r in wanted
        if canonicalize_name(r.name) in pins and pins[canonicalize_name(r.name)][0] not in r.specifier
    ]
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert missing == [], "pyproject.toml wants what the lock lacks: make docker/requirements.lock anew"
    assert outside == []
    assert unhashed == []
