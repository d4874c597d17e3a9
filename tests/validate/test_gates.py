"""`taxiway validate` end to end on real weather rows: each gate passes, and fails for the right reason.

Planted problems: a candidate that learns from shuffled labels (worse than the baseline), a slice whose
training labels are inverted (collapses against production), limits no model can meet (latency, memory,
throughput), a model that divides by its batch's spread (NaN on single rows), tight inclusion and
calibration limits. One project is trained once per module and copied for every test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from taxiway.charter import Charter, render_charter
from taxiway.cli import app
from taxiway.data.split import current_split, load_manifest
from taxiway.demo.flights import packaged_flights_file
from taxiway.project import Project
from taxiway.registry.blessing import latest_blessing
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit
from taxiway.validate.judge import _record_staleness
from taxiway.validate.staleness import StalenessImpact
from tests.backend import copy_project, pin_store, pinned_store
from tests.train.test_train_cli import SHUFFLED_LABELS, weather_rows

ANSWERS = {
    "problem.ranking_metric": "log_loss",
    "problem.good_enough": 0.1,
    "problem.smallest_improvement": 0.01,
}
SETTINGS = {
    "data.key_column": "row_id",
    "data.slice_columns": ["origin"],
    "validation.bootstrap_resamples": 200,
}
GATES = [
    "beats_baseline",
    "good_enough",
    "plausible",
    "held_out_test",
    "slices",
    "inclusion",
    "calibration",
    "numerically_stable",
    "latency_p99",
    "memory",
    "throughput",
]

# Standardises each feature by the batch it is given: one row has no spread, so 0 / 0 gives NaN. Batches
# (training, validation) look fine; a server predicting one request at a time gets NaN.
BATCH_STATISTICS = """
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


class BatchScaled(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=500).fit(self._scaled(X), y)
        self.classes_ = self.model_.classes_
        return self

    def _scaled(self, X):
        numbers = X.select_dtypes("number").fillna(0).to_numpy(dtype=float)
        return (numbers - numbers.mean(axis=0)) / numbers.std(axis=0)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X):
        with np.errstate(all="ignore"):
            positive = 1 / (1 + np.exp(-(self._scaled(X) @ self.model_.coef_[0] + self.model_.intercept_[0])))
        return np.column_stack([1 - positive, positive])


def model(params):
    return BatchScaled()
"""


def _write_charter(
    root: Path,
    *,
    settings: dict[str, Any] | None = None,
    answers: dict[str, Any] | None = None,
    base: dict[str, Any] = SETTINGS,
) -> None:
    text = render_charter(
        name="weather",
        task="classification",
        target="warm",
        answers={**ANSWERS, **(answers or {})},
        settings={**base, **(settings or {})},
    )
    charter = root / "taxiway.toml"
    pinned = pinned_store(root) if charter.is_file() else None  # on PostgreSQL: the copy's own database
    charter.write_text(text, encoding="utf-8")
    if pinned is not None:
        pin_store(root, pinned)


def _rows() -> pd.DataFrame:
    rows = weather_rows()
    return rows.assign(row_id=[f"w{i}" for i in range(len(rows))])


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["--project", str(root), *args], env=env)
    text = result.stdout.strip()
    return result.exit_code, json.loads(text) if text.startswith("{") else result.output


def _validate(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    code, report = _cli(root, "validate", *args, "--format", "json", env=env)
    assert isinstance(report, dict), report
    return code, report


def _gates(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {gate["gate"]: gate for gate in report["gates"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A weather project with its baselines and a boosted-tree candidate trained (copy it before use)."""
    root = tmp_path_factory.mktemp("trained") / "weather"
    root.mkdir()
    _write_charter(root)
    pin_store(root)
    _rows().to_csv(root / "weather.csv", index=False)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("TAXIWAY_STORE_URI", "TAXIWAY_ARTIFACTS_URI", "TAXIWAY_PROJECT", "CI"):
            patch.delenv(name, raising=False)
        assert _cli(root, "data", "add", str(root / "weather.csv"))[0] == 0
        code, report = _cli(root, "train", "--format", "json")
        assert code == 0, report
    yield root


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    return copy_project(trained, tmp_path / "weather")


def _latest(root: Path, check: Check) -> Any:
    store = Project.load(root).store
    try:
        return store.evidence.latest([check])[check]
    finally:
        store.close()


