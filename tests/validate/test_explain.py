"""`taxiway explain RUN --row JSON`: every pipeline step's output and each column's contribution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.registry.versions import register
from taxiway.store.checks import Check
from taxiway.train.runs import Run, list_runs
from tests.validate.trained_model import trained_copy

SUMMER = {"dewp": 68, "humid": 60, "month": 7, "hour": 15}


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return trained_copy(tmp_path_factory, tmp_path / "weather")


def _runs(root: Path) -> dict[str, Run]:
    store = Project.load(root).store
    try:
        return {run.name: run for run in list_runs(store)}
    finally:
        store.close()


def _explain(runner: CliRunner, root: Path, run: str, row: Any, *args: str) -> tuple[int, Any, str]:
    text = row if isinstance(row, str) else json.dumps(row)
    result = runner.invoke(app, ["--project", str(root), "explain", run, "--row", text, *args])
    parsed = json.loads(result.stdout) if result.stdout.startswith("{") else None
    return result.exit_code, parsed, result.output


def test_explain_shows_every_step_and_the_columns_that_drove_the_prediction(
    runner: CliRunner, project: Path
) -> None:
    candidate = _runs(project)["candidate"]
    code, found, output = _explain(runner, project, candidate.id, SUMMER, "--format", "json")
    assert code == 0, output
    assert [step["name"] for step in found["steps"]] == ["features", "estimator"]
    features, final = found["steps"]
    assert features["transformer"] == "ColumnTransformer"
    assert features["output"]["dewp"] == 68 and isinstance(features["output"]["origin"], float)
    assert final["transformer"] == "HistGradientBoostingClassifier"
    assert final["output"]["prediction"] == found["prediction"] == 1
    assert final["output"]["proba_1"] == pytest.approx(found["score"]) and found["score"] > 0.8
    assert found["probabilities"]["1"] == pytest.approx(found["score"]) and found["score_class"] == 1
    assert set(found["filled"]) == set(found["input"]) - set(SUMMER), "the other columns took typical values"

    contributions = found["contributions"]
    sizes = [abs(item["contribution"]) for item in contributions]
    assert sizes == sorted(sizes, reverse=True), "largest effect first"
    assert contributions[0]["column"] == "dewp" and contributions[0]["contribution"] > 0.5
    for item in contributions:
        assert item["contribution"] == pytest.approx(found["score"] - item["score_without"])
        if item["column"] in found["filled"]:
            assert item["contribution"] == 0, "a column at its typical value cannot move the score"
    assert found["reference_score"] < found["score"]

    store = Project.load(project).store
    evidence = store.evidence.latest([Check.MODEL_DEBUGGABLE])[Check.MODEL_DEBUGGABLE]
    # Not registered yet: the record is about the run (the checklist wants a model version).
    assert evidence.status == "pass" and (evidence.subject_kind, evidence.subject_id) == ("run", candidate.id)
    assert evidence.value == len(SUMMER) and set(evidence.details["given_columns"]) == set(SUMMER)
    assert evidence.details["steps"] == ["features", "estimator"] and "dewp" not in str(
        evidence.details["steps"]
    )
    store.close()
    checked = json.loads(runner.invoke(app, ["--project", str(project), "check", "--format", "json"]).stdout)
    assert {t["id"]: t["points"] for t in checked["ml_test_score"]["tests"]}["I5"] == 0.5


def test_explain_text_a_chosen_class_and_a_model_without_steps(runner: CliRunner, project: Path) -> None:
    runs = _runs(project)
    code, _, text = _explain(runner, project, runs["candidate"].id[:8], SUMMER)
    assert code == 0
    assert "step 1: features (ColumnTransformer)" in text and "prediction: 1; P(class 1) = " in text
    assert "filled: typical training value" in text and "contributions to P(class 1)" in text
    code, other, _ = _explain(runner, project, runs["candidate"].id, SUMMER, "--class", "0", "-f", "json")
    assert other["score_class"] == 0 and other["score"] == pytest.approx(other["probabilities"]["0"])
    code, constant, _ = _explain(runner, project, runs["constant"].id, SUMMER, "-f", "json")
    assert code == 0 and [step["transformer"] for step in constant["steps"]] == ["DummyClassifier"]
    assert all(item["contribution"] == 0 for item in constant["contributions"])


def test_an_empty_row_or_a_baseline_proves_nothing_and_a_model_version_does(
    runner: CliRunner, project: Path
) -> None:
    runs = _runs(project)
    code, _, output = _explain(runner, project, runs["candidate"].id, {}, "-f", "json")
    assert code == 0, output
    store = Project.load(project).store
    try:
        empty = store.evidence.latest([Check.MODEL_DEBUGGABLE])[Check.MODEL_DEBUGGABLE]
        assert empty.status == "fail" and (empty.value, empty.threshold, empty.comparison) == (0.0, 1.0, ">=")
        assert _explain(runner, project, runs["constant"].id, SUMMER)[0] == 0
        baseline = store.evidence.latest([Check.MODEL_DEBUGGABLE])[Check.MODEL_DEBUGGABLE]
        assert baseline.status == "warn" and baseline.details["run_kind"] == "baseline"
        version, _ = register(store, runs["candidate"].id, force=True, reason="a test")
        assert _explain(runner, project, runs["candidate"].id, SUMMER)[0] == 0
        proven = store.evidence.latest([Check.MODEL_DEBUGGABLE])[Check.MODEL_DEBUGGABLE]
        assert proven.status == "pass" and (proven.subject_kind, proven.subject_id) == ("model", version.name)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("row", "message", "hint"),
    [
        ('{"dewp": 41,', "--row is not valid JSON", "quote the whole row"),
        ("[41, 60]", "--row must be a JSON object of column → value, not a list", '--row \'{"dewp"'),
        ({"dew_point": 41}, "--row: unknown column 'dew_point'", "the model of run"),
        ({"humidity": 41}, "unknown column 'humidity'", "did you mean 'humid'?"),
        ({"dewp": "warm"}, "--row: column 'dewp': ['warm'] cannot be read as float64", "the column's type"),
    ],
)
def test_a_bad_row_exits_2_with_a_hint(
    runner: CliRunner, project: Path, row: Any, message: str, hint: str
) -> None:
    code, _, output = _explain(runner, project, _runs(project)["candidate"].id, row)
    assert code == 2, output
    assert message in output and "hint:" in output and hint in output
    assert "Traceback" not in output


def test_explaining_a_run_that_does_not_exist_exits_2(runner: CliRunner, project: Path) -> None:
    code, _, output = _explain(runner, project, "r-ffff0000", SUMMER)
    assert code == 2 and "no run starts with 'r-ffff0000'" in output
