"""What can go wrong reaching the database, each with a message that names the setting and the fix.

DatabaseError
├── DatabaseUrlError            DATABASE_URL does not parse, or names a backend bhiv-bot does not run on
├── DriverMissingError          the URL's driver is not installed (psycopg for PostgreSQL)
└── DatabaseUnavailableError    the database does not exist, refuses, or the file cannot be opened
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Root of storage's own errors; the message is one line an operator can act on."""


class DatabaseUrlError(DatabaseError):
    pass


class DriverMissingError(DatabaseError):
    pass


class DatabaseUnavailableError(DatabaseError):
    pass


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass by itself (the database restarted, went away for a moment, or was busy), not a
    statement that can never succeed."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, DatabaseUnavailableError | sa_exc.TimeoutError | ConnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    return False
