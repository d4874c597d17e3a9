"""`taxiway check`: the report in three formats, the score gate, and the CI record it leaves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxiway import registry
from taxiway.checklist.ml_test_score import TESTS
from taxiway.cli import app
from taxiway.cli.app import VERBS
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Origin
from tests.checklist.world import build_world


def _check(runner: CliRunner, project: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["--project", str(project), "check", *args], env=env)


def _json(runner: CliRunner, project: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = _check(runner, project, "--format", "json", *args, env=env)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _items(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for section in document["sections"] for item in section["items"]}


def _record_one_test_per_section(project_dir: Path, origin: Origin) -> None:
    """One passing record for one test of each section, each about the subject its check must be about
    (the project, the live model's run, the live model, the live deployment): the sections score the same."""
    if not (project_dir / ".git").is_dir():
        build_world(project_dir, data=False).store.close()
    project = Project.load(project_dir)
    try:
        live = registry.get_version(project.store, "production")
        subjects = {
            Check.DATA_FEATURE_VELOCITY: ("project", "test-project"),  # D6
            Check.MODEL_SPEC_REVIEWED: ("run", live.run_id),  # M1
            Check.MODEL_REPRODUCED: ("model", live.name),  # I1
            Check.MONITOR_DEPENDENCIES: ("deployment", live.name),  # O1
        }
        for check, (kind, subject) in subjects.items():
            project.store.evidence.record(
                check,
                subject_kind=kind,  # type: ignore[arg-type]
                subject_id=subject,
                value=0.0,
                limit=Limit(0.0, "<="),
                origin=origin,
            )
    finally:
        project.store.close()


def test_json_is_one_document_with_every_item_and_test(runner: CliRunner, project_dir: Path) -> None:
    document = _json(runner, project_dir)
    assert list(document) == [
        "project",
        "generated_at",
        "sections",
        "ml_test_score",
        "summary",
        "required_score",
    ]
    assert document["project"] == "test-project"
    assert [s["name"] for s in document["sections"]] == [
        "Project",
        "Problem understanding",
        "Data",
        "Modelling",
        "Deployment",
    ]
    assert len(_items(document)) == 42
    assert [t["id"] for t in document["ml_test_score"]["tests"]] == [t.id for t in TESTS]
    assert document["ml_test_score"]["final"] == 0.0
    assert document["ml_test_score"]["band"] == "a research project, not production"
    assert document["summary"] == {
        "proven": 0,
        "accepted": 0,
        "answered": 0,
        "warned": 0,
        "stale": 0,
        "missing": 42,
        "failed": 0,
    }
    assert _items(document)["deployment.ci"]["how"] == (
        "no record yet about a commit in this repository's git history; "
        "run taxiway ci run"
    )
    # every hint names only commands that exist (issue 18: hints named `taxiway monitor` and `taxiway ct`)
    verbs = {verb.name for verb in VERBS}
    for entry in _items(document).values():
        for named in re.findall(r"taxiway ([a-z-]+)", entry["how"] or ""):
            assert named in verbs, f"{entry['id']}: {entry['how']}"


def test_text_shows_marks_items_and_the_score_table(
    runner: CliRunner, project_dir: Path, make_project: Any
) -> None:
    make_project(project_dir, answers={"project.owner": "Ana"})
    result = _check(runner, project_dir, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Before modelling: Project" in out and "Deployment" in out
    assert "✎ There is a person who is ultimately responsible" in out
    assert "answered in charter: project.owner = Ana" in out
    assert "✗ We have CI in place." in out
    assert "ML Test Score" in out and "Feature expectations are captured in a schema." in out
    assert "Final (the lowest): 0: a research project, not production." in out
    assert "\x1b[" not in out  # plain text when not a terminal


def test_markdown(runner: CliRunner, project_dir: Path) -> None:
    result = _check(runner, project_dir, "--format", "md")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Checklist: test-project\n")
    assert "## Before modelling: Problem understanding" in result.stdout
    assert "| O7 |" in result.stdout


def test_manual_evidence_earns_half_and_ci_evidence_one(runner: CliRunner, project_dir: Path) -> None:
    _record_one_test_per_section(project_dir, "manual")
    document = _json(runner, project_dir)
    assert document["ml_test_score"]["sections"] == {"D": 0.5, "M": 0.5, "I": 0.5, "O": 0.5}
    assert document["ml_test_score"]["final"] == 0.5
    _record_one_test_per_section(project_dir, "ci")
    document = _json(runner, project_dir)
    assert document["ml_test_score"]["final"] == 1.0
    assert document["ml_test_score"]["band"] == "not totally untested, but serious holes"
    d6 = document["ml_test_score"]["tests"][5]
    assert d6["id"] == "D6"
    assert d6["points"] == 1.0 and d6["evidence"]["origin"] == "ci" and d6["how"] is None


@pytest.mark.parametrize(("required", "code"), [("0", 0), ("1", 0), ("1.5", 1), ("7", 1)])
def test_require_score_gate(runner: CliRunner, project_dir: Path, required: str, code: int) -> None:
    _record_one_test_per_section(project_dir, "ci")  # final score 1
    result = _check(runner, project_dir, "--format", "json", "--require-score", required)
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout)["required_score"] == float(required)
    if code:
        assert "error: the ML Test Score is 1, below the required" in result.stderr
    else:
        assert result.stderr == ""


@pytest.mark.parametrize("required", ["-1", "7.5", "lots"])
def test_require_score_out_of_range_is_bad_usage(runner: CliRunner, project_dir: Path, required: str) -> None:
    result = _check(runner, project_dir, "--require-score", required)
    assert result.exit_code == 2
    assert "--require-score" in result.stderr


def test_the_check_under_a_ci_variable_proves_no_ci(runner: CliRunner, project_dir: Path) -> None:
    _record_one_test_per_section(project_dir, "manual")
    document = _json(runner, project_dir, "--require-score", "0.5", env={"CI": "true"})
    assert _items(document)["deployment.ci"]["state"] == "missing"
    project = Project.load(project_dir)
    try:
        assert project.store.evidence.history(Check.CI_CHECK) == []
    finally:
        project.store.close()


def test_outside_ci_nothing_is_recorded(runner: CliRunner, project_dir: Path) -> None:
    _json(runner, project_dir, env={"CI": "false"})
    project = Project.load(project_dir)
    try:
        assert project.store.evidence.count() == 0
    finally:
        project.store.close()


def test_missing_charter_is_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    result = _check(runner, tmp_path)
    assert result.exit_code == 2
    assert "no taxiway.toml" in result.stderr
