"""Shared fixtures: real project folders, real SQLite files and real PostgreSQL databases.

The backend every store uses is chosen for the whole run by ``TAXIWAY_TEST_BACKEND`` (see tests/backend.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxiway.charter import render_charter
from taxiway.store import Store, StoreLocation
from tests.backend import BACKEND, DATABASES, IS_POSTGRES, pin_store
from tests.s3 import S3Server, running_s3_server

# The processes the tests start (`python -c "from taxiway.cli import main; …"`, servers, workers) import the
# taxiway under test, not the one the environment's editable install points at (a worktree's copied venv
# points at another checkout): code of two versions on one store migrate it past what the other knows.
_REPOSITORY = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_REPOSITORY, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _REPOSITORY)]
)

# Fixtures shared by several tests that hold no project (servers, browsers, data): a test using them still
# gets a fresh database of its own.
NOT_PROJECTS = frozenset({"browser", "s3_server", "dask_cluster"})


def pytest_report_header() -> str:
    return f"taxiway store backend: {BACKEND} (TAXIWAY_TEST_BACKEND)"


def pytest_sessionfinish(session: pytest.Session) -> None:
    DATABASES.close()


@pytest.fixture(autouse=True)
def _isolated_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Tests must not pick up a developer's store, project or CI flag unless they set it themselves.
    for name in ("TAXIWAY_STORE_URI", "TAXIWAY_ARTIFACTS_URI", "TAXIWAY_PROJECT", "CI", "TAXIWAY_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    if not IS_POSTGRES or _uses_a_shared_project(request):
        yield
        return
    # Every store this test opens, in this process or in the processes it starts, is this fresh database.
    uri = DATABASES.fresh()
    monkeypatch.setenv("TAXIWAY_STORE_URI", uri)
    try:
        yield
    finally:
        DATABASES.drop_later(uri)


def _uses_a_shared_project(request: pytest.FixtureRequest) -> bool:
    """Whether the test uses a fixture of a wider scope defined in tests/ (a project built once, whose charter
    names its own database: a test-wide TAXIWAY_STORE_URI would hide it)."""
    info = getattr(request.node, "_fixtureinfo", None)
    if info is None:  # a doctest
        return False
    for name, definitions in info.name2fixturedefs.items():
        definition = definitions[-1]
        module = getattr(definition.func, "__module__", "")
        if definition.scope != "function" and module.startswith("tests.") and name not in NOT_PROJECTS:
            return True
    return False


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server (no tables), dropped afterwards."""
    uri = DATABASES.empty()
    try:
        yield uri
    finally:
        DATABASES.drop_later(uri)


@pytest.fixture
def store_uri(tmp_path: Path) -> Iterator[str]:
    """The metadata database of this run's backend: a SQLite file in tmp_path, or the test's fresh
    PostgreSQL database (at the newest schema)."""
    if not IS_POSTGRES:
        yield f"sqlite:///{tmp_path / 'taxiway.db'}"
    elif os.environ.get("TAXIWAY_STORE_URI"):
        yield os.environ["TAXIWAY_STORE_URI"]
    else:
        uri = DATABASES.fresh()
        try:
            yield uri
        finally:
            DATABASES.drop_later(uri)


@pytest.fixture
def empty_store_uri(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A metadata database of this run's backend with no tables yet: a new SQLite file, or an empty
    PostgreSQL database (the first store to open it runs the migrations)."""
    if IS_POSTGRES:
        return str(request.getfixturevalue("postgres_uri"))
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def store(store_uri: str, tmp_path: Path) -> Iterator[Store]:
    """A real store on this run's backend (TAXIWAY_TEST_BACKEND): a SQLite file or a PostgreSQL database."""
    opened = Store.open(StoreLocation(database=store_uri, artifacts=str(tmp_path / "artifacts")))
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
    if not os.environ.get("TAXIWAY_STORE_URI"):  # a test beside a shared project: its own database
        pin_store(root)
    return root


@pytest.fixture
def make_project() -> Callable[..., Path]:
    """``make_project(root, target=..., task=..., answers={"project.owner": "Ana"})`` writes a charter."""
    return _write_project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A project folder with a minimal charter (target column 'label', nothing else answered)."""
    return _write_project(tmp_path / "project")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 API server (moto's server mode) in a subprocess on 127.0.0.1, for the whole session."""
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<a new bucket>`` on the test S3 server, with the AWS variables pointing this process and the
    processes it starts at the server (as a user points taxiway at MinIO or another S3-compatible store)."""
    import s3fs

    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    bucket = f"taxiway-{uuid.uuid4().hex[:16]}"
    s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=s3_server.url).mkdir(bucket)
    return f"s3://{bucket}"
