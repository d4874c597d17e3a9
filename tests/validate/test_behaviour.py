"""`taxiway test behaviour`: minimum functionality, invariance and directional tests on a trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.scaffold.write import write_scaffold
from taxiway.store.checks import Check
from taxiway.train.runs import list_runs
from taxiway.validate.behaviour_file import parse_behaviour
from tests.validate.trained_model import trained_copy

HOLDING = """
tests:
  - name: a cold, dry winter night is not warm
    kind: minimum
    inputs:
      - {dewp: 5, humid: 40, month: 1, hour: 3}
      - {dewp: 10, humid: 50, month: 12, hour: 6, origin: JFK}
    expect: {label: 0, score: {max: 0.2}}
  - name: a humid summer afternoon is warm
    kind: minimum
    input: {dewp: 68, humid: 60, month: 7, hour: 15}
    expect: {label: 1, score: {min: 0.8}}
  - name: the airport barely matters
    kind: invariance
    perturb: {column: origin, values: [EWR, JFK, LGA]}
    tolerance: 0.3
  - name: a higher dew point does not make it colder
    kind: directional
    rows: 50
    perturb: {column: dewp, shift: {min: 5, max: 15, steps: 3}}
    expect: not_lower
    tolerance: 0.05
"""
FAILING = """
tests:
  - name: every summer afternoon is warm
    kind: minimum
    inputs:
      - {dewp: 68, humid: 60, month: 7, hour: 15}
      - {dewp: 5, humid: 60, month: 7, hour: 15}
    expect: {label: 1}
  - name: the dew point does not matter
    kind: invariance
    rows: 20
    perturb: {column: dewp, values: [0, 80]}
    tolerance: 0.01
  - name: a higher dew point never makes it warmer
    kind: directional
    perturb: {column: dewp, shift: {min: 10, max: 30, steps: 3}}
    expect: not_higher
