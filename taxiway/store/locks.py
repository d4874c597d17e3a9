"""One writer at a time for a read-then-write change (the next version number, the next generation).

SQLite needs nothing more: a write session starts with ``BEGIN IMMEDIATE``, which holds the database's only
write lock. PostgreSQL lets two transactions read the same newest row and both build on it; a
transaction-level advisory lock on the change's name makes the second wait until the first commits, instead
of failing on a unique key and retrying (which, with eight writers at once, ran out of retries).
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["serialise"]


def serialise(session: Session, name: str) -> None:
    """Hold the lock named ``name`` until ``session``'s transaction ends (a no-op on SQLite).

    Example:
        >>> zlib.crc32(b"registry.version")  # the key PostgreSQL sees for "registry.version"
        3635281311
    """
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(name.encode()) - 2**31  # advisory keys are signed 64-bit; keep them stable
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
