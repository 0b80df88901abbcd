"""Named moments where a crash test kills the process, so it can crash exactly there: mid-transaction, between a
store and its confirmation, between a send and its record.

Disarmed unless ``BHIV_FAILPOINTS`` names them (``bhiv-bot`` reads it once at start): then reaching one sends
SIGKILL to the process itself, with no cleanup of any kind, as a power cut would. ``name@3`` fires the third
time the point is reached. A disarmed point costs one set lookup. (The technique of FreeBSD's fail(9) and
etcd's gofail.)
"""

from __future__ import annotations

import os
import signal
import sys

_armed: dict[str, int] = {}  # name -> reaches left before it fires


def arm(spec: str) -> None:
    """Arm the points of ``spec``: comma-separated names, each optionally ``@n``."""
    _armed.clear()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("@")
        _armed[name] = int(count) if count else 1


def arm_from_env() -> None:
    arm(os.environ.get("BHIV_FAILPOINTS", ""))


def reached(name: str) -> None:
    if name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] <= 0:
        sys.stderr.write(f"failpoint {name}: SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
