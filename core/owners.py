"""Who holds a lease: every process names itself ``<host>:<pid namespace>:<pid>``, and its leases of stored
updates and of notifications being sent carry that name (jobs carry ``<name>/<worker>``).

A lease runs out on the database's clock unless its holder renews it (every third of ``BOT_LEASE_S``). Another
process takes a lease over only when it has run out, with one exception that makes a restart on one machine
quick: a lease of a process of this host and PID namespace whose pid no longer runs (or is this process's own
pid: its previous life) is taken at once. The namespace keeps two containers that share a hostname, each with
its own pid 1, from judging each other: a process of another namespace is judged by its lease, as one of
another machine. Two processes alive together (a rolling deploy: the old one draining, the new one polling)
never take each other's leases.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

HOST_CHARS = 32  # owner columns hold 64: "<host>:<namespace>:<pid>/<worker index>" with the host cut to fit


@cache
def _here() -> str:
    """This host and PID namespace (the inode of /proc/self/ns/pid; 0 where there is none to read)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()[:HOST_CHARS]}:{namespace}"


def process_name(pid: int) -> str:
    """The name a process of this host and namespace with ``pid`` goes by."""
    return f"{_here()}:{pid}"


def this_process() -> str:
    return process_name(os.getpid())


def gone(owner: str) -> bool:
    """Whether ``owner`` is a process known to be dead: of this host and namespace, its pid not running (or
    ours: a previous life)."""
    here, _, rest = owner.rpartition(":")
    pid_text = rest.split("/", 1)[0]
    if here != _here() or not pid_text.isdigit():
        return False  # another machine's or namespace's (or not ours to judge): its lease runs out if it is dead
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