def test_a_good_candidate_passes_every_gate_and_records_the_evidence(project: Path) -> None:
    code, report = _validate(project, env={"CI": "true"})
    assert code == 0, report
    gates = _gates(report)
    assert list(gates) == GATES
    assert report["passed"] is True and report["failed"] == []
    assert gates["inclusion"]["status"] == "skip" and gates["calibration"]["status"] == "skip"
    plausible, test = gates["plausible"], gates["held_out_test"]
    assert plausible["status"] == "pass" and plausible["value"] > plausible["threshold"] == 0.1
    assert "no state of the art to compare with" in plausible["summary"]
    assert plausible["details"]["responsible"][0]["column"] == "dewp"
    assert test["status"] == "pass" and test["details"]["test_rows"] > 300 and test["threshold"] == 1.5
    baseline = gates["beats_baseline"]
    assert baseline["status"] == "pass" and baseline["value"] >= baseline["threshold"] == 0.01
    assert baseline["details"]["baseline"] == "linear" and baseline["details"]["p_value"] < 0.05
    assert baseline["details"]["low"] > 0 and baseline["details"]["resamples"] == 200
    assert gates["slices"]["details"]["reference"] == "baseline linear"
    assert gates["latency_p99"]["value"] > 0 and gates["memory"]["value"] > 50
    assert report["test"]["rows"] > 300 and "log_loss" in report["test"]["metrics"]
    slices = report["evaluation"]["slices"]
    assert {s["value"] for s in slices} == {"EWR", "JFK", "LGA"} and all(
        s["low"] <= s["high"] for s in slices
    )

    for check in (Check.MODEL_VALIDATED, Check.MODEL_SLICES, Check.MONITOR_NUMERICAL):
        record = _latest(project, check)
        # The CI variable does not make a record automatic: a person typed `taxiway validate`.
        assert record.status == "pass" and record.origin == "manual", check
    assert _latest(project, Check.MODEL_INCLUSION).status == "warn"
    assert _latest(project, Check.MODEL_STALENESS_IMPACT).status == "warn"  # a random split has no time
    value = _latest(project, Check.DATA_FEATURE_VALUE)
    assert {f["feature"] for f in value.details["features"]} >= {"dewp", "humid", "origin"}
    assert value.status == ("fail" if value.details["not_helping"] else "pass")
    helpful = {f["feature"]: f["helps"] for f in value.details["features"]}
    assert helpful["dewp"] is True  # warm is mostly dew point
    cost = _latest(project, Check.DATA_FEATURE_COST)
    assert cost.status == "pass" and {f["step"] for f in cost.details["features"]} == {
        "categories",
        "numbers",
    }

    check = _cli(project, "check", "--format", "json")[1]
    points = {test["id"]: test["points"] for test in check["ml_test_score"]["tests"]}
    assert points["I4"] == points["M6"] == points["O5"] == 0.5  # by hand, whatever the environment says


def test_a_candidate_worse_than_the_baseline_fails_the_baseline_gate(project: Path) -> None:
    (project / "pipeline.py").write_text(SHUFFLED_LABELS)
    code, trained = _cli(project, "train", "--format", "json")
    assert code == 1
    candidate = trained["verdict"]["best_candidate"]
    code, report = _validate(project, candidate)
    assert code == 1 and report["passed"] is False
    gate = _gates(report)["beats_baseline"]
    assert gate["status"] == "fail" and gate["value"] < 0.01
    assert "below the smallest improvement" in gate["summary"]
    assert "beats_baseline" in report["failed"]
    assert _latest(project, Check.MODEL_VALIDATED).status == "fail"
    code, refused = _cli(project, "register", candidate)
    assert code == 1 and "is not blessed: gates failed: beats_baseline" in refused


def test_a_slice_collapse_planted_in_the_training_labels_fails_against_production(project: Path) -> None:
    code, first = _validate(project)
    assert code == 0
    assert _cli(project, "register", first["run_id"], "--alias", "production")[0] == 0
    # Invert the label of JFK's training rows only: the model learns JFK backwards, validation stays true.
    store = Project.load(project).store
    manifest = load_manifest(store, current_split(store))
    store.close()
    train_keys = set(manifest.loc[manifest["split"] == "train", "row_key"])
    rows = _rows()
    planted = rows["row_id"].isin(train_keys) & (rows["origin"] == "JFK")
    rows.loc[planted, "warm"] = 1 - rows.loc[planted, "warm"]
    rows.to_csv(project / "weather-planted.csv", index=False)
    assert _cli(project, "data", "add", str(project / "weather-planted.csv"))[0] == 0
    code, trained = _cli(project, "train", "--format", "json")
    code, report = _validate(project, trained["verdict"]["best_candidate"])
    assert code == 1, report
    gate = _gates(report)["slices"]
    assert gate["status"] == "fail" and gate["value"] > gate["threshold"] == 0.05
    assert gate["details"]["reference"] == "v1 (production)"
    assert gate["details"]["largest_drop"]["value"] == "JFK"
    assert gate["summary"].startswith("origin=JFK")
    assert gate["details"]["worst_slice"]["value"] == "JFK"
    assert _latest(project, Check.MODEL_SLICES).status == "fail"


