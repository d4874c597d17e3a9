"""Pages on small stores of their own: tampered artifacts, the token, runs without predictions, regression,
and the dashboard without htmx."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from taxiway.measure.predictions import Predictions
from taxiway.project import Project
from taxiway.train.runs import get_run, list_runs
from taxiway.train.tracking import start_run
from taxiway.ui import app as ui_app
from taxiway.ui import create_app
from taxiway.ui.auth import COOKIE
from tests.ui.server import serving

TOKEN = "correct horse battery staple"


@pytest.fixture
def project(tmp_path: Path, make_project: Callable[..., Path]) -> Iterator[Project]:
    """A project with two runs recorded through the tracking API: a regression run and one with nothing."""
    loaded = Project.load(make_project(tmp_path / "p", target="y", task="regression"))
    rng = np.random.default_rng(0)
    truth = rng.normal(10, 2, 300)
    predictions = Predictions(row_key=np.arange(300), y_true=truth, y_pred=truth + rng.normal(0, 1, 300))
    with start_run("regressor", kind="candidate", store=loaded.store) as run:
        run.log_metric("mae", 0.8)
        run.set_predictions(run.log_bytes("predictions.parquet", predictions.to_parquet()))
        run.set_model(run.log_bytes("model.bin", b"not really a model"))
    with start_run("empty", store=loaded.store):
        pass
    yield loaded
    loaded.store.close()


def _runs(project: Project) -> dict[str, str]:
    return {run.name: run.id for run in list_runs(project.store)}


def test_a_tampered_artifact_is_refused_with_a_409_page(project: Project) -> None:
    regressor = _runs(project)["regressor"]
    run = get_run(project.store, regressor)
    assert run.model_artifact is not None and run.predictions_artifact is not None
    for digest in (run.model_artifact, run.predictions_artifact):
        Path(project.store.artifacts.path_of(digest)).write_bytes(b"changed behind taxiway's back")
    with serving(create_app(project)) as url, httpx.Client(base_url=url) as http:
        download = http.get(f"/runs/{regressor}/artifacts/model.bin")
        assert download.status_code == 409
        assert "was changed after it was written" in download.text and "hint:" in download.text
        assert b"changed behind" not in download.content
        page = http.get(f"/runs/{regressor}")
        assert page.status_code == 200 and "was changed after it was written" in page.text
        other = _runs(project)["empty"]
        compared = http.get("/compare", params=[("run", regressor), ("run", other)])
        assert compared.status_code == 409 and "refuses to use it" in compared.text


def test_regression_runs_get_a_residual_plot_and_runs_without_predictions_say_so(project: Project) -> None:
    runs = _runs(project)
    with serving(create_app(project)) as url, httpx.Client(base_url=url) as http:
        regression = http.get(f"/runs/{runs['regressor']}").text
        assert 'id="figure-residuals"' in regression and 'id="figure-roc"' not in regression
        assert "stored no predictions" in http.get(f"/runs/{runs['empty']}").text
        compared = http.get("/compare", params=[("run", runs["regressor"]), ("run", runs["empty"])]).text
        assert "stored no predictions: its metrics have no interval" in compared


def test_with_a_token_every_page_asks_for_it(project: Project) -> None:
    with serving(create_app(project, token=TOKEN)) as url, httpx.Client(base_url=url) as http:
        for address in ("/runs", "/checklist", "/data", f"/runs/{_runs(project)['regressor']}"):
            asked = http.get(address)
            assert asked.status_code == 401 and 'name="token"' in asked.text
        assert http.get("/static/taxiway.css").status_code == 200  # no project data in it
        wrong = http.get("/runs", params={"token": "guess"})
        assert wrong.status_code == 401 and "the token given is wrong" in wrong.text
        given = http.get("/runs", params={"token": TOKEN, "kind": "candidate"})
        assert given.status_code == 303 and given.headers["location"] == "/runs?kind=candidate"
        cookie = given.headers["set-cookie"]
        assert cookie.startswith(f'{COOKIE}="{TOKEN}";')
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        followed = http.get("/runs?kind=candidate")  # the client kept the cookie
        assert followed.status_code == 200 and "regressor" in followed.text
    with serving(create_app(project, token=TOKEN)) as url, httpx.Client(base_url=url) as fresh:
        fresh.cookies.set(COOKIE, "forged")
        assert fresh.get("/runs").status_code == 401


def test_without_htmx_the_pages_work_with_plain_links(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ui_app, "HTMX", Path("/nonexistent/htmx.min.js"))
    with caplog.at_level(logging.WARNING, logger="taxiway.ui"):
        app = create_app(project)
    assert [record.getMessage().startswith("htmx is missing") for record in caplog.records] == [True]
    with serving(app) as url, httpx.Client(base_url=url) as http:
        page = http.get("/runs").text
        assert "htmx.min.js" not in page
        assert 'href="/runs?sort=name&amp;order=asc' in page  # sorting is a plain link
        assert 'action="/runs"' in page and 'action="/compare"' in page  # filtering and comparing are forms
