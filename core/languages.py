"""The language each user chose (with the bot's /language), remembered in the database and cached here.

Core keeps a code ("ru") and never a word: ``bot`` decides which codes it speaks and says everything.

The cache holds, per user, what the database said (None included: "nothing chosen"), so a command costs no query
after a user's first. It is this process's: another ``run`` process (two side by side in a rolling deploy) keeps
what it read until the user falls out of its cache or the process restarts, so for a while it may answer in the
language the user had before.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from core.clock import Clock
from core.types import Author
from storage import users as user_queries
from storage.db import Database

logger = logging.getLogger(__name__)

MAX_CACHED_USERS = 10_000  # about a megabyte at most; the least recently asked for go first
MAX_LANGUAGE_CHARS = 16  # users.language's width


class Languages:
    def __init__(self, db: Database, *, clock: Clock, max_cached: int = MAX_CACHED_USERS) -> None:
        self.db = db
        self.clock = clock
        self.max_cached = max_cached
        self._cache: OrderedDict[int, str | None] = OrderedDict()

    async def chosen(self, user_id: int) -> str | None:
        """The language the user chose, or None: one query the first time, the cache after."""
        if user_id in self._cache:
            self._cache.move_to_end(user_id)
            return self._cache[user_id]
        language = await self.db.read(user_queries.chosen_language, user_id)
        self._remember(user_id, language)
        return language

    def known(self, user_id: int) -> str | None:
        """What the cache says, without asking the database (None: nothing chosen, or not known here)."""
        return self._cache.get(user_id)

    async def choose(self, author: Author, language: str | None) -> None:
        """Remember the user's choice (None: forget it, and follow their Telegram setting again)."""
        if language is not None and not 0 < len(language) <= MAX_LANGUAGE_CHARS:
            raise ValueError(f"language code {language!r} is not 1..{MAX_LANGUAGE_CHARS} characters")
        await self.db.write(
            user_queries.set_language,
            author.user_id,
            language,
            name=author.name,
            username=author.username,
            now=self.clock.now(),
        )
        self._remember(author.user_id, language)
        logger.info("user %s chose language %s", author.user_id, language or "(Telegram's)")

    def _remember(self, user_id: int, language: str | None) -> None:
        self._cache[user_id] = language
        self._cache.move_to_end(user_id)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
