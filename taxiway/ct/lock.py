"""Never two CT retrains at once: a lock held for the whole retrain, on the store's own machinery.

PostgreSQL: a session-level advisory lock on a connection kept open for the retrain (every process that
shares the database sees it). SQLite: an exclusive ``flock`` on a file beside the database (every process
on the machine that opens that database sees it). Neither holds a transaction open, so training's own
writes go on.
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from taxiway.errors import TaxiwayError
from taxiway.store import Store

_NAME = "taxiway.ct.retrain"


class Busy(TaxiwayError):
    """Another CT retrain holds the lock."""


@contextlib.contextmanager
def retrain_lock(store: Store) -> Iterator[None]:
    """Hold the CT lock until the block ends; ``Busy`` at once when another process holds it.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with retrain_lock(store):
        ...     with retrain_lock(store):
        ...         pass
        Traceback (most recent call last):
        ...
        taxiway.ct.lock.Busy: another CT retrain is running on this store
    """
    engine = store.engine
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(_NAME.encode()) - 2**31
        with engine.connect() as connection:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            connection.commit()
            if not got:
                raise _busy()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        return
    database = engine.url.database
    path = Path(f"{database}.ct.lock") if database and database != ":memory:" else None
    if path is None:
        yield  # an in-memory store lives in one process: nothing else can retrain on it
        return
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy() from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _busy() -> Busy:
    return Busy(
        "another CT retrain is running on this store",
        hint="wait for it to finish (taxiway ct run is safe to run again afterwards)",
    )
