"""The metadata database: migrations from empty to head, backends chosen by URI, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from taxiway.errors import StoreError
from taxiway.store.database import current_revision, head_revision, open_database, upgrade_schema
from taxiway.store.tables import Base

# These tests name both backends themselves: they run once, in the SQLite pass (which reaches PostgreSQL too).
pytestmark = pytest.mark.one_backend


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("postgres_uri"))


def test_empty_database_is_migrated_to_head_and_matches_the_tables(empty_database: str) -> None:
    bare = create_engine(empty_database)
    assert inspect(bare).get_table_names() == []
    bare.dispose()

    engine = open_database(empty_database)

    assert current_revision(engine) == head_revision()
    assert {"artifacts", "dataset_versions", "evidence", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], "tables.py and the migrations disagree: write a migration"
    engine.dispose()


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from taxiway.store.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_opening_an_up_to_date_store_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'current.db'}"
    open_database(uri).dispose()
    code = (
        "import sys\nfrom taxiway.store.database import open_database\n"
        f"open_database({uri!r}).dispose()\nprint('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_opening_twice_does_not_migrate_again(empty_database: str) -> None:
    engine = open_database(empty_database)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO artifacts (digest, size_bytes, media_type, created_at) "
                "VALUES ('ab', 1, 'x', CURRENT_TIMESTAMP)"
            )
        )
    upgrade_schema(engine)
    again = open_database(empty_database)
    with again.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM artifacts")).scalar_one() == 1
    engine.dispose()
    again.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() >= 5000
    engine.dispose()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("foo://x", "unknown scheme 'foo'"),
        ("not a uri", "is not a database URL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the metadata database"),
    ],
)
def test_bad_store_uris_get_a_clear_error(uri: str, expected: str) -> None:
    with pytest.raises(StoreError, match=expected) as caught:
        open_database(uri)
    assert caught.value.hint


def test_an_in_memory_sqlite_database_opens() -> None:
    # It can never be WAL ("memory" is its journal mode): opening it once waited for WAL forever.
    engine = open_database("sqlite://")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    assert current_revision(engine) == head_revision()
    engine.dispose()
