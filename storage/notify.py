"""Wake-ups between processes: PostgreSQL's NOTIFY, sent inside the transaction that made the work.

A notification is delivered when its transaction commits, and never when it rolls back, so a listener that
hears one finds the rows it is about. Each names the process that sent it (``ORIGIN``), so a process can skip
its own: those it hears of in memory already. SQLite has no such thing; its processes (on one machine) poll.

    channel      payload               sent when
    bhiv_jobs    "<origin> <count>"    jobs became claimable: submitted, released, put back after a lease
    bhiv_outbox  "<origin> <bot id>"   notifications of that bot were queued, or their leases freed
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

JOBS = "bhiv_jobs"
OUTBOX = "bhiv_outbox"
ORIGIN = f"{os.getpid()}-{secrets.token_hex(4)}"  # this process, as its notifications name it

_NOTIFY = select(func.pg_notify(bindparam("channel"), bindparam("payload")))


def send(conn: Connection, channel: str, detail: str) -> None:
    """Notify ``channel`` listeners when the caller's transaction commits (a no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": channel, "payload": f"{ORIGIN} {detail}"})


def parse(payload: str) -> tuple[str, str]:
    """(origin, detail) of a payload ``send`` made; ("", "") for anything else."""
    origin, _, detail = payload.partition(" ")
    return (origin, detail) if detail else ("", "")
