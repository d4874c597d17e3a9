"""Is a validation score plausible? Compared with the state of the art the charter states, with the baselines,
and with the held-out test split.

Scores are compared by their *error*, the distance to a perfect score (``1 - value`` for metrics that reach
1, the value itself for losses), because a gain of 0.02 means little at ROC AUC 0.70 and a lot at 0.97:

- **state of the art**: ``problem.state_of_the_art_score``, else the best figure the text of
  ``problem.state_of_the_art`` gives in the ranking metric's range (decimals such as 0.75 or percentages
  such as 75%; only for metrics between 0 and 1, and only when the text names no other metric).
- **held-out test**: the test split's score against validation's, with the bootstrap standard error of
  each (the two splits are independent rows).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from taxiway.charter import Charter
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import metric_interval

# Metrics whose perfect value is 1 (error = 1 - value); the rest are losses (error = value).
UP_TO_ONE = frozenset(
    {"accuracy", "balanced_accuracy", "roc_auc", "pr_auc", "f1", "precision", "recall", "r2"}
)
# Words that name a metric in a free-text statement of the state of the art.
_METRIC_WORDS: dict[str, tuple[str, ...]] = {
    "roc_auc": ("roc auc", "roc-auc", "auroc", "auc"),
    "pr_auc": ("pr auc", "pr-auc", "average precision", "auprc"),
    "accuracy": ("accuracy",),
    "balanced_accuracy": ("balanced accuracy",),
    "f1": ("f1",),
    "precision": ("precision",),
    "recall": ("recall",),
    "r2": ("r2", "r²", "r^2"),
    "rmse": ("rmse",),
    "mae": ("mae",),
    "log_loss": ("log loss", "logloss", "log-loss", "cross-entropy"),
}
_DECIMAL = re.compile(r"(?<![\d.])(0?\.\d+|1\.0+)(?![\d.])")
_PERCENT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%")

__all__ = ["UP_TO_ONE", "HeldOutGap", "StateOfTheArt", "error_of", "held_out_gap", "state_of_the_art"]


def error_of(metric: str, value: float) -> float:
    """The distance from ``value`` to a perfect score of ``metric``.

    Example:
        >>> round(error_of("roc_auc", 0.75), 2), error_of("rmse", 12.0)
        (0.25, 12.0)
    """
    return 1.0 - value if metric in UP_TO_ONE else value


@dataclass(frozen=True)
class StateOfTheArt:
    """The best score of the ranking metric reported elsewhere, and where taxiway read it."""

    value: float
    source: str  # "problem.state_of_the_art_score" or "problem.state_of_the_art 'ROC AUC 0.65-0.75'"


def state_of_the_art(charter: Charter, metric: str) -> tuple[StateOfTheArt | None, str]:
    """The state-of-the-art score in ``metric``, or None and why not.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {
        ...     "target": "y", "state_of_the_art": "ROC AUC 0.65-0.75 in published work (2019)"}})
        >>> found, _ = state_of_the_art(c, "roc_auc")
        >>> found.value, found.source
        (0.75, "problem.state_of_the_art 'ROC AUC 0.65-0.75 in published work (2019)'")
        >>> state_of_the_art(c, "accuracy")[1]
        'problem.state_of_the_art names another metric (roc_auc), not accuracy'
    """
    problem = charter.problem
    if problem.state_of_the_art_score is not None:
        return StateOfTheArt(problem.state_of_the_art_score, "problem.state_of_the_art_score"), ""
    text = problem.state_of_the_art
    if not text:
        return None, "the charter states no problem.state_of_the_art"
    if metric not in UP_TO_ONE:
        return None, (
            f"{metric} has no fixed range to read a figure from the text of problem.state_of_the_art: "
            "set problem.state_of_the_art_score"
        )
    lowered = text.lower()
    named = [m for m, words in _METRIC_WORDS.items() if any(_mentions(lowered, w) for w in words)]
    if named and metric not in named:
        return None, f"problem.state_of_the_art names another metric ({', '.join(named)}), not {metric}"
    figures = [float(x) for x in _DECIMAL.findall(lowered)]
    figures += [float(x) / 100 for x in _PERCENT.findall(lowered) if float(x) <= 100]
    figures = [x for x in figures if 0 < x <= 1]
    if not figures:
        return None, f"problem.state_of_the_art gives no {metric} figure between 0 and 1"
    return StateOfTheArt(max(figures), f"problem.state_of_the_art '{text}'"), ""


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None


@dataclass(frozen=True)
class HeldOutGap:
    """The held-out test split's score against validation's, with their bootstrap standard errors."""

    metric: str
    valid: float
    test: float
    valid_se: float
    test_se: float
    valid_rows: int
    test_rows: int

    @property
    def error_ratio(self) -> float:
        """Test error over validation error (1: alike; 2: twice the errors on test)."""
        valid, test = error_of(self.metric, self.valid), error_of(self.metric, self.test)
        if valid <= 0:
            return math.inf if test > 0 else 1.0
        return test / valid

    @property
    def z(self) -> float:
        """How many standard errors of the difference apart the two scores are."""
        spread = math.hypot(self.valid_se, self.test_se)
        return abs(self.test - self.valid) / spread if spread > 0 else math.inf


def held_out_gap(
    valid: Predictions,
    test: Predictions,
    metric: str,
    *,
    costs: ErrorCosts,
    threshold: float | None,
    resamples: int,
    seed: int,
) -> HeldOutGap | None:
    """Score validation and test with their bootstrap standard errors; None when either is not measurable."""
    if metric not in METRICS:
        return None
    found = [
        metric_interval(p, metric, costs=costs, threshold=threshold, resamples=resamples, seed=seed)
        for p in (valid, test)
    ]
    if found[0] is None or found[1] is None:
        return None
    return HeldOutGap(
        metric,
        found[0].estimate,
        found[1].estimate,
        found[0].std_error,
        found[1].std_error,
        len(valid.y_true),
        len(test.y_true),
    )
