"""Every migration both ways on both backends: each earlier revision up to head, and down to empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from taxiway.store.database import _alembic_config, current_revision, head_revision, open_database
from taxiway.store.tables import Base

# These tests name both backends themselves: they run once, in the SQLite pass (which reaches PostgreSQL too).
pytestmark = pytest.mark.one_backend

REVISIONS = [script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()][
    ::-1
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database; SQLite's with the pragmas taxiway sets (foreign keys on)."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'migrations.db'}"
        open_database(uri).dispose()  # taxiway's own engine: WAL, foreign keys; then start from empty
        made = open_database(uri)
        _migrate(made, "downgrade", "base")
    else:
        made = create_engine(str(request.getfixturevalue("postgres_uri")))
    yield made
    made.dispose()


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = _alembic_config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _tables(engine: Engine) -> set[str]:
    """Every table and column (``table.column``): a step may add either."""
    inspector = inspect(engine)
    names = set(inspector.get_table_names()) - {"alembic_version"}
    return names | {f"{table}.{column['name']}" for table in names for column in inspector.get_columns(table)}


def _types(engine: Engine) -> set[str]:
    """Every column with its type (``table.column:TYPE``): a step may change a type only."""
    inspector = inspect(engine)
    names = set(inspector.get_table_names()) - {"alembic_version"}
    return {f"{t}.{c['name']}:{c['type']}" for t in names for c in inspector.get_columns(t)}


def _changes_only_types(revision: str, dialect: str) -> bool:
    """Whether a migration only changes column types (``changes = "types"``), on every backend or, with
    ``changes = "types on postgresql"``, on PostgreSQL (elsewhere it does nothing)."""
    module = ScriptDirectory.from_config(_alembic_config()).get_revision(revision).module
    return getattr(module, "changes", "") in ("types", f"types on {dialect}")


def _does_nothing_on(revision: str, dialect: str) -> bool:
    module = ScriptDirectory.from_config(_alembic_config()).get_revision(revision).module
    scope = getattr(module, "changes", "")
    return scope.startswith("types on ") and scope != f"types on {dialect}"


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def test_the_revisions_form_one_line_from_0001_to_head() -> None:
    assert REVISIONS[0] == "0001" and REVISIONS[-1] == head_revision()
    assert len(REVISIONS) == len(set(REVISIONS)) >= 5


@pytest.mark.parametrize("start", REVISIONS[:-1])
def test_each_earlier_revision_upgrades_to_head_keeping_its_rows(engine: Engine, start: str) -> None:
    _migrate(engine, "upgrade", start)
    assert current_revision(engine) == start
    with engine.begin() as connection:  # a row every revision has: the blob table of 0001
        connection.execute(
            text(
                "INSERT INTO artifacts (digest, size_bytes, media_type, created_at) "
                "VALUES ('ab12', 3, 'text/plain', CURRENT_TIMESTAMP)"
            )
        )
    _migrate(engine, "upgrade", "head")
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == [], "tables.py and the migrations disagree after upgrading"
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT size_bytes FROM artifacts WHERE digest = 'ab12'")).scalar_one()
            == 3
        )


def test_head_downgrades_step_by_step_to_empty_and_up_again(engine: Engine) -> None:
    _migrate(engine, "upgrade", "head")
    seen = {head_revision(): _tables(engine)}
    types = {head_revision(): _types(engine)}
    for revision in reversed(REVISIONS[:-1]):
        _migrate(engine, "downgrade", revision)
        assert current_revision(engine) == revision
        seen[revision] = _tables(engine)
        later = REVISIONS[REVISIONS.index(revision) + 1]
        types[revision] = _types(engine)
        dialect = engine.dialect.name
        if _does_nothing_on(later, dialect):
            assert seen[revision] == seen[later] and types[revision] == types[later], f"{later} on {dialect}"
        elif _changes_only_types(later, dialect):
            assert seen[revision] == seen[later] and types[revision] != types[later], f"{later} changes types"
        else:
            assert seen[revision] < seen[later], "each step drops tables or columns"
    _migrate(engine, "downgrade", "base")
    assert current_revision(engine) is None and _tables(engine) == set()
    _migrate(engine, "upgrade", "head")
    assert _differences(engine) == [] and _tables(engine) == seen[head_revision()]
