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
