"""The CI · CD · CT page in Chromium draws the newest `taxiway ct simulate` replay, kept as a run by the real
command: per policy its cumulative ROC AUC, and its retrains marked on its line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from taxiway.project import Project
from tests.backend import copy_project
from tests.e2e.conftest import Watched, _taxiway_ui
from tests.e2e.drawn_charts import wait_for_charts
from tests.serve.server import cli_result
from tests.ui.trained import TrainedProject


def _replay_file(path: Path, target: str) -> Path:
    """45 days of 30 rows whose relation between x and the label drifts: retraining pays."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=45, freq="D", tz="UTC").repeat(30)
    drift = np.linspace(0, 2, len(days))
    x = rng.normal(size=len(days))
    label = x * (1 - drift) + rng.normal(size=len(days)) > 0
    pd.DataFrame({"when": days, "x": x, target: label}).to_csv(path, index=False)
    return path


def test_the_loop_page_draws_the_policies_replayed(
    watched: Watched, trained: TrainedProject, tmp_path: Path
) -> None:
    root = copy_project(trained.root, tmp_path / "weather")
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    # The periodic policy retrains every serving.freshness_days: a few times in the 25 days replayed.
    (root / "taxiway.toml").write_text(charter.replace("[serving]\n", "[serving]\nfreshness_days = 5\n", 1))
    project = Project.load(root)
    target = project.charter.problem.target
    project.store.close()
    replay = _replay_file(tmp_path / "replay.csv", target)
    args = ["ct", "simulate", "--file", str(replay), "--time-column", "when", "--warmup-days", "20"]
    result = cli_result(root, *args, "--policy", "never", "--policy", "periodic", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    outcomes = {row["policy"]: row for row in document["policies"]}
    assert outcomes["periodic"]["retrains"] >= 1 and outcomes["never"]["retrains"] == 0
    page = watched.page
    with _taxiway_ui(root, tmp_path / "ui.log") as url:
        page.goto(f"{url}/loop")
        wait_for_charts(page, 1)
        drawn = page.evaluate(
            "document.getElementById('chart-simulation').data"
            ".map(t => ({name: t.name, mode: t.mode, x: t.x.length, last: t.y[t.y.length - 1]}))"
        )
        expect(page.locator("#loop-simulation")).to_contain_text(document["run_id"])
        watched.shoot("loop-simulation")
    assert [t["name"] for t in drawn] == ["never", "periodic", "periodic: retrains"], drawn
    lines = {t["name"]: t for t in drawn if t["mode"] == "lines"}
    for policy, line in lines.items():  # a line ends at the policy's cumulative ROC AUC over every prediction
        assert line["x"] >= 10 and line["last"] == pytest.approx(outcomes[policy]["roc_auc"], abs=1e-4)
    assert drawn[2]["mode"] == "markers" and drawn[2]["x"] == outcomes["periodic"]["retrains"]
