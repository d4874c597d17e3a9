"""`taxiway test unit`: the team's unit tests of pipeline.py run with pytest, counted and recorded (the
starter tests `taxiway init` wrote, unchanged, do not count)."""

from __future__ import annotations

import json
import subprocess
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


PASSING_TEST = """
import sys, pathlib
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import pipeline


def test_the_model_is_boosted_trees():
    assert "Boosting" in type(pipeline.model({}).steps[-1][1]).__name__
"""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_starter_tests_alone_prove_nothing(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "p"
    _init(runner, root)
    result = runner.invoke(app, ["--project", str(root), "test", "unit"])
    assert result.exit_code == 2, result.output
    assert (
        "no tests of the team's own in tests" in result.output and "tests/test_pipeline.py" in result.output
    )
    assert Project.load(root).store.evidence.latest([Check.MODEL_UNIT_TESTS]) == {}
    # Edited, the starter file is the team's: it counts.
    starter = root / "tests" / "test_pipeline.py"
    starter.write_text(starter.read_text() + "\n\ndef test_ours():\n    assert 1 + 1 == 2\n")
    result = runner.invoke(app, ["--project", str(root), "test", "unit", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["tests"] == 4, result.output


def test_the_teams_tests_pass_then_a_failing_one_fails_about_the_commit(
    runner: CliRunner, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    _init(runner, root)
    (root / "tests" / "test_model.py").write_text(PASSING_TEST)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "spec")
    commit = _git(root, "rev-parse", "HEAD")
    result = runner.invoke(app, ["--project", str(root), "test", "unit", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["tests"], report["passed_count"], report["failed"], report["errors"]) == (1, 1, 0, 0)
    store = Project.load(root).store
    evidence = store.evidence.latest([Check.MODEL_UNIT_TESTS])[Check.MODEL_UNIT_TESTS]
    assert evidence.status == "pass" and (evidence.value, evidence.threshold) == (0.0, 0.0)
    assert (evidence.subject_kind, evidence.subject_id) == ("commit", commit)
    assert evidence.details["ignored_starter_tests"] == ["tests/test_pipeline.py"]

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
    assert evidence.status == "fail" and (evidence.details["tests"], evidence.details["failed"]) == (2, 1)
    assert evidence.value == 1.0 and evidence.details["git_dirty"] is True
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
