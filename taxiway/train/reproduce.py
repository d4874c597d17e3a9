"""Reproduction (ML Test Score I1): retrain a run from its recorded lineage and compare, row by row.

The run's dataset version, split, seed and model parameters come from the store; its code is the recorded
commit checked out in a temporary git worktree, with the recorded diff applied (`taxiway.train._checkout`).
The retrained model's validation predictions are compared with the ones the run stored, and its metrics
with the run's. When they differ, the model is retrained once more: two retrainings that disagree with
each other show that training itself is not deterministic (unseeded randomness), which is reported as
such, never as reproducible. Differences in the Python and package versions are always reported.

Example:
    >>> keys, truth = np.array(["x", "y"]), np.array([1.0, 2.0])
    >>> recorded = Predictions(row_key=keys, y_true=truth, y_pred=np.array([1.0, 2.5]))
    >>> retrained = Predictions(row_key=keys, y_true=truth, y_pred=np.array([1.0, 2.7]))
    >>> [(row["row_key"], round(row["difference"], 3)) for row in different_rows(recorded, retrained)]
    [('y', 0.2)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from taxiway.charter import CHARTER_FILE, Charter, load_charter
from taxiway.data.split import get_split, split_frames
from taxiway.errors import TaxiwayError
from taxiway.measure.cost import expected_cost
from taxiway.measure.predictions import Predictions
from taxiway.measure.scores import score_predictions
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.train._checkout import RecordedCode, recorded_code
from taxiway.train.baselines import default_candidate
from taxiway.train.features import feature_columns, seed_estimator
from taxiway.train.lineage import environment
from taxiway.train.runner import model_specs
from taxiway.train.runs import Run, get_run
from taxiway.train.setup import predict_rows
from taxiway.train.user_code import PIPELINE_FILE, check_estimator, load_user_code

Verdict = Literal["reproduced", "differs", "not_deterministic"]
# Deterministic scikit-learn models retrained on the same data give bit-identical predictions on one machine;
# another CPU or BLAS may move a probability in its last few digits. These bounds admit that noise and
# nothing a decision could ever depend on.
PREDICTION_ATOL = 1e-9  # absolute, per predicted probability or regression value
PREDICTION_RTOL = 1e-9  # relative, for regression values far from zero
METRIC_RTOL = 1e-9  # every recorded metric, relative (absolute 1e-12 near zero)
SHOWN_ROWS = 5  # differing rows kept as evidence


@dataclass(frozen=True)
class Comparison:
    """Two sets of predictions (and metrics) on the same rows, compared within the tolerances."""

    rows: int
    rows_differing: int
    max_difference: float
    examples: list[dict[str, Any]]
    metrics_differing: dict[str, dict[str, float]]

    @property
    def matches(self) -> bool:
        return self.rows_differing == 0 and not self.metrics_differing


@dataclass(frozen=True)
class ReproductionReport:
    """What `reproduce_run` found: the verdict, the comparisons it rests on, the code and environment."""

    run_id: str
    run_name: str
    verdict: Verdict
    against_recorded: Comparison  # first retraining vs the run's stored predictions and metrics
    between_retrainings: Comparison | None  # second vs first retraining, when the first differed
    code: RecordedCode
    environment_differences: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_reproduced(self) -> bool:
        return self.verdict == "reproduced"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the document `taxiway reproduce --format json` prints and the evidence stores."""
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "verdict": self.verdict,
            "reproduced": self.is_reproduced,
            "against_recorded": _comparison(self.against_recorded),
            "between_retrainings": _comparison(self.between_retrainings),
            "tolerance": {
                "prediction_atol": PREDICTION_ATOL,
                "prediction_rtol": PREDICTION_RTOL,
                "metric_rtol": METRIC_RTOL,
            },
            "code": self.code.to_dict(),
            "environment_differences": self.environment_differences,
            "notes": self.notes,
        }