"""


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return trained_copy(tmp_path_factory, tmp_path / "weather")


def _behaviour(runner: CliRunner, root: Path, text: str | None, *args: str) -> tuple[int, Any, str]:
    if text is not None:
        (root / "tests" / "behaviour.yaml").write_text(text)
    result = runner.invoke(app, ["--project", str(root), "test", "behaviour", *args])
    parsed = json.loads(result.stdout) if result.stdout.startswith("{") else None
    return result.exit_code, parsed, result.output


def test_behaviour_that_holds_passes_and_is_recorded(runner: CliRunner, project: Path) -> None:
    code, report, _ = _behaviour(runner, project, HOLDING, "--format", "json")
    assert code == 0, report
    assert report["passed"] is True and report["run_name"] == "candidate"
    examples = {test["name"]: test["examples"] for test in report["tests"]}
    assert list(examples.values()) == [2, 1, 300, 150], "100 validation rows x 3 airports; 50 rows x 3 shifts"
    assert all(test["passed"] and test["failures"] == [] for test in report["tests"])
    store = Project.load(project).store
    evidence = store.evidence.latest([Check.MODEL_BEHAVIOUR])[Check.MODEL_BEHAVIOUR]
    assert evidence.status == "pass" and evidence.subject_id == report["run_id"]
    assert evidence.details["tests"][2]["kind"] == "invariance"

    linear = next(run for run in list_runs(store) if run.name == "linear")
    code, other, _ = _behaviour(runner, project, None, "--run", linear.id, "--format", "json")
    assert other["run_id"] == linear.id and code in (0, 1)
    store.close()


def test_failing_behaviour_shows_input_expected_and_actual(runner: CliRunner, project: Path) -> None:
    code, report, _ = _behaviour(runner, project, FAILING, "--format", "json")
    assert code == 1 and report["passed"] is False
    minimum, invariance, directional = report["tests"]
    assert (minimum["examples"], minimum["failed"]) == (2, 1)
    failure = minimum["failures"][0]
    assert failure["input"] == {"dewp": 5, "humid": 60, "month": 7, "hour": 15}
    assert failure["expected"] == "label 1" and failure["actual"].startswith("label 0, score ")
    assert invariance["failed"] > 0 and set(invariance["failures"][0]["input"]["dewp"]) == {"from", "to"}
    worst = directional["failures"][0]
    assert worst["input"]["dewp"]["to"] > worst["input"]["dewp"]["from"]
    assert worst["expected"] == "score not higher (tolerance 0)" and "→" in worst["actual"]
    assert len({f["row"] for f in directional["failures"]}) == len(directional["failures"]), "one per row"
    evidence = Project.load(project).store.evidence.latest([Check.MODEL_BEHAVIOUR])[Check.MODEL_BEHAVIOUR]
    assert evidence.status == "fail" and evidence.value == 3.0

    code, _, text = _behaviour(runner, project, None)
    assert code == 1 and "✗ 3 of 3 behaviour tests fail" in text
    assert "✗ every summer afternoon is warm (input 1): input {'dewp': 5" in text


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "tests:\n  - name: x\n    kind: [minimum\n",
            "is not valid YAML (line 4",
            "each test needs name, kind",
        ),
        (
            "tests:\n  - {name: n, kind: minimum, input: {dew_point: 5}, expect: {label: 0}}\n",
            "tests/behaviour.yaml: tests[0].input: unknown column 'dew_point'",
            "the model of run",
        ),
        (
            "tests:\n  - {name: n, kind: invariance, perturb: {column: dewpt, values: [1]}, tolerance: 0}\n",
            "tests[0].perturb.column: unknown column 'dewpt'",
            "did you mean 'dewp'?",
        ),
        (
            (
                "tests:\n  - {name: n, kind: invariance, perturb: {column: origin, shift: {min: 1, max: 2}}, "
                "tolerance: 0}\n"
            ),
            "tests[0].perturb.shift: column 'origin' holds",
            "give the values to try instead",
        ),
        (
            (
                "tests:\n  - {name: n, kind: minimum, expect: {label: 0}, input: {}}\n"
                "  - {name: m, kind: invariance, perturb: {column: dewp, values: [1]}}\n"
            ),
            "tests[1].tolerance: Field required",
            "each test needs name, kind",
        ),
        ("tests:\n  - {name: n, kind: fuzz}\n", "tests[0]: Input tag 'fuzz'", "minimum, invariance or"),
        ("tests:\n", "declares no tests", "`taxiway init` writes"),
    ],
)
def test_a_bad_behaviour_file_exits_2_naming_the_field(
    runner: CliRunner, project: Path, text: str, message: str, hint: str
) -> None:
    code, _, output = _behaviour(runner, project, text)
    assert code == 2, output
    assert message in output and "hint:" in output and hint in output
    assert "Traceback" not in output
    assert Project.load(project).store.evidence.latest([Check.MODEL_BEHAVIOUR]) == {}


def test_no_behaviour_file_or_no_such_run_exits_2(runner: CliRunner, project: Path) -> None:
    (project / "tests" / "behaviour.yaml").unlink()
    code, _, output = _behaviour(runner, project, None)
    assert code == 2 and "no behaviour tests: tests/behaviour.yaml does not exist" in output
    code, _, output = _behaviour(runner, project, HOLDING, "--run", "r-ffff0000")
    assert code == 2 and "no run starts with 'r-ffff0000'" in output


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_example_taxiway_init_writes_parses_once_uncommented(tmp_path: Path, task: str) -> None:
    write_scaffold(tmp_path, name="x", task=task)  # type: ignore[arg-type]
    head, examples = (tmp_path / "tests" / "behaviour.yaml").read_text().split("tests:\n")
    uncommented = "\n".join(line.removeprefix("#") for line in examples.splitlines())
    parsed = parse_behaviour(head + "tests:\n" + uncommented)
    assert [test.kind for test in parsed.tests] == ["minimum", "invariance", "directional"]
