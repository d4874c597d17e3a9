"""Where Optuna keeps a tuning study: beside taxiway's tables, never among them.

Optuna's `RDBStorage` creates its own tables (``studies``, ``trials``, …) and records its schema version in
``alembic_version``, the table taxiway's own migrations use. In one schema the two version records collide:
Optuna reads taxiway's revision and refuses the storage ("no longer compatible with the table schema"),
and a second version row would break ``taxiway``'s migrations. So the study lives

- on PostgreSQL: in the same database, in its own schema ``optuna`` (every machine that reaches the store
  reaches the study; taxiway's tables and Alembic's comparison of them see nothing of it);
- on SQLite: in a file beside the store's (``taxiway.db`` → ``taxiway.optuna.db``), which every process on
  the machine shares, as they share the store.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from taxiway.errors import StoreError
from taxiway.store import Store
from taxiway.store.database import SQLITE_BUSY_TIMEOUT_MS

OPTUNA_SCHEMA = "optuna"
OPTUNA_FILE_SUFFIX = ".optuna"  # taxiway.db -> taxiway.optuna.db
# Serialises the creation of Optuna's tables and of a study's parent run across processes: two workers that
# start at once would otherwise both create the tables (one fails) or both stamp Optuna's schema version.
STUDY_LOCK_KEY = 0x7A1_0971  # any constant: a PostgreSQL advisory lock, distinct from the migrations' one


# Study databases this process made ready (the schema exists, the file is in WAL mode): once per process.
_PREPARED: set[str] = set()


@dataclass(frozen=True)
class StudyStorage:
    """How to reach the study database: the URL and engine options for Optuna, and how to show it."""

    url: str
    shown: str  # the URL without its password
    engine_kwargs: dict[str, Any] = field(default_factory=dict)
    sqlite_path: Path | None = None  # the study's database file, on SQLite


def study_storage(database_uri: str) -> StudyStorage:
    """Where the study of a store at ``database_uri`` lives.

    Example:
        >>> study_storage("sqlite:////srv/p/.taxiway/taxiway.db").url
        'sqlite:////srv/p/.taxiway/taxiway.optuna.db'
        >>> study_storage("postgresql+psycopg://ana:secret@db/ml").shown
        'postgresql+psycopg://ana:***@db/ml (schema optuna)'
    """
    url = make_url(database_uri)
    if url.get_backend_name() == "postgresql":
        options = {"connect_args": {"options": f"-c search_path={OPTUNA_SCHEMA}"}, "pool_pre_ping": True}
        shown = f"{url.render_as_string(hide_password=True)} (schema {OPTUNA_SCHEMA})"
        return StudyStorage(url.render_as_string(hide_password=False), shown, options)
    if url.database in (None, "", ":memory:"):
        raise StoreError(
            "tuning needs a store that other processes can open; this one is an in-memory database",
            hint="use a database file (sqlite:///.taxiway/taxiway.db, the default) or PostgreSQL",
        )
    store_file = Path(url.database)
    path = store_file.with_name(store_file.stem + OPTUNA_FILE_SUFFIX + store_file.suffix).resolve()
    options = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    return StudyStorage(f"sqlite:///{path}", f"sqlite:///{path}", options, sqlite_path=path)


@contextmanager
def study_lock(store: Store, storage: StudyStorage) -> Iterator[None]:
    """Hold a lock that every process working on studies of this store takes in turn."""
    if storage.sqlite_path is None:
        # A session-level lock, not a transaction's: the schema must be committed before Optuna's own
        # connections create tables in it. Autocommit: the lock and the unlock are one round trip each (a
        # worker takes this lock twice a trial; commits and rollbacks around it were five more).
        with store.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STUDY_LOCK_KEY})
            try:
                if storage.url not in _PREPARED:
                    _create_schema(connection)
                    _PREPARED.add(storage.url)
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STUDY_LOCK_KEY})
        return
    storage.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    lock = storage.sqlite_path.with_name(storage.sqlite_path.name + ".lock")
    with lock.open("a+b") as handle:
        _lock_file(handle)
        try:
            if storage.url not in _PREPARED:
                _use_wal(storage.sqlite_path)
                _PREPARED.add(storage.url)
            yield
        finally:
            _unlock_file(handle)


def _create_schema(connection: Connection) -> None:
    try:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
        connection.commit()
    except DBAPIError as error:
        connection.rollback()
        reason = str(error.orig).strip().splitlines()[0]
        raise StoreError(
            f"cannot create the schema '{OPTUNA_SCHEMA}' for tuning studies in the store's database: "
            f"{reason}",
            hint=f"ask the database's owner to run CREATE SCHEMA {OPTUNA_SCHEMA}, or to grant this user "
            "CREATE on the database",
        ) from None


def _use_wal(path: Path) -> None:
    # WAL lets workers read the study while another records a trial; it is a property of the file, set once.
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _lock_file(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after 10 s; keep waiting, as flock does
                time.sleep(0.1)
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _unlock_file(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