def reproduce_run(project: Project, ref: str) -> ReproductionReport:
    """Retrain run ``ref`` from its lineage, compare, and record ``model.reproduced`` evidence.

    Raises:
        NotFoundError: no run ``ref``.
        TaxiwayError: the run is not one `taxiway train` recorded with a model and predictions, or its
            code cannot be checked out.
    """
    store = project.store
    run = get_run(store, ref)
    if run.kind not in ("baseline", "candidate") or run.status != "finished" or not run.predictions_artifact:
        raise TaxiwayError(
            f"run {run.id} ({run.name}, {run.kind}, {run.status}) has no recorded training to repeat",
            hint="reproduce a finished baseline or candidate that `taxiway train` recorded (`taxiway runs "
            "--kind candidate`)",
        )
    recorded = Predictions.from_parquet(store.artifacts.get_bytes(run.predictions_artifact))
    split = get_split(store, run.split_id or run.lineage["split_id"])
    frames = split_frames(store, split)
    with recorded_code(project.root, run.lineage, store) as code:
        charter = _charter_at(code)
        first = _retrain(run, code, charter, frames)
        against = compare(recorded, first[0], run.metrics, first[1])
        between = None
        if not against.matches:
            second = _retrain(run, code, charter, frames)
            between = compare(first[0], second[0], first[1], second[1])
    verdict: Verdict = "reproduced"
    if not against.matches:
        verdict = "differs" if between is not None and between.matches else "not_deterministic"
    report = ReproductionReport(
        run_id=run.id,
        run_name=run.name,
        verdict=verdict,
        against_recorded=against,
        between_retrainings=between,
        code=code,
        environment_differences=environment_differences(run.lineage.get("environment") or {}),
        notes=_notes(run, code, verdict),
    )
    store.evidence.record(
        Check.MODEL_REPRODUCED,
        subject_kind="run",
        subject_id=run.id,
        # Differences found between the recorded model and the retrained one: rows and metrics, none
        # allowed. The subject is the run; the checklist counts it only for the model version it became,
        # so reproducing a baseline (is_baseline) proves nothing about the model that serves.
        value=float(against.rows_differing + len(against.metrics_differing)),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=len(recorded.row_key), method="predictions and metrics, retrained"),
        details={**report.to_dict(), "run_kind": run.kind, "is_baseline": run.kind == "baseline"},
    )
    return report


def compare(
    expected: Predictions, actual: Predictions, expected_metrics: dict[str, float], metrics: dict[str, float]
) -> Comparison:
    """Compare predictions row by row and the metrics both sides have, within the tolerances.

    Example:
        >>> keys, truth = np.array(["a", "b"]), np.array([0.0, 1.0])
        >>> same = Predictions(row_key=keys, y_true=truth, y_pred=np.array([0.1, 0.9]))
        >>> compare(same, same, {"mae": 0.1}, {"mae": 0.1 + 1e-12}).matches
        True
        >>> compare(same, same, {"mae": 0.1}, {"mae": 0.2}).metrics_differing["mae"]["recorded"]
        0.1
    """
    differing: dict[str, dict[str, float]] = {}
    for name in sorted(set(expected_metrics) & set(metrics)):
        a, b = float(expected_metrics[name]), float(metrics[name])
        if not math.isclose(a, b, rel_tol=METRIC_RTOL, abs_tol=1e-12):
            differing[name] = {"recorded": a, "reproduced": b, "difference": b - a}
    rows = different_rows(expected, actual, limit=None)
    biggest = max((row["difference"] for row in rows), default=0.0)
    return Comparison(len(expected.row_key), len(rows), float(biggest), rows[:SHOWN_ROWS], differing)


def different_rows(
    expected: Predictions, actual: Predictions, limit: int | None = SHOWN_ROWS
) -> list[dict[str, Any]]:
    """The rows whose predicted label or score differs beyond the tolerance, largest difference first."""
    if not np.array_equal(expected.row_key.astype(str), actual.row_key.astype(str)):
        raise TaxiwayError(
            "the retrained model predicted other rows than the run did",
            hint="the split's validation rows changed; this is a bug in taxiway, please report it",
        )
    if expected.proba is not None and actual.proba is not None:
        scores_a, scores_b = expected.proba, actual.proba
    else:
        scores_a = expected.y_pred.astype(float)[:, None]
        scores_b = actual.y_pred.astype(float)[:, None]
    close = np.isclose(scores_a, scores_b, rtol=PREDICTION_RTOL, atol=PREDICTION_ATOL).all(axis=1)
    labels = np.asarray(expected.y_pred != actual.y_pred, dtype=bool)
    gap = np.abs(scores_a - scores_b).max(axis=1)
    order = [int(i) for i in np.argsort(-gap, kind="stable") if labels[i] or not close[i]]
    return [
        {
            "row_key": str(expected.row_key[i]),
            "recorded": _plain(expected.y_pred[i]),
            "reproduced": _plain(actual.y_pred[i]),
            "recorded_scores": [float(v) for v in scores_a[i]],
            "reproduced_scores": [float(v) for v in scores_b[i]],
            "difference": float(gap[i]),
        }
        for i in order[:limit]
    ]


