"""Queries on users' own settings: the language one chose with /language (None: their Telegram setting).

The intake's upsert (``storage.jobs.upsert_users``) never touches ``users.language``: what Telegram says of a
user's language is read from each update, and only /language writes the column.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from storage.tables import users
from storage.upsert import Insert, PerDialect

_CHOSEN = select(users.c.language).where(users.c.id == bindparam("id"))


def _build_set_language(insert: Callable[[Table], Insert]) -> Executable:
    stmt = insert(users)
    return stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={"language": stmt.excluded.language, "last_seen_at": stmt.excluded.last_seen_at},
    )


_SET_LANGUAGE = PerDialect(_build_set_language)


def chosen_language(conn: Connection, user_id: int) -> str | None:
    """The language the user chose, or None (none chosen, or no such user yet)."""
    return conn.execute(_CHOSEN, {"id": user_id}).scalar_one_or_none()


def set_language(
    conn: Connection, user_id: int, language: str | None, *, name: str, username: str | None, now: datetime
) -> None:
    """Remember (None: forget) the user's language; a user not seen before is stored with it."""
    conn.execute(
        _SET_LANGUAGE(conn),
        {
            "id": user_id,
            "name": name[:255],
            "username": username,
            "first_seen_at": now,
            "last_seen_at": now,
            "blocked": False,
            "language": language,
        },
    )
