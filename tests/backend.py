"""Which metadata store the suite runs on: SQLite files (the default) or fresh PostgreSQL databases.

``TAXIWAY_TEST_BACKEND=postgresql`` (``make test-postgres``, run by ``.ci/run`` after ``make test``) runs the
same tests with every store on the machine's PostgreSQL server:

- each test gets its own fresh database, named in ``TAXIWAY_STORE_URI`` (the variable that beats the charter
  and the default), so every project folder the test makes, every CLI command and every ``taxiway serve``
  subprocess it starts uses it;
- a project built once for a module or a session (a trained project copied by several tests) names its
  database in its charter's ``[store] uri`` instead (:func:`pin_store`), and a copy of it gets a copy of the
  database (:func:`copy_project`); tests that use such a project see no ``TAXIWAY_STORE_URI``.

A fresh database is a copy of a template migrated once per session (``CREATE DATABASE … TEMPLATE``: ~50 ms,
against ~350 ms for running the migrations). Dropping one takes ~0.7 s on this machine (PostgreSQL waits for
every backend to release the files), so databases are dropped by a background thread while the next tests
run. Tests that are by nature about one backend are marked ``one_backend``, and tests that check nothing the
store holds (the wire protocols, the batcher) ``store_agnostic``; both run in the SQLite pass only.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

BACKENDS = ("sqlite", "postgresql")
BACKEND = os.environ.get("TAXIWAY_TEST_BACKEND", "sqlite").strip().lower() or "sqlite"
if BACKEND not in BACKENDS:
    raise RuntimeError(f"TAXIWAY_TEST_BACKEND={BACKEND!r}: use one of {', '.join(BACKENDS)}")
IS_POSTGRES = BACKEND == "postgresql"
ADMIN_URI = os.environ.get("TAXIWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE_PREFIX = "taxiway_test_"
STORE_URI_ENV = "TAXIWAY_STORE_URI"
_STORE_URI_LINE = re.compile(r'^uri = "(?P<uri>postgresql[^"]+)"', re.MULTILINE)
CLONE_TIMEOUT_S = 60.0


def database_uri(name: str) -> str:
    return ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"


class Databases:
    """Creates fresh databases on the local server and drops them in a background thread."""

    def __init__(self) -> None:
        self._admin: Engine | None = None
        self._template: str | None = None
        self._lock = threading.Lock()
        self._doomed: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None
        self._alive: set[str] = set()  # created and not yet queued to drop: dropped at the end

    @property
    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(ADMIN_URI, isolation_level="AUTOCOMMIT", pool_size=2)
        return self._admin

    def empty(self) -> str:
        """A new database with nothing in it (migrations not run)."""
        name = _new_name()
        self._execute(f'CREATE DATABASE "{name}"')
        self._alive.add(name)
        return database_uri(name)

    def fresh(self) -> str:
        """A new database at the newest schema, as ``taxiway`` would leave an empty store."""
        return self.copy_of(self._migrated_template())

    def copy_of(self, source: str, *, name: str | None = None) -> str:
        """A new database with the content of ``source`` (a database name or URI), whose sessions are ended.

        PostgreSQL copies a database only while nobody is connected to it: a server that keeps its pool open
        on the source reconnects (the store's engine pings before use). ``name`` reuses a name that is free.
        """
        source = source.rsplit("/", 1)[-1]
        name = name or _new_name()
        deadline = time.monotonic() + CLONE_TIMEOUT_S
        while True:
            try:
                with self.admin.connect() as connection:
                    connection.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": source},
                    )
                    connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
                self._alive.add(name)
                return database_uri(name)
            except OperationalError as error:
                if "being accessed by other users" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def replace_with_copy(self, uri: str, source: str) -> None:
        """Make the database at ``uri`` a copy of ``source``, under the same name (its sessions are ended)."""
        name, old = uri.rsplit("/", 1)[-1], _new_name()
        with self.admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{old}"'))  # fast, unlike a drop
        self._alive.discard(name)
        self.drop_later(database_uri(old))
        self.copy_of(source, name=name)

    def drop_later(self, uri: str) -> None:
        """Drop the database at ``uri`` in the background (its sessions are ended first)."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_all, name="drop-test-databases", daemon=True)
            self._dropper.start()
        name = uri.rsplit("/", 1)[-1]
        self._alive.discard(name)
        self._doomed.put(name)

    def close(self) -> None:
        """Drop what is queued and the template, then let go of the server."""
        for name in sorted(self._alive):
            self.drop_later(database_uri(name))
        if self._dropper is not None:
            self._doomed.put(None)
            self._dropper.join()
        if self._template is not None:
            self._execute(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
        if self._admin is not None:
            self._admin.dispose()

    def _migrated_template(self) -> str:
        with self._lock:
            if self._template is None:
                from taxiway.store.database import open_database

                name = _new_name()
                with self.admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                open_database(database_uri(name)).dispose()
                self._template = name
            return self._template

    def _drop_all(self) -> None:
        while (name := self._doomed.get()) is not None:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        # No lock: PostgreSQL creates and drops databases side by side (the dropper runs beside the tests).
        with self.admin.connect() as connection:
            connection.execute(text(sql))


DATABASES = Databases()


def _new_name() -> str:
    return f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"


def pin_store(root: Path, uri: str | None = None) -> str | None:
    """On PostgreSQL: give the project in ``root`` a fresh database of its own (or ``uri``), named in its
    charter.

    For projects built once and shared by several tests (which see no ``TAXIWAY_STORE_URI``); a test that
    rewrites such a charter pins the database again. On SQLite (unless ``uri`` is given: a test about
    PostgreSQL), and for a charter that already names a store, nothing changes. Returns the database's URI,
    or None.
    """
    charter = root / "taxiway.toml"
    content = charter.read_text(encoding="utf-8")
    if (not IS_POSTGRES and uri is None) or re.search(r"^uri\s*=", content, re.MULTILINE):
        return None
    uri = uri or DATABASES.fresh()
    line = f'uri = "{uri}"  # tests/backend.py: this project\'s own database\n'
    if "\n[store]\n" in content:
        content = content.replace("\n[store]\n", f"\n[store]\n{line}", 1)
    else:
        content = content.rstrip("\n") + f"\n\n[store]\n{line}"
    charter.write_text(content, encoding="utf-8")
    return uri


def pinned_store(root: Path) -> str | None:
    """The PostgreSQL database the charter in ``root`` names, if any."""
    match = _STORE_URI_LINE.search((root / "taxiway.toml").read_text(encoding="utf-8"))
    return match["uri"] if match else None


def copy_project(source: Path, destination: Path, **copytree: Any) -> Path:
    """Copy a project folder; on PostgreSQL its pinned database is copied too, and the copy names the copy.

    Inside a test that has a fresh database in ``TAXIWAY_STORE_URI`` (which beats the charter), that database
    becomes the copy, so the test's commands and the copy's charter agree.
    """
    shutil.copytree(source, destination, **copytree)
    uri = pinned_store(source)
    if uri is not None:
        current = os.environ.get(STORE_URI_ENV, "")
        if current.rsplit("/", 1)[-1].startswith(DATABASE_PREFIX):
            DATABASES.replace_with_copy(current, uri)
            copied = current
        else:
            copied = DATABASES.copy_of(uri)
        charter = destination / "taxiway.toml"
        charter.write_text(charter.read_text(encoding="utf-8").replace(uri, copied), encoding="utf-8")
    return destination
