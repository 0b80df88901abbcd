"""INSERT ... ON CONFLICT for both backends (their constructs share one API), and statements built once.

Building a Core statement anew costs about a millisecond on a small machine (a bind parameter per value, a
fresh cache key); the hot queries are built once per dialect with bind parameters and executed with a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

Insert = postgresql.Insert | sqlite.Insert


def insert_for(conn: Connection, table: Table) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class PerDialect:
    """A statement built once for each backend by ``build(insert)``, where ``insert`` makes that backend's
    INSERT (the two share ON CONFLICT's API)."""

    def __init__(self, build: Callable[[Callable[[Table], Insert]], Executable]) -> None:
        self._statements = {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}

    def __call__(self, conn: Connection) -> Executable:
        return self._statements[conn.dialect.name]


def one_or_many(rows: Sequence[Mapping[str, object]]) -> Mapping[str, object] | list[Mapping[str, object]]:
    """One row as a single execution: a list, even of one, takes SQLAlchemy's slower executemany path."""
    return rows[0] if len(rows) == 1 else list(rows)
