"""Who holds a lease: every process names itself ``<host>#<place>:<pid>``, and its leases of stored updates and
of notifications being sent carry that name (jobs carry ``<name>/<worker>``). ``<host>`` is the hostname cut to
fit, for people; ``<place>`` a digest of the whole hostname, the kernel's boot id and the PID namespace, so that
two machines (or two boots, or two containers) never share one, however alike their hostnames.

A lease runs out on the database's clock unless its holder renews it (every third of ``BOT_LEASE_S``). Another
process takes a lease over only when it has run out, with one exception that makes a restart on one machine
quick: a lease of a process of this place whose pid no longer runs (or is this process's own pid: its previous
life) is taken at once. The namespace keeps two containers that share a hostname, each with its own pid 1, from
judging each other: a process of another place is judged by its lease, as one of another machine. (A pid reused
by a new process makes a dead holder look alive: its lease runs out all the same.) Two processes alive together
(a rolling deploy: the old one draining, the new one polling) never take each other's leases while they renew
them; one cut off from the database for longer than a lease loses them, and says so.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

HOST_CHARS = 24  # owner columns hold 64: "<host>#<place>:<pid>/<worker index>" with the host cut to fit


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@cache
def _here() -> str:
    """This machine, boot and PID namespace, as the name's ``<host>#<place>``."""
    hostname = socket.gethostname()
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    place = hashlib.blake2b(
        f"{hostname}|{_read('/proc/sys/kernel/random/boot_id')}|{namespace}".encode(), digest_size=4
    ).hexdigest()
    return f"{hostname[:HOST_CHARS]}#{place}"


def process_name(pid: int) -> str:
    """The name a process of this host and namespace with ``pid`` goes by."""
    return f"{_here()}:{pid}"


def this_process() -> str:
    return process_name(os.getpid())


def gone(owner: str) -> bool:
    """Whether ``owner`` is a process known to be dead: of this place, its pid not running (or ours: a previous
    life). Call it before this process holds anything under its own name."""
    here, _, rest = owner.rpartition(":")
    pid_text = rest.split("/", 1)[0]
    if here != _here() or not pid_text.isdigit():
        return False  # another place's (or not ours to judge): its lease runs out if it is dead
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def dead(names: Iterable[str], *, alive: str | None = None) -> set[str]:
    """Those of ``names`` (process names, or worker names under one) that ``gone`` judges dead, leaving out the
    process named ``alive`` and its workers: this one, once it holds things of its own."""
    return {name for name in names if name.split("/", 1)[0] != alive and gone(name)}


@dataclass(frozen=True, slots=True)
class Holder:
    """This process as the holder of leases of ``lease_s`` seconds."""

    name: str
    lease_s: float

    @property
    def renew_every_s(self) -> float:
        return self.lease_s / 3

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_s)
