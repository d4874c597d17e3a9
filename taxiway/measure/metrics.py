"""The registry of metrics a charter can rank models by.

Each metric is declared once, with the task it fits and its direction, so the charter, training,
the gates and the pages all agree on what "better" means.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Metric:
    """A named quality measure.

    Example:
        >>> METRICS["roc_auc"].greater_is_better
        True
    """

    name: str
    tasks: tuple[Task, ...]
    greater_is_better: bool
    description: str


_ALL: tuple[Metric, ...] = (
    Metric("accuracy", ("classification",), True, "share of rows predicted right"),
    Metric("balanced_accuracy", ("classification",), True, "mean recall over classes"),
    Metric("roc_auc", ("classification",), True, "area under the ROC curve"),
    Metric("pr_auc", ("classification",), True, "area under the precision-recall curve (average precision)"),
    Metric("log_loss", ("classification",), False, "cross-entropy of the predicted probabilities"),
    Metric("f1", ("classification",), True, "harmonic mean of precision and recall"),
    Metric("precision", ("classification",), True, "share of predicted positives that are positive"),
    Metric("recall", ("classification",), True, "share of positives found"),
    Metric("brier", ("classification",), False, "mean squared error of the predicted probability"),
    Metric("mae", ("regression",), False, "mean absolute error"),
    Metric("rmse", ("regression",), False, "root mean squared error"),
    Metric("r2", ("regression",), True, "coefficient of determination"),
    Metric("mape", ("regression",), False, "mean absolute percentage error"),
    Metric(
        "expected_cost",
        ("classification", "regression"),
        False,
        "mean cost of errors, from the charter's costs",
    ),
)

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def closest_metric(name: str) -> str | None:
    """Return the known metric name nearest to ``name``, for "did you mean" hints.

    Example:
        >>> closest_metric("roc-auc")
        'roc_auc'
    """
    normalised = name.strip().lower().replace("-", "_").replace(" ", "_")
    if normalised in METRICS:
        return normalised
    matches = difflib.get_close_matches(normalised, list(METRICS), n=1, cutoff=0.5)
    return matches[0] if matches else None


def metrics_for(task: Task) -> list[str]:
    """List the metric names that fit a task.

    Example:
        >>> metrics_for("regression")[:3]
        ['mae', 'rmse', 'r2']
    """
    return [m.name for m in _ALL if task in m.tasks]
