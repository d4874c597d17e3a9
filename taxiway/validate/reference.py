"""The models a candidate is measured against: the best baseline of its split, and the production model.

Both are scored on the candidate's own validation rows, in the same order, so every comparison (the
paired bootstrap, slice by slice) is on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from taxiway.errors import ArtifactCorruptError, NotFoundError
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import METRICS, Task
from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import predict_rows
from taxiway.registry import get_version, load_model_version
from taxiway.store import Store
from taxiway.train.runs import Run, get_run, list_runs
from taxiway.validate.compare import compare_predictions

PRODUCTION = "production"

__all__ = [
    "PRODUCTION",
    "BaselineComparison",
    "Reference",
    "baseline_reference",
    "best_baseline",
    "compare_with_baseline",
    "decision_threshold",
    "production_reference",
]


@dataclass(frozen=True)
class BaselineComparison:
    """The candidate against the best baseline on the same validation rows: a paired bootstrap.

    ``gain`` is how much better the candidate is (positive: better) with its interval at ``level``.
    """

    run_id: str
    name: str
    candidate_value: float
    baseline_value: float
    gain: float
    low: float
    high: float
    p_value: float
    level: float
    resamples: int
    rows: int


@dataclass(frozen=True)
class Reference:
    """Another model's predictions of the candidate's validation rows."""

    kind: Literal["production", "baseline"]
    run_id: str
    label: str  # "v3 (production)" or "baseline linear"
    predictions: Predictions
    threshold: float | None


def decision_threshold(run: Run) -> float | None:
    """The decision threshold a binary classifier run ships with (chosen on validation by training).

    Example:
        >>> import datetime as dt
        >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        >>> run = Run("r-1", "c", "candidate", "finished", None, None, None, {"decision_threshold": 0.3},
        ...           {}, {}, {}, {}, None, None, None, t, t)
        >>> decision_threshold(run)
        0.3
    """
    value = run.params.get("decision_threshold")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def best_baseline(store: Store, run: Run, metric: str) -> Run | None:
    """The best finished baseline trained on the same split as ``run`` (by ``metric`` on validation)."""
    candidates = [
        other
        for other in list_runs(store, kind="baseline", status="finished")
        if other.split_id == run.split_id and other.id != run.id and metric in other.metrics
    ]
    if not candidates:
        return None
    direction = 1 if METRICS[metric].greater_is_better else -1
    return max(candidates, key=lambda other: direction * float(other.metrics[metric]))


def baseline_reference(store: Store, baseline: Run, rows: Any) -> Reference | None:
    """A baseline's stored validation predictions, when they are of exactly these rows in this order."""
    if baseline.predictions_artifact is None:
        return None
    stored = Predictions.from_parquet(store.artifacts.get_bytes(baseline.predictions_artifact))
    if not np.array_equal(np.asarray(stored.row_key, dtype=str), np.asarray(rows, dtype=str)):
        return None
    return Reference(
        "baseline", baseline.id, f"baseline {baseline.name}", stored, decision_threshold(baseline)
    )


def production_reference(
    store: Store, x: pd.DataFrame, y: pd.Series, task: Task, *, root: Path | None, exclude: str
) -> tuple[Reference | None, str | None]:
    """The production model's predictions of ``x``; (None, why) when it has none or cannot predict them.

    ``exclude`` is the run under validation: it is not compared with itself.
    """
    try:
        version = get_version(store, PRODUCTION)
    except NotFoundError:
        return None, "no model version is aliased 'production' yet"
    if version.run_id == exclude:
        return None, f"{version.name} (production) is this run"
    try:
        model = load_model_version(store, PRODUCTION, root=root)
        predictions = predict_rows(model, x, y, task)
    except ArtifactCorruptError:
        raise  # a changed production artifact is news, not a reason to compare with something else
    except Exception as error:  # noqa: BLE001 - any other failure means: no production comparison, said why
        return (
            None,
            f"{version.name} (production) could not score these rows: {type(error).__name__}: {error}",
        )
    threshold = decision_threshold(get_run(store, version.run_id))
    return Reference(
        "production", version.run_id, f"{version.name} (production)", predictions, threshold
    ), None


def compare_with_baseline(
    store: Store,
    run: Run,
    valid: Predictions,
    metric: str,
    *,
    costs: ErrorCosts,
    resamples: int,
    significance: float,
    seed: int,
    notes: list[str],
) -> tuple[BaselineComparison | None, Reference | None]:
    """The paired bootstrap of ``run``'s validation predictions against the best baseline of its split.

    The interval is at level ``1 - significance``; what could not be compared is added to ``notes``.
    """
    found = best_baseline(store, run, metric)
    base = baseline_reference(store, found, valid.row_key) if found is not None else None
    if found is None or base is None:
        notes.append("no baseline with predictions of these validation rows: train on this split first")
        return None, None
    comparison = compare_predictions(
        [found, run],
        {found.id: base.predictions, run.id: valid},
        [metric],
        costs=costs,
        thresholds={found.id: base.threshold, run.id: decision_threshold(run)},
        resamples=resamples,
        level=1 - significance,
        seed=seed,
    ).of(metric, run.id)
    if comparison is None:
        notes.append(f"{metric} could not be compared with baseline {found.name} on these rows")
        return None, base
    estimate, low, high = comparison.gain
    result = BaselineComparison(
        run_id=found.id,
        name=found.name,
        candidate_value=comparison.other_value,
        baseline_value=comparison.reference_value,
        gain=estimate,
        low=low,
        high=high,
        p_value=comparison.difference.p_value,
        level=comparison.difference.level,
        resamples=comparison.difference.resamples,
        rows=len(valid.y_true),
    )
    return result, base
