"""Who holds a lease: every process names itself ``<host>:<pid>``, and its leases of stored updates and of
notifications being sent carry that name (jobs carry ``<host>:<pid>/<worker>``).

A lease runs out on the database's clock unless its holder renews it (every third of ``BOT_LEASE_S``). Another
process takes a lease over only when it has run out, with one exception that makes a restart on one machine
quick: a lease of a process on this host whose pid is gone (or is this process's own pid: its previous life, as
in a restarted container) is taken at once. Two processes alive together (a rolling deploy: the old one
draining, the new one polling) never take each other's leases.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

HOST_CHARS = 40  # owner columns hold 64: "<host>:<pid>/<worker index>" with the host cut to fit


@cache
def this_process() -> str:
    return f"{socket.gethostname()[:HOST_CHARS]}:{os.getpid()}"


def gone(owner: str) -> bool:
    """Whether ``owner`` is a process known to be dead: on this host, and its pid not running (or ours)."""
    host, _, rest = owner.rpartition(":")
    pid_text = rest.split("/", 1)[0]
    if host != socket.gethostname()[:HOST_CHARS] or not pid_text.isdigit():
        return False  # another machine's (or not ours to judge): its lease runs out if it is dead
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
