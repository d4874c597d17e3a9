"""`taxiway test unit`: the starter unit tests of pipeline.py run with pytest, counted and recorded."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.store.checks import Check

FAILING_TEST = """
import pipeline


def test_the_model_is_a_random_forest():
    assert type(pipeline.model({}).steps[-1][1]).__name__ == "RandomForestClassifier", "we chose a forest"
"""


def _init(runner: CliRunner, root: Path) -> None:
    result = runner.invoke(app, ["init", str(root), "--yes", "--target", "y"])
    assert result.exit_code == 0, result.output


def test_the_starter_unit_tests_pass_and_a_failing_one_is_named(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "p"
    _init(runner, root)
    result = runner.invoke(app, ["--project", str(root), "test", "unit", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["tests"], report["passed_count"], report["failed"], report["errors"]) == (3, 3, 0, 0)
    assert report["passed"] is True and report["path"] == "tests"
    store = Project.load(root).store
    evidence = store.evidence.latest([Check.MODEL_UNIT_TESTS])[Check.MODEL_UNIT_TESTS]
    assert evidence.status == "pass" and evidence.details["tests"] == 3 and evidence.subject_kind == "project"

    (root / "tests" / "test_choice.py").write_text(
        "import sys, pathlib\n"
        + FAILING_TEST.replace(
            "import pipeline",
            "sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))\nimport pipeline",
        )
    )
    result = runner.invoke(app, ["--project", str(root), "test", "unit"])
    assert result.exit_code == 1
    assert (
        "✗ tests.test_choice::test_the_model_is_a_random_forest: AssertionError: we chose a forest\n"
        in result.stdout
    )
    assert "✗ unit tests fail" in result.stdout
    evidence = store.evidence.latest([Check.MODEL_UNIT_TESTS])[Check.MODEL_UNIT_TESTS]
    assert evidence.status == "fail" and (evidence.details["tests"], evidence.details["failed"]) == (4, 1)
    checked = json.loads(runner.invoke(app, ["--project", str(root), "check", "--format", "json"]).stdout)
    assert {t["id"]: t["basis"] for t in checked["ml_test_score"]["tests"]}["I2"] == "failed"
    store.close()


def test_no_tests_to_run_exits_2_with_a_hint(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "p"
    _init(runner, root)
    missing = runner.invoke(app, ["--project", str(root), "test", "unit", "--path", "nowhere"])
    assert missing.exit_code == 2 and "no unit tests:" in missing.output and "hint:" in missing.output
    (root / "empty").mkdir()
    empty = runner.invoke(app, ["--project", str(root), "test", "unit", "--path", "empty"])
    assert empty.exit_code == 2 and "pytest found no tests to run in empty" in empty.output
    assert Project.load(root).store.evidence.latest([Check.MODEL_UNIT_TESTS]) == {}
