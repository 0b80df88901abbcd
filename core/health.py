"""Is the bot healthy? The database answers, the workers and the delivery loop run, the outbox keeps up.

``check`` also refreshes the gauges that describe the database, so /metrics and /healthz agree.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from core.delivery import Delivery
from core.metrics import JOBS, OUTBOX_LAG_SECONDS, OUTBOX_PENDING
from core.services import Core
from storage import stats as stats_queries
from storage.states import JobStatus

logger = logging.getLogger(__name__)

DB_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Health:
    database: bool
    workers_alive: int
    workers_expected: int
    delivery_running: bool
    outbox_pending: int
    outbox_lag_s: float
    max_outbox_lag_s: float
    wakeups_listening: bool = False  # other processes' wake-ups reach this one (PostgreSQL); polling otherwise

    @property
    def ok(self) -> bool:
        return (
            self.database
            and self.workers_alive == self.workers_expected
            and self.delivery_running
            and self.outbox_lag_s <= self.max_outbox_lag_s
        )

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, **asdict(self)}


def _counts(conn: Connection, bot_id: int | None) -> tuple[dict[str, int], tuple[int, datetime | None]]:
    backlog = stats_queries.outbox_backlog(conn, bot_id) if bot_id is not None else (0, None)
    return stats_queries.jobs_by_status(conn), backlog


async def check(core: Core, delivery: Delivery | None, *, max_outbox_lag_s: float) -> Health:
    """``delivery`` is None in a process that does not send (a worker): the outbox is not its to judge."""
    now = core.clock.now()
    database, pending, lag_s = True, 0, 0.0
    try:
        async with asyncio.timeout(DB_TIMEOUT_S):
            # the outbox lag of this process's bot: another bot on the database falling behind is not ours
            by_status, (pending, oldest) = await core.db.read(_counts, delivery.bot_id if delivery else None)
    except Exception:
        logger.warning("health check: the database did not answer", exc_info=True)
        database = False
    else:
        for status in JobStatus:
            JOBS.labels(status).set(by_status.get(status, 0))
        lag_s = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        if delivery is not None:
            OUTBOX_PENDING.set(pending)
            OUTBOX_LAG_SECONDS.set(lag_s)
    return Health(
        database=database,
        workers_alive=core.workers.alive if core.workers else 0,
        workers_expected=core.settings.jobs.worker_concurrency if core.workers else 0,
        delivery_running=delivery.running if delivery is not None else True,
        outbox_pending=pending,
        outbox_lag_s=round(lag_s, 3),
        max_outbox_lag_s=max_outbox_lag_s,
        wakeups_listening=core.wakeups.listening,
    )
