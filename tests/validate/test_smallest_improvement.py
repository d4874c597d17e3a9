"""`taxiway validate` reuses the smallest improvement training derived, while its inputs are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.data.improvement import improvement_inputs
from taxiway.data.power import smallest_improvement
from taxiway.data.split import get_split, split_frames
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.runs import get_run
from tests.validate.trained_model import trained_copy


def _derived_afresh(root: Path, split_id: str) -> tuple[float, str]:
    """The derived smallest improvement computed from scratch for the charter as it is, and its inputs."""
    project = Project.load(root)
    try:
        charter = project.charter
        frames = split_frames(project.store, get_split(project.store, split_id))
        settings = {"target": charter.problem.target, "key_column": charter.data.key_column}
        value, derived = smallest_improvement(frames, settings, charter, seed=charter.split.seed)
        assert derived
        return value, improvement_inputs(split_id, settings, charter, seed=charter.split.seed)
    finally:
        project.store.close()


def _validate(root: Path) -> dict[str, object]:
    result = CliRunner().invoke(app, ["--project", str(root), "validate", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_validate_reuses_the_value_training_recorded_and_derives_again_when_the_charter_changed(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    root = trained_copy(tmp_path_factory, tmp_path / "weather")
    project = Project.load(root)
    try:
        trained = project.store.evidence.latest([Check.TRAIN_BASELINES])[Check.TRAIN_BASELINES]
        split_id = str(get_run(project.store, trained.subject_id).split_id)
    finally:
        project.store.close()
    recorded = trained.details["smallest_improvement"]
    afresh, inputs = _derived_afresh(root, split_id)
    # training recorded the value with the digest of its inputs; the same inputs give the same value
    assert trained.details["smallest_improvement_inputs"] == inputs and recorded == afresh
    evaluation = _validate(root)["evaluation"]
    assert isinstance(evaluation, dict)
    assert evaluation["smallest_improvement"] == recorded and evaluation["smallest_improvement_derived"]

    # Another ranking metric: the recorded value (in log loss) no longer fits, so validation derives it again.
    charter = root / "taxiway.toml"
    text = charter.read_text(encoding="utf-8")
    assert 'ranking_metric = "log_loss"' in text
    charter.write_text(
        text.replace('ranking_metric = "log_loss"', 'ranking_metric = "roc_auc"'), encoding="utf-8"
    )
    in_auc, changed = _derived_afresh(root, split_id)
    assert changed != inputs and in_auc != recorded
    evaluation = _validate(root)["evaluation"]
    assert isinstance(evaluation, dict)
    assert evaluation["smallest_improvement"] == in_auc
