"""The metadata database: an SQLAlchemy engine chosen by URI, kept at the newest schema by Alembic."""

from __future__ import annotations

import ast
import functools
import sqlite3
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from taxiway.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
SUPPORTED = ("sqlite", "postgresql")
# How long a writer waits for another process's lock before giving up; the CLI, the server and the
# dashboard share one SQLite file, and a training run's batched flush can hold the lock for a moment.
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_KEY = 0x7A1_3A7  # any constant: PostgreSQL advisory lock that serialises migrations
VERSION_TABLE = "alembic_version"  # where Alembic keeps the revision a database is at

if TYPE_CHECKING:
    from alembic.config import Config


def open_database(uri: str) -> Engine:
    """Connect to the metadata database at ``uri`` and bring its schema up to date.

    Example:
        >>> import tempfile, os
        >>> engine = open_database("sqlite:///" + os.path.join(tempfile.mkdtemp(), "t.db"))
        >>> engine.dialect.name
        'sqlite'
    """
    try:
        url = make_url(uri)
    except ArgumentError:
        raise StoreError(
            f"store uri '{uri}' is not a database URL",
            hint="use sqlite:///path/to.db or postgresql+psycopg://host/db",
        ) from None
    if url.get_backend_name() not in SUPPORTED:
        raise StoreError(
            f"store uri '{uri}': unknown scheme '{url.drivername}'",
            hint="use sqlite:///path/to.db or postgresql+psycopg://user@host/db",
        )
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise StoreError(
            f"store uri '{uri}': no driver for '{url.drivername}'",
            hint="install the team extras: pip install 'taxiway[team]'",
        ) from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"store uri '{uri}' needs the Python package '{exc.name}'",
            hint="install the team extras: pip install 'taxiway[team]'",
        ) from None
    _close_connections_when_dropped(engine)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    try:
        upgrade_schema(engine)
    except DBAPIError as exc:
        raise StoreError(
            f"cannot open the metadata database at {engine.url.render_as_string(hide_password=True)}: "
            f"{str(exc.orig).strip().splitlines()[0]}",
            hint="check that the database server runs and the URI (set in taxiway.toml [store] or "
            "TAXIWAY_STORE_URI) is right",
        ) from None
    return engine


def _close_connections_when_dropped(engine: Engine) -> None:
    """Close the engine's pooled connections when the engine is garbage, if nobody closed the store.

    On PostgreSQL each connection is a server process: a long-lived caller (the dashboard, a notebook) that
    drops stores unclosed (``Project.load(root).store.evidence.latest()``) would pile them up until the
    interpreter happens to collect them. The callback holds the pools, never the engine (``dispose()`` makes
    a new pool, so each one is kept).
    """
    pools = [engine.pool]
    event.listen(engine, "engine_disposed", lambda disposed: pools.append(disposed.pool))
    weakref.finalize(engine, _dispose_pools, pools)


def _dispose_pools(pools: list[Any]) -> None:
    for pool in pools:
        pool.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling skips BEGIN before DDL, so a migration would commit table by
    # table; taking BEGIN over (SQLAlchemy's documented pysqlite recipe) makes every transaction real.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    _ensure_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses at most the last commit
    cursor.close()


def _ensure_wal(cursor: Any) -> None:
    """Switch the file to WAL, so readers (dashboard, server) run while one writer (CLI, training) commits.

    WAL is a property of the file, set once. Switching needs an exclusive lock and SQLite answers
    "database is locked" at once, without waiting, when another process holds any lock, so wait here.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            # An in-memory database answers "memory" and can never be WAL (one process only: no need).
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] in ("wal", "memory"):
                return
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(connection: Connection) -> None:
    # A migration asks for BEGIN IMMEDIATE: it takes the write lock first, so two processes opening a
    # new store do not both start creating tables.
    connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


def _alembic_config() -> Config:
    from alembic.config import Config  # only to migrate: opening an up-to-date store needs no Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration that ships with this version of taxiway: the one no other migration revises.

    Read from the migration files' ``revision`` and ``down_revision`` assignments, so that opening a
    store that is already up to date does not import Alembic (~0.2 s of every command's start);
    tests/store/test_database.py holds it equal to Alembic's own answer.
    """
    revisions: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        assigned = {
            target.id: node.value
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant)
        }
        if "revision" in assigned:
            down = assigned["down_revision"].value
            revisions[str(assigned["revision"].value)] = None if down is None else str(down)
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:
        raise StoreError(
            f"taxiway's migrations have {len(heads)} heads ({', '.join(sorted(heads))})",
            hint="this installation is broken; reinstall taxiway",
        )
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at; None for an empty database."""
    with engine.connect() as connection:
        return _revision_of(connection)


def _revision_of(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if found is None else str(found)


def upgrade_schema(engine: Engine) -> None:
    """Run the migrations the database lacks; safe when several processes open a new store at once."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    from alembic import command

    config = _alembic_config()
    with engine.connect() as connection:
        connection = connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            # Another process may have migrated while this one waited for the lock.
            if _revision_of(connection) == head:
                return
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