def test_a_score_far_beyond_the_state_of_the_art_is_too_good_to_be_true(project: Path) -> None:
    # A loss has no range to read a figure from free text in (the text names ROC AUC anyway) ...
    _write_charter(project, answers={"problem.state_of_the_art": "ROC AUC 0.65-0.75 in published work"})
    code, report = _validate(project)
    gate = _gates(report)["plausible"]
    assert code == 0 and gate["status"] == "pass"
    assert "log_loss has no fixed range to read a figure from the text" in gate["summary"]
    assert "set problem.state_of_the_art_score" in gate["summary"]
    # ... a score in the ranking metric is: warm weather is no harder to call than a log loss of 0.2.
    _write_charter(project, settings={"problem.state_of_the_art_score": 0.2})
    code, report = _validate(project)
    gate = _gates(report)["plausible"]
    assert code == 1 and gate["status"] == "fail" and "plausible" in report["failed"]
    assert gate["value"] <= gate["threshold"] == 0.5
    assert gate["summary"].startswith("too good to be true: log_loss 0.0")
    assert "errors of the state of the art, 0.2 (from problem.state_of_the_art_score" in gate["summary"]
    assert "most responsible: dewp (" in gate["summary"] and "data.drop_columns" in gate["summary"]
    assert _latest(project, Check.MODEL_VALIDATED).status == "fail"


def test_a_test_split_unlike_validation_fails_the_held_out_gate(project: Path) -> None:
    # The test rows' labels inverted, as if the world changed after the validation period: the model keeps
    # its validation score and loses the test rows.
    store = Project.load(project).store
    manifest = load_manifest(store, current_split(store))
    store.close()
    test_keys = set(manifest.loc[manifest["split"] == "test", "row_key"])
    rows = _rows()
    changed = rows["row_id"].isin(test_keys)
    rows.loc[changed, "warm"] = 1 - rows.loc[changed, "warm"]
    rows.to_csv(project / "weather-changed.csv", index=False)
    assert _cli(project, "data", "add", str(project / "weather-changed.csv"))[0] == 0
    code, trained = _cli(project, "train", "--format", "json")
    code, report = _validate(project, trained["verdict"]["best_candidate"])
    gate = _gates(report)["held_out_test"]
    assert code == 1 and gate["status"] == "fail", gate
    assert gate["value"] > 1.5 and gate["details"]["z"] > 3
    assert "test errors" in gate["summary"]
    assert "the test rows differ from what validation showed" in gate["summary"]
    assert gate["details"]["test"] > gate["details"]["valid"]


def test_limits_no_model_can_meet_fail_the_serving_gates(project: Path) -> None:
    _write_charter(
        project,
        answers={
            "serving.p99_latency_ms": 0.001,
            "serving.max_memory_mb": 1.0,
            "serving.min_throughput_rps": 1e12,
        },
    )
    text = CliRunner().invoke(app, ["--project", str(project), "validate"])
    assert text.exit_code == 1 and "Gates for run" in text.stdout
    assert "✗ not blessed" in text.stdout and "latency_p99, memory, throughput failed" in text.stdout
    assert "0.001 ms" in text.stdout and "single-row predictions" in text.stdout
    store = Project.load(project).store
    blessing = latest_blessing(store, _latest(project, Check.MODEL_VALIDATED).subject_id)
    store.close()
    assert blessing is not None and blessing.failed == ["latency_p99", "memory", "throughput"]
    latency, memory, throughput = (blessing.gate(name) for name in blessing.failed)
    assert latency is not None and latency.value is not None and latency.value > 0.001
    assert memory is not None and memory.value is not None and memory.value > 1.0
    assert throughput is not None and throughput.value is not None and throughput.value < 1e12


