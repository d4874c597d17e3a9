"""The failure predictor's report: ROC AUC and the risk-coverage curve on test rows, in `taxiway validate`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.train.failure import fit_failure_predictor, out_of_fold
from taxiway.train.runs import get_run, list_runs
from taxiway.validate.failure import CURVE_POINTS, failure_report
from tests.train.test_failure import SEED, candidate, noisy_rows
from tests.validate.trained_model import trained_copy


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):  # as `taxiway train` fits (train.threads): 2 OpenMP threads crawl on 2 cores
        yield


def _trained(task: Any = "classification", rows: int = 3_000) -> tuple[Any, Any]:
    x, y = noisy_rows(rows, SEED, task=task)
    predictor = fit_failure_predictor(out_of_fold(candidate(task), x, y, task, seed=SEED), task, seed=SEED)
    assert predictor is not None
    return predictor, candidate(task).fit(x, y)


def test_validate_reports_the_failure_predictor_on_the_test_rows_without_gating(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    root = trained_copy(tmp_path_factory, tmp_path / "weather")
    result = CliRunner().invoke(app, ["--project", str(root), "validate", "--format", "json"])
    report = json.loads(result.stdout)
    assert result.exit_code == (0 if report["passed"] else 1), result.output
    failure = report["failure_predictor"]
    assert failure == report["evaluation"]["failure_predictor"]
    assert set(failure) == {
        "rows",
        "threshold",
        "wrong_above",
        "error_rate",
        "roc_auc",
        "reason",
        "flagged_share",
        "flagged_error_rate",
        "kept_error_rate",
        "risk_coverage",
        "summary",
        "enabled",
        "switch",
    }
    # switched on for serving only when it helps on the test rows, with the reason either way
    assert failure["switch"].startswith("on:" if failure["enabled"] else "off:")
    assert failure["rows"] == report["test"]["rows"] > 200 and failure["threshold"] == 0.5
    assert failure["roc_auc"] > 0.5 and failure["reason"] is None  # weather errors are not pure noise
    curve = failure["risk_coverage"]
    assert curve["measure"] == "error_rate" and len(curve["coverage"]) == len(curve["error"]) == CURVE_POINTS
    assert all(a < b for a, b in zip(curve["coverage"], curve["coverage"][1:], strict=False))
    assert curve["coverage"][-1] == 1.0 and curve["error"][-1] == pytest.approx(failure["error_rate"])
    # A report, not a gate: no gate is about it, and the blessing follows the gates alone.
    assert not any("failure" in gate["gate"] for gate in report["gates"])
    assert report["passed"] == all(gate["status"] != "fail" for gate in report["gates"])

    store = Project.load(root).store
    try:
        run = get_run(store, report["run_id"])
    finally:
        store.close()
    assert run.kind == "candidate" and run.resources["failure_predictor_seconds"] > 0
    assert run.tags["failure_predictor_rows"] == int(run.tags["failure_predictor_rows"]) > 500

    text = CliRunner().invoke(app, ["--project", str(root), "validate", report["run_id"]])
    line = next(line for line in text.stdout.splitlines() if line.startswith("failure predictor: "))
    assert f"on {failure['rows']:,} test rows; flags " in line and "ROC AUC 0." in line


def test_only_the_candidate_gets_a_failure_predictor(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    root = trained_copy(tmp_path_factory, tmp_path / "weather")
    store = Project.load(root).store
    try:
        runs = {run.name: run for run in list_runs(store)}
    finally:
        store.close()
    assert runs["candidate"].tags["failure_predictor"]
    for name in ("constant", "linear"):
        assert "failure_predictor" not in runs[name].tags
        assert "failure_predictor_seconds" not in runs[name].resources


def test_the_risk_separates_wrong_from_right_and_low_risk_rows_are_more_often_right() -> None:
    predictor, model = _trained()
    x_test, y_test = noisy_rows(2_000, SEED + 1)
    report = failure_report(predictor, model, x_test, y_test, "classification")
    assert report.rows == 2_000 and report.roc_auc is not None and report.roc_auc > 0.6
    assert report.flagged_error_rate is not None and report.kept_error_rate is not None
    assert report.flagged_error_rate > 2 * report.kept_error_rate
    assert report.flagged_share is not None and 0 < report.flagged_share < 0.5  # "d": a quarter of rows
    curve = report.risk_coverage
    assert curve.coverage[0] == 0.05 and curve.coverage[-1] == 1.0
    assert curve.error[0] < 0.5 * curve.error[-1]  # the lowest-risk 5% are far more often right
    assert curve.error[-1] == pytest.approx(report.error_rate)
    assert report.summary().startswith("ROC AUC 0.") and "flagged vs" in report.summary()
    document = report.to_json()
    assert json.loads(json.dumps(document)) == document and document["risk_coverage"]["coverage"][-1] == 1.0


def test_test_rows_the_model_gets_all_right_have_no_roc_auc_and_say_why() -> None:
    predictor, model = _trained()
    x_test, y_test = noisy_rows(500, SEED + 1)
    right = model.predict(x_test) == y_test.to_numpy()
    report = failure_report(predictor, model, x_test[right], y_test[right], "classification")
    assert report.roc_auc is None and report.reason == f"all {int(right.sum()):,} test predictions are right"
    assert report.error_rate == 0.0 and set(report.risk_coverage.error) == {0.0}
    assert report.summary().startswith(f"no ROC AUC (all {int(right.sum()):,} test predictions are right)")

    empty = failure_report(predictor, model, x_test.iloc[:0], y_test.iloc[:0], "classification")
    assert (
        empty.rows == 0 and empty.reason == "the test split is empty" and empty.risk_coverage.coverage == []
    )


def test_regression_reports_mean_absolute_error_over_coverage() -> None:
    predictor, model = _trained("regression")
    x_test, y_test = noisy_rows(1_000, SEED + 1, task="regression")
    report = failure_report(predictor, model, x_test, y_test, "regression")
    curve = report.risk_coverage
    absolute = np.abs(model.predict(x_test) - y_test.to_numpy())
    assert curve.measure == "mean_absolute_error" and curve.error[-1] == pytest.approx(absolute.mean())
    assert curve.error[0] < 0.5 * curve.error[-1]
    assert report.wrong_above == predictor.wrong_above
    assert report.error_rate == pytest.approx(float((absolute > predictor.wrong_above).mean()))
    assert report.roc_auc is not None and report.roc_auc > 0.6
    assert f"share of errors above {predictor.wrong_above:.3g}" in report.summary()
