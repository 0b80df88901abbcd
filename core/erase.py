"""A user's own data with one bot, counted (what /delete says it will remove) and erased, in one transaction.

What goes and what stays is ``storage.erase``'s docstring. A job a worker is running meanwhile stops being its:
the next lease renewal fails and the pipeline is stopped, or a completion that comes first is erased with the rest,
or one that comes after moves no row and stores nothing (``core.queue``). A notification already handed to
Telegram may still arrive; nothing waiting in the outbox does.
"""

from __future__ import annotations

import logging

from core.errors import retrying_db_errors
from storage.db import Database
from storage.erase import DataCounts, count_user_data, erase_user_data

__all__ = ["DataCounts", "UserDataService"]

logger = logging.getLogger(__name__)

# A deadlock with a sender recording a delivery (it locks the notification, then the job) fails one of the two
# transactions; the erase is safe to run again.
RETRY_DELAYS_S = (0.1, 0.5)


class UserDataService:
    """One bot's users' data: their scripts, jobs, versions, videos, ratings and stored messages."""

    def __init__(self, db: Database, *, bot_id: int) -> None:
        self.db = db
        self.bot_id = bot_id

    async def count(self, user_id: int, *, chat_id: int) -> DataCounts:
        return await self.db.read(count_user_data, self.bot_id, user_id, chat_id)

    async def erase(self, user_id: int, *, chat_id: int) -> DataCounts:
        erased = await retrying_db_errors(
            lambda: self.db.write(erase_user_data, self.bot_id, user_id, chat_id),
            RETRY_DELAYS_S,
            what=f"erasing user {user_id}'s data",
        )
        if erased.anything:
            logger.info(
                "user %s erased their data: %d script(s), %d job(s) (%d active), %d version(s), %d video(s), "
                "%d rating(s), %d notification(s), %d stored update(s)",
                user_id,
                erased.scripts,
                erased.jobs,
                erased.active_jobs,
                erased.versions,
                erased.videos,
                erased.ratings,
                erased.notifications,
                erased.messages,
            )
        return erased