def test_a_model_that_gives_nan_on_single_rows_fails_the_stability_gate(project: Path) -> None:
    (project / "pipeline.py").write_text(BATCH_STATISTICS)
    code, trained = _cli(project, "train", "--format", "json")
    candidate = trained["verdict"]["best_candidate"]
    code, report = _validate(project, candidate)
    assert code == 1
    gate = _gates(report)["numerically_stable"]
    assert gate["status"] == "fail" and gate["value"] > 0 and gate["details"]["non_finite"] > 0
    assert "one row at a time" in gate["summary"] and "nan in the output" in gate["summary"]
    assert _gates(report)["latency_p99"]["status"] == "pass", "the fresh process loads pipeline.py's class"
    record = _latest(project, Check.MONITOR_NUMERICAL)
    assert record.status == "fail" and record.value == gate["value"]
    store = Project.load(project).store
    blessing = latest_blessing(store, candidate)
    store.close()
    assert blessing is not None and blessing.passed is False and "numerically_stable" in blessing.failed


def test_time_split_staleness_inclusion_and_calibration_follow_the_charter(tmp_path: Path) -> None:
    root = tmp_path / "timed"
    root.mkdir()
    weather = pd.read_csv(packaged_flights_file().parent / "weather.csv").drop(columns=["year"])
    rows = weather.sample(n=3_000, random_state=0).reset_index(drop=True)
    rows = rows.assign(warm=(rows["temp"] > 60).astype(int)).drop(columns=["temp"])
    rows.to_csv(root / "weather.csv", index=False)
    _write_charter(
        root,
        base={"validation.bootstrap_resamples": 200},
        settings={
            "data.time_column": "time_hour",
            "data.protected_columns": ["origin"],
            "data.drop_columns": ["time_hour", "origin"],
            "validation.max_inclusion_gap": 0.0001,
            "validation.require_calibration": True,
            "validation.max_calibration_error": 0.0001,
        },
    )
    assert _cli(root, "data", "add", str(root / "weather.csv"))[0] == 0
    assert _cli(root, "train", "--format", "json")[0] in (0, 1)
    code, report = _validate(root)
    assert code == 1
    gates = _gates(report)
    assert gates["slices"]["status"] == "skip"
    inclusion = gates["inclusion"]
    assert inclusion["status"] == "fail" and inclusion["value"] > 0.0001
    assert inclusion["summary"].startswith("origin: equalized odds difference")
    groups = inclusion["details"]["columns"][0]["groups"]
    assert {g["value"] for g in groups} == {"EWR", "JFK", "LGA"}
    calibration = gates["calibration"]
    assert calibration["status"] == "fail" and calibration["value"] > 0.0001
    staleness = report["evaluation"]["staleness"]
    # three windows of training rows; one all-summer window holds a single class and is left out
    assert 2 <= len(staleness["windows"]) <= 3 and staleness["scored_rows"] == report["test"]["rows"]
    ages = [w["age_months"] for w in staleness["windows"]]
    assert ages == sorted(ages, reverse=True) and ages[-1] >= 0
    record = _latest(root, Check.MODEL_STALENESS_IMPACT)
    assert record.details["loss_per_month"] == pytest.approx(staleness["loss_per_month"])
    assert record.limit_key == "serving.freshness_days" and record.comparison == ">="
    assert record.value == record.details["days_within_smallest_improvement"]
    assert _latest(root, Check.MODEL_INCLUSION).status == "fail"


def _staleness(loss_per_month: float | None, freshness_days: int | None) -> tuple[float, Limit, str | None]:
    """What `taxiway validate` records for M4, from a loss per month and the charter's freshness."""
    recorded: list[tuple[float, Limit, str | None]] = []

    def record(check: Check, value: float, limit: Limit, details: object, **kwargs: object) -> None:
        recorded.append((value, limit, kwargs.get("warn")))  # type: ignore[arg-type]

    impact = (
        None
        if loss_per_month is None
        else StalenessImpact(metric="log_loss", loss_per_month=loss_per_month, windows=(), scored_rows=500)
    )
    ev = SimpleNamespace(staleness=impact, notes=["staleness: no time column"], smallest_improvement=0.01)
    answers = {"serving": {"freshness_days": freshness_days}} if freshness_days else {}
    charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}, **answers})
    _record_staleness(record, ev, charter)  # type: ignore[arg-type]
    return recorded[0]


def test_staleness_is_judged_against_the_charter_freshness() -> None:
    value, limit, warn = _staleness(0.01, 30)  # loses the smallest improvement in one month
    assert limit.judge(value) == "pass" and value == pytest.approx(30.44) and warn is None
    value, limit, warn = _staleness(0.01, 60)  # retrained every 60 days: too late
    assert limit.judge(value) == "fail" and (limit.threshold, limit.key) == (60.0, "serving.freshness_days")
    value, limit, warn = _staleness(None, 30)  # nothing measured: a warning, never proof
    assert value == 0.0 and warn == "staleness: no time column"
    assert _staleness(0.001, None)[2] is not None  # unanswered freshness: judged against the default, warned
