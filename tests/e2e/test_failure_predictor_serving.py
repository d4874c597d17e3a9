"""A failure predictor that `taxiway validate` switched off sends no row to the fallback in a real
`taxiway serve`; one that helps is used.

Each test builds a small regression project through the CLI (init, data add, split, train, validate, register,
deploy), then starts `taxiway serve` (uvicorn on 127.0.0.1) and posts rows of the project's own data to
/predict. The two projects differ only in their noise:

- the same noise everywhere: no input says where the model errs, so the predictor is no better than chance
  and validation switches it off with a warning; every answer must then be the model's own, and the
  fallback counter must stay at 0;
- noise only where ``a > 0.8``: the predictor finds that region, validation switches it on, and serving
  sends rows it flags there to the fallback (``likely_wrong``), counted by ``taxiway_fallbacks_total``.

About 30 s each on a quiet machine: training, validation and a server start are the point of the test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.registry import load_model_version
from taxiway.train.runs import list_runs
from tests.serve.server import cli, cli_result, running_server

ROWS = 3_000
SENT = 200  # rows posted to /predict in one request
METRICS_TIMEOUT_S = 60


def _project(tmp_path: Path, *, noise_where_a_is_high: bool) -> tuple[Path, str]:
    """A trained, validated, registered and deployed regression project; the `taxiway validate` output."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.uniform(0, 1, ROWS), "b": rng.uniform(0, 1, ROWS)})
    scale = np.where(frame["a"] > 0.8, 3.0, 0.05) if noise_where_a_is_high else np.full(ROWS, 0.5)
    frame["y"] = 2 * frame["b"] + rng.normal(0, 1, ROWS) * scale
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)
    root = tmp_path / "noise"
    init = CliRunner().invoke(app, ["init", str(root), "--yes", "--task", "regression", "--target", "y"])
    assert init.exit_code == 0, init.output
    cli(root, "data", "add", str(data))
    cli(root, "data", "split")
    # Exit 1 is a verdict (the linear baseline may beat the candidate on a linear target; a gate may fail on
    # made-up data), not an error: both still record what this test reads.
    trained = cli_result(root, "train")
    assert trained.exit_code in (0, 1), trained.output
    candidate = next(run for run in list_runs(Project.load(root).store) if run.name == "candidate")
    validation = cli_result(root, "validate", candidate.id)
    assert validation.exit_code in (0, 1), validation.output
    validated = validation.output
    # Registered by force: the switch is read from the blessing whether or not every gate passed.
    cli(root, "register", candidate.id, "--force", "--reason", "failure predictor test")
    cli(root, "deploy", "v1", "--force", "--reason", "failure predictor test", "--no-wait")
    return root, validated


def _sent_rows(root: Path) -> pd.DataFrame:
    """Rows of the project's own data (so no contract or range check sends them to the fallback), half of
    them from the region ``a > 0.8``."""
    frame = pd.read_csv(root.parent / "rows.csv")
    high, low = frame[frame["a"] > 0.8], frame[frame["a"] <= 0.8]
    return pd.concat([high.iloc[: SENT // 2], low.iloc[: SENT // 2]], ignore_index=True)[["a", "b"]]


def _fallbacks_counted(client: httpx.Client) -> dict[str, float]:
    """``taxiway_fallbacks_total`` by reason, once /metrics counts the answered request (a worker publishes
    its counters every second; the answer is counted after its fallbacks)."""
    deadline = time.monotonic() + METRICS_TIMEOUT_S
    while True:
        counted: dict[str, float] = {}
        answered = 0.0
        for family in text_string_to_metric_families(client.get("/metrics").text):
            for sample in family.samples:
                if sample.name == "taxiway_fallbacks_total":
                    reason = sample.labels["reason"]
                    counted[reason] = counted.get(reason, 0.0) + sample.value
                elif sample.name == "taxiway_requests_total" and sample.labels["route"] == "/predict":
                    answered += sample.value
        if answered >= 1:
            return counted
        assert time.monotonic() < deadline, f"/metrics did not count the request within {METRICS_TIMEOUT_S} s"
        time.sleep(0.2)


def _serve_and_predict(root: Path, log_dir: Path) -> tuple[dict[str, Any], dict[str, float], Any]:
    """Post the rows to a real `taxiway serve`; its answer, its fallback counts, and v1 loaded offline."""
    rows = _sent_rows(root)
    with running_server(root, log_dir=log_dir) as server, server.client() as client:
        response = client.post("/predict", json={"rows": rows.to_dict(orient="records")})
        assert response.status_code == 200, response.text
        counted = _fallbacks_counted(client)
    model = load_model_version(Project.load(root).store, "v1", root=root)
    return response.json(), counted, model.predict(rows[list(model.feature_names_in_)])


def test_a_predictor_no_better_than_chance_is_switched_off_and_serving_never_uses_it(tmp_path: Path) -> None:
    root, validated = _project(tmp_path, noise_where_a_is_high=False)
    assert "warning: failure predictor switched off: ROC AUC" in validated, validated
    body, counted, own = _serve_and_predict(root, tmp_path)
    assert body["model"]["version"] == "v1"
    assert body["fallback"] == [{"used": False}] * SENT, [f for f in body["fallback"] if f["used"]]
    np.testing.assert_allclose(body["predictions"], own, rtol=0, atol=1e-9)
    assert sum(counted.values()) == 0, counted


def test_a_predictor_that_helps_is_switched_on_and_serving_uses_it(tmp_path: Path) -> None:
    root, validated = _project(tmp_path, noise_where_a_is_high=True)
    assert "failure predictor switched on: ROC AUC" in validated, validated
    assert "warning: failure predictor" not in validated, validated
    body, counted, own = _serve_and_predict(root, tmp_path)
    flagged = [i for i, f in enumerate(body["fallback"]) if f.get("reason") == "likely_wrong"]
    assert flagged, body["fallback"]
    rows = _sent_rows(root)
    assert (rows.loc[flagged, "a"] > 0.8).mean() > 0.5, "it flags the noisy region most"
    answered_by_model = [i for i, f in enumerate(body["fallback"]) if not f["used"]]
    assert answered_by_model, "the model itself answers the rows it is not flagged on"
    np.testing.assert_allclose(
        np.asarray(body["predictions"])[answered_by_model], own[answered_by_model], rtol=0, atol=1e-9
    )
    assert counted.get("likely_wrong") == len(flagged), counted
