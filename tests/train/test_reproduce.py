"""`taxiway reproduce RUN` in real git repositories: a seeded model reproduces, unseeded randomness not."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.scaffold.write import write_scaffold
from taxiway.store.checks import Check
from taxiway.train.reproduce import environment_differences
from taxiway.train.runs import list_runs
from taxiway.train.tracking import start_run
from tests.train.test_train_cli import weather_rows

GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
UNSEEDED = """
import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder


def model(params):
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    features = ColumnTransformer(
        [("categories", encoder, make_column_selector(dtype_include=["object", "string"])),
         ("numbers", "passthrough", make_column_selector(dtype_include="number"))]
    )
    # A fresh random_state drawn without a seed at every call: no two trainings agree.
    forest = RandomForestClassifier(n_estimators=10, random_state=np.random.randint(2**31 - 1))
    return Pipeline([("features", features), ("model", forest)])
"""


def _git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def _trained_in_git(
    root: Path,
    make_project: Callable[..., Path],
    runner: CliRunner,
    *,
    pipeline: str | None = None,
    fewer_trees: bool = False,
    commit_pipeline: bool = True,
    dirty: bool = False,
) -> str:
    """A project committed to a fresh git repository, trained; returns the best candidate's run id."""
    make_project(root, target="warm", answers={"problem.ranking_metric": "log_loss"})
    weather_rows(1_200).to_csv(root / "weather.csv", index=False)
    assert (
        runner.invoke(app, ["--project", str(root), "data", "add", str(root / "weather.csv")]).exit_code == 0
    )
    write_scaffold(root, name="p", task="classification")
    if pipeline is not None:
        (root / "pipeline.py").write_text(pipeline)
    if fewer_trees:  # the starter pipeline, with 15 boosting iterations instead of the default 100
        text = (root / "pipeline.py").read_text()
        (root / "pipeline.py").write_text(text.replace("(**params)", "(max_iter=15, **params)"))
    (root / ".gitignore").write_text(".taxiway/\n*.csv\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    _git(root, "add", "-A")
    if not commit_pipeline:
        _git(root, "rm", "-q", "--cached", "pipeline.py")
    _git(root, "commit", "-qm", "start")
    if dirty:
        (root / "pipeline.py").write_text((root / "pipeline.py").read_text() + "\n# tuned by hand\n")
    trained = runner.invoke(app, ["--project", str(root), "train", "--format", "json"])
    assert trained.exit_code in (0, 1), trained.output
    return str(json.loads(trained.stdout)["verdict"]["best_candidate"])


def _reproduce(runner: CliRunner, root: Path, run_id: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["--project", str(root), "reproduce", run_id, "--format", "json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else {
        "output": result.output
    }


def test_a_seeded_model_is_reproduced_from_its_commit_and_recorded_diff(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = tmp_path / "seeded"
    run_id = _trained_in_git(root, make_project, runner, dirty=True)
    code, report = _reproduce(runner, root, run_id)
    assert code == 0, report
    assert report["verdict"] == "reproduced" and report["reproduced"] is True
    assert report["code"]["commit"] == _git(root, "rev-parse", "HEAD").strip()
    assert report["code"]["diff_applied"] is True, "the tree was dirty: its diff was applied"
    assert report["against_recorded"]["rows_differing"] == 0 and report["against_recorded"]["rows"] > 100
    assert report["against_recorded"]["metrics_differing"] == {}
    assert report["between_retrainings"] is None, "a match needs no second retraining"
    assert len(_git(root, "worktree", "list").splitlines()) == 1, "the temporary worktree is removed"
    assert (root / "pipeline.py").read_text().endswith("# tuned by hand\n"), "the working folder is untouched"

    store = Project.load(root).store
    evidence = store.evidence.latest([Check.MODEL_REPRODUCED])[Check.MODEL_REPRODUCED]
    assert evidence.status == "pass" and evidence.subject_id == run_id
    assert evidence.details["is_baseline"] is False and evidence.details["run_kind"] == "candidate"
    constant = next(run for run in list_runs(store) if run.name == "constant")
    assert _reproduce(runner, root, constant.id)[0] == 0
    reproduced = store.evidence.latest_about(Check.MODEL_REPRODUCED, "run", constant.id)
    assert reproduced is not None and reproduced.details["is_baseline"] is True  # proves nothing of the model
    text = runner.invoke(app, ["--project", str(root), "reproduce", run_id[:8]])
    assert text.exit_code == 0 and "✓ reproduced" in text.stdout and "+ the recorded diff" in text.stdout
    checked = json.loads(runner.invoke(app, ["--project", str(root), "check", "--format", "json"]).stdout)
    assert {t["id"]: t["points"] for t in checked["ml_test_score"]["tests"]}["I1"] == 0.5

    with start_run("notes", store=store) as custom:
        custom.log_metric("loss", 1.0)
    for ref, message in (
        ("r-ffff0000", "no run starts with 'r-ffff0000'"),
        (custom.id, "no recorded training"),
    ):
        result = runner.invoke(app, ["--project", str(root), "reproduce", ref])
        assert result.exit_code == 2 and message in result.output and "hint:" in result.output
    store.close()


def test_unseeded_randomness_is_reported_as_not_reproducible_with_the_differing_rows(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = tmp_path / "unseeded"
    run_id = _trained_in_git(root, make_project, runner, pipeline=UNSEEDED)
    code, report = _reproduce(runner, root, run_id)
    assert code == 1, report
    assert report["verdict"] == "not_deterministic" and report["reproduced"] is False
    between = report["between_retrainings"]
    assert between["matches"] is False and between["rows_differing"] > 0
    example = between["examples"][0]
    assert {"row_key", "recorded", "reproduced", "recorded_scores", "reproduced_scores"} <= set(example)
    assert example["difference"] > 0 and example["recorded_scores"] != example["reproduced_scores"]
    assert any("randomness that no seed controls" in note for note in report["notes"])

    evidence = Project.load(root).store.evidence.latest([Check.MODEL_REPRODUCED])[Check.MODEL_REPRODUCED]
    assert evidence.status == "fail" and evidence.details["verdict"] == "not_deterministic"
    assert evidence.details["between_retrainings"]["examples"], "the differing rows are the evidence"
    text = runner.invoke(app, ["--project", str(root), "reproduce", run_id])
    assert text.exit_code == 1 and "✗ not reproducible" in text.stdout
    assert "second vs first retraining" in text.stdout


def test_a_model_trained_from_uncommitted_code_is_not_reproduced_and_says_why(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = tmp_path / "untracked"
    run_id = _trained_in_git(root, make_project, runner, fewer_trees=True, commit_pipeline=False)
    code, report = _reproduce(runner, root, run_id)
    assert code == 1, report
    assert report["verdict"] == "differs", "deterministic, but the commit lacks the pipeline.py that trained"
    assert report["code"]["untracked"] == ["pipeline.py"]
    assert any("untracked when the run trained" in note and "pipeline.py" in note for note in report["notes"])


def test_environment_differences_name_python_and_every_changed_package() -> None:
    recorded = {
        "python": "2.7.18",
        "implementation": "cpython",
        "packages": {"scikit-learn": "0.1.0", "numpy": "1.0.0", "no-longer-installed": "1.0"},
    }
    found = {item["name"]: item for item in environment_differences(recorded)}
    assert found["python"]["recorded"] == "2.7.18" and found["python"]["current"] != "2.7.18"
    assert found["scikit-learn"]["recorded"] == "0.1.0" and found["scikit-learn"]["current"]
    assert found["no-longer-installed"]["current"] is None
    assert "implementation" not in found
