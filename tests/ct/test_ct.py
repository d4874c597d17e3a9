"""`taxiway ct run` and `taxiway ct simulate` on real projects: the weather project (trained), real stores."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from taxiway.ct.lock import retrain_lock
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.ui.app import create_app
from tests.serve.server import cli_result
from tests.ui.server import serving
from tests.validate.trained_model import trained_copy


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_copy(tmp_path_factory, tmp_path_factory.mktemp("ct") / "weather")


def test_ct_without_data_is_refused(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = make_project(tmp_path / "empty")
    result = cli_result(root, "ct", "run")
    assert result.exit_code == 2
    assert "no dataset version" in result.output and "hint: add the data" in result.output


def test_a_retrain_that_does_not_pass_validation_is_not_registered(project: Path) -> None:
    # Nothing is live: CT trains the first candidate; on 1,500 rows it does not beat the baselines by the
    # smallest improvement, so it is recorded as failed and nothing is registered.
    result = cli_result(project, "ct", "run", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["action"] == "retrained" and "not registered" in document["why"]
    assert [t["kind"] for t in document["triggers"]] == ["first_model"]
    log = Project.load(project).store.evidence
    retrain = log.latest_about(Check.CT_RETRAIN, "run", document["run_id"])
    assert retrain is not None and retrain.origin == "ct" and retrain.status == "fail"
    assert retrain.details["blessed"] is False and retrain.details["failed_gates"]
    assert cli_result(project, "models").output.count("v1") == 0
    # The dashboard's CI · CD · CT page shows the pass: its triggers and the failed retrain, linked.
    loaded = Project.load(project)
    with serving(create_app(loaded)) as url:
        page = httpx.get(f"{url}/loop", timeout=30)
    loaded.store.close()
    assert page.status_code == 200
    assert f'href="/evidence/{retrain.id}"' in page.text and "triggers: first_model" in page.text
    assert "Nothing recorded yet: run <code>taxiway ci run</code>" in page.text


def test_the_budget_stops_a_second_retrain(project: Path) -> None:
    with (project / "taxiway.toml").open("a", encoding="utf-8") as charter:
        charter.write("\n[ct]\nmax_retrains = 1\nbudget_days = 7\n")
    assert cli_result(project, "ct", "run").exit_code == 0
    result = cli_result(project, "ct", "run", "--format", "json")
    assert json.loads(result.output)["action"] == "over_budget", result.output
    budget = Project.load(project).store.evidence.latest_about(Check.CT_BUDGET, "project", "weather")
    assert budget is not None and budget.status == "fail" and budget.value == 1.0


def test_two_retrains_never_run_at_once(project: Path) -> None:
    store = Project.load(project).store
    with retrain_lock(store):
        result = cli_result(project, "ct", "run")
    assert result.exit_code == 2 and "another CT retrain is running" in result.output


def test_simulate_compares_policies_on_a_file(project: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=45, freq="D", tz="UTC").repeat(30)
    drift = np.linspace(0, 2, len(days))  # the relation between x and the label moves over time
    x = rng.normal(size=len(days))
    frame = pd.DataFrame({"when": days, "x": x, "warm": (x * (1 - drift) + rng.normal(size=len(days)) > 0)})
    frame.to_csv(tmp_path / "replay.csv", index=False)
    charter = (project / "taxiway.toml").read_text(encoding="utf-8")
    (project / "taxiway.toml").write_text(
        charter.replace("[serving]\n", "[serving]\nfreshness_days = 5\n", 1)
    )
    args = ["ct", "simulate", "--file", str(tmp_path / "replay.csv"), "--time-column", "when"]
    result = cli_result(
        project, *args, "--warmup-days", "25", "--policy", "never", "--policy", "periodic", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    outcomes = {row["policy"]: row for row in json.loads(result.output)["policies"]}
    assert outcomes["never"]["retrains"] == 0 and outcomes["periodic"]["retrains"] >= 1
    assert outcomes["periodic"]["promoted"] <= outcomes["periodic"]["retrains"]
    assert outcomes["never"]["predictions"] == outcomes["periodic"]["predictions"] > 0
    assert outcomes["periodic"]["worse_promotions"] == 0
    missing = cli_result(project, "ct", "simulate", "--file", str(tmp_path / "replay.csv"))
    assert missing.exit_code == 2 and "--time-column" in missing.output
