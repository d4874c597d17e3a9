"""One table maps taxiway's errors to HTTP statuses, and both web apps answer with it, over a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from taxiway.errors import (
    ArtifactCorruptError,
    CharterError,
    DataError,
    NotFoundError,
    StoreError,
    TaxiwayError,
)
from taxiway.project import Project
from taxiway.serve.app import _add_error_handlers
from taxiway.serve.service import RequestTooLarge
from taxiway.ui import create_app as create_dashboard
from tests.ui.server import serving

RAISED = [
    (TaxiwayError("bad", hint="fix it"), 400),
    (CharterError("bad charter", hint="fix it"), 422),
    (DataError("bad data", hint="fix it"), 422),
    (NotFoundError("no run 'r-1'", hint="list them"), 404),
    (StoreError("database down", hint="start it"), 503),
    (ArtifactCorruptError("changed", hint="restore it"), 409),
    (RequestTooLarge("too large", hint="send less"), 413),
]
CASES = [pytest.param(index, status, id=type(error).__name__) for index, (error, status) in enumerate(RAISED)]


def _raising(app: FastAPI) -> FastAPI:
    @app.get("/raise/{index}")
    def raise_it(index: int) -> None:
        raise RAISED[index][0]

    return app


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    app = FastAPI()
    _add_error_handlers(app)  # the prediction service's own handlers, as create_app installs them
    with serving(_raising(app)) as url:
        yield url


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("errors")
    (root / "taxiway.toml").write_text('[project]\nname = "x"\n[problem]\ntarget = "y"\n')
    project = Project.load(root)
    try:
        with serving(_raising(create_dashboard(project))) as url:
            yield url
    finally:
        project.store.close()


@pytest.mark.parametrize(("index", "status"), CASES)
def test_the_prediction_service_answers_each_error_with_its_status(
    service: str, index: int, status: int
) -> None:
    answer = httpx.get(f"{service}/raise/{index}")
    error = RAISED[index][0]
    assert answer.status_code == status
    assert answer.json()["error"] == error.message
    assert answer.json()["hint"] == error.hint


@pytest.mark.parametrize(("index", "status"), CASES)
def test_the_dashboard_answers_each_error_with_the_same_status(
    dashboard: str, index: int, status: int
) -> None:
    answer = httpx.get(f"{dashboard}/raise/{index}")
    assert answer.status_code == status
    assert RAISED[index][0].message.replace("'", "&#39;") in answer.text


def test_every_error_class_has_a_client_or_service_status() -> None:
    assert all(400 <= error.http_status < 600 and error.http_status != 500 for error, _ in RAISED)
