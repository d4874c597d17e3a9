"""Shared fixtures: real project folders, real SQLite files and real PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxiway.charter import render_charter
from taxiway.store import Store, StoreLocation

POSTGRES_ADMIN_URI = os.environ.get(
    "TAXIWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not pick up a developer's store, project or CI flag unless they set it themselves.
    for name in ("TAXIWAY_STORE_URI", "TAXIWAY_ARTIFACTS_URI", "TAXIWAY_PROJECT", "CI", "TAXIWAY_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"taxiway_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    uri = POSTGRES_ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield uri
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same store API on every backend: a real SQLite file and a real PostgreSQL database."""
    if request.param == "sqlite":
        database = f"sqlite:///{tmp_path / 'taxiway.db'}"
    else:
        database = request.getfixturevalue("postgres_uri")
    opened = Store.open(StoreLocation(database=database, artifacts=str(tmp_path / "artifacts")))
    yield opened
    opened.close()


def _write_project(
    root: Path,
    *,
    target: str = "label",
    task: str = "classification",
    answers: dict[str, object] | None = None,
) -> Path:
    """Write a charter into ``root`` (created if needed) and return the folder."""
    root.mkdir(parents=True, exist_ok=True)
    text = render_charter(name="test-project", task=task, target=target, answers=answers or {})  # type: ignore[arg-type]
    (root / "taxiway.toml").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def make_project() -> Callable[..., Path]:
    """``make_project(root, target=..., task=..., answers={"project.owner": "Ana"})`` writes a charter."""
    return _write_project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A project folder with a minimal charter (target column 'label', nothing else answered)."""
    return _write_project(tmp_path / "project")