def environment_differences(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between the run's recorded environment and this one: Python, platform, packages.

    Example:
        >>> found = environment_differences({"python": "2.7.18", "packages": {"numpy": "1.0.0"}})
        >>> [(item["name"], item["recorded"]) for item in found if item["name"] in ("python", "numpy")]
        [('python', '2.7.18'), ('numpy', '1.0.0')]
    """
    packages = dict(recorded.get("packages") or {})
    now = environment(tuple(packages))
    found = [
        {"name": key, "recorded": recorded.get(key), "current": now.get(key)}
        for key in ("python", "implementation", "platform")
        if recorded.get(key) != now.get(key)
    ]
    current = now["packages"]
    for name in sorted(set(packages) | set(current)):
        if packages.get(name) != current.get(name):
            found.append({"name": name, "recorded": packages.get(name), "current": current.get(name)})
    return found


def _retrain(
    run: Run, code: RecordedCode, charter: Charter, frames: Any
) -> tuple[Predictions, dict[str, float]]:
    task, target = charter.problem.task, charter.problem.target
    seed = int(run.lineage.get("seed", charter.train.seed))
    params = run.lineage.get("model_params", charter.train.params)
    user = load_user_code(code.root, charter, default_candidate(task))
    specs = {spec.name: spec for spec in model_specs(task, seed, dict(params), user)}
    if run.name not in specs:
        raise TaxiwayError(
            f"run {run.id} is named '{run.name}', which the recorded code does not train",
            hint=f"`taxiway train` at that commit trains: {', '.join(specs)}",
        )
    spec = specs[run.name]
    estimator = spec.build()
    check_estimator(estimator, source=spec.source, task=task)
    seed_estimator(estimator, seed)
    features = feature_columns(frames.train.columns, charter)
    with threadpool_limits(charter.train.threads):
        estimator.fit(frames.train[features], frames.train[target])
        predictions = predict_rows(estimator, frames.valid[features], frames.valid[target], task)
    metrics = score_predictions(predictions)
    metrics["expected_cost"] = expected_cost(predictions, charter.error_costs()).expected_cost
    return predictions, metrics


def _charter_at(code: RecordedCode) -> Charter:
    path = code.root / CHARTER_FILE
    if not path.is_file():
        raise TaxiwayError(
            f"{CHARTER_FILE} is not in commit {code.commit}: the run's charter was never committed",
            hint=f"commit {CHARTER_FILE} and {PIPELINE_FILE}, train again, then reproduce that run",
        )
    return load_charter(path)


def _notes(run: Run, code: RecordedCode, verdict: Verdict) -> list[str]:
    notes = []
    if code.source == "working folder":
        notes.append(
            "the run recorded no git commit: it was retrained with the code in the working folder now"
        )
    if code.untracked:
        notes.append(f"untracked when the run trained, so not reproduced: {', '.join(code.untracked)}")
    if verdict == "not_deterministic":
        notes.append(
            "two retrainings from the same lineage disagree: training uses randomness that no seed "
            "controls (e.g. a random_state drawn at random, np.random without a seed)"
        )
    elif verdict == "differs":
        notes.append(
            "retraining is deterministic but gives another model than the run recorded: compare the "
            "environment differences and the code"
        )
    return notes


def _comparison(found: Comparison | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "matches": found.matches,
        "rows": found.rows,
        "rows_differing": found.rows_differing,
        "max_difference": found.max_difference,
        "examples": found.examples,
        "metrics_differing": found.metrics_differing,
    }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
