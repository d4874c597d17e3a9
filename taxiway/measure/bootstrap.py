"""Bootstrap: how much a metric moves when the evaluation rows are resampled, for one model or two compared.

Resamples are drawn as rows of an index matrix (``n`` resamples × the number of rows), in blocks so memory
stays bounded. A metric that is a mean of per-row losses (a :class:`MeanMetric`) and binary ROC AUC
(:class:`BinaryRocAuc`, from ranks) are evaluated for a whole block at once with numpy; any other metric is
called once per resample. A resample on which the metric is
undefined (ROC AUC of a resample holding one class) is left out, and :attr:`Interval.resamples` says how
many counted.

Intervals are percentile intervals: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
resampled values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata  # type: ignore[import-untyped, unused-ignore]

MetricFn = Callable[[Any, Any], float]  # (y_true, y_score) -> value
DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
# Index-matrix block: 4M int64 indices = 32 MB; bounds memory for a large dev set times many resamples.
_BLOCK_INDICES = 4_000_000

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "BinaryRocAuc",
    "Interval",
    "MeanMetric",
    "MetricFn",
    "PairedDifference",
    "bootstrap_ci",
    "bootstrap_values",
    "paired_bootstrap_diff",
]


@dataclass(frozen=True)
class MeanMetric:
    """A metric that is ``finish(mean(loss(y_true, y_score)))``: bootstrapped in whole blocks with numpy.

    Example:
        >>> rmse = MeanMetric(lambda y, s: (y - s) ** 2, finish=np.sqrt)
        >>> float(rmse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
        1.4142135623730951
    """

    loss: Callable[[NDArray[Any], NDArray[Any]], NDArray[np.float64]]
    finish: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None

    def __call__(self, y_true: Any, y_score: Any) -> float:
        return float(self._finish(np.asarray(np.mean(self.loss(np.asarray(y_true), np.asarray(y_score))))))

    def _finish(self, means: NDArray[np.float64]) -> NDArray[np.float64]:
        return means if self.finish is None else np.asarray(self.finish(means), dtype=np.float64)


@dataclass(frozen=True)
class BinaryRocAuc:
    """ROC AUC of binary labels (positive: 1 or True) from scores, for many resamples at once via ranks.

    Equal to ``sklearn.metrics.roc_auc_score`` (ties count half); NaN when a resample holds one class.

    Example:
        >>> auc = BinaryRocAuc()
        >>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """

    def __call__(self, y_true: Any, y_score: Any) -> float:
        return float(self.batch(np.asarray(y_true)[None, :], np.asarray(y_score)[None, :])[0])

    def batch(self, y_true: NDArray[Any], y_score: NDArray[Any]) -> NDArray[np.float64]:
        """One AUC per row of ``(resamples, rows)`` matrices of labels and scores."""
        positive = y_true.astype(bool)
        ranks = rankdata(y_score, axis=1)
        n_pos = positive.sum(axis=1)
        n_neg = positive.shape[1] - n_pos
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


@dataclass(frozen=True)
class Interval:
    """A metric's value on all rows and its bootstrap percentile interval.

    ``std_error`` is the standard deviation of the resampled values; ``resamples`` counts the resamples on
    which the metric was defined.
    """

    estimate: float
    low: float
    high: float
    std_error: float
    level: float
    resamples: int


@dataclass(frozen=True)
class PairedDifference(Interval):
    """``metric(a) - metric(b)`` on the same rows, its interval, and a two-sided bootstrap p-value for 0."""

    p_value: float


def bootstrap_values(
    metric_fn: MetricFn, y_true: ArrayLike, *scores: ArrayLike, n: int = DEFAULT_RESAMPLES, seed: int = 0
) -> NDArray[np.float64]:
    """The metric of each score set on ``n`` shared resamples: an ``(n, len(scores))`` array (NaN: undefined).

    Every score set is evaluated on the same resampled rows, which is what makes a comparison paired.

    Example:
        >>> y = np.array([0, 1, 0, 1, 1]); s = np.array([0.1, 0.9, 0.2, 0.7, 0.4])
        >>> accuracy = MeanMetric(lambda t, p: (t == (p > 0.5)).astype(float))
        >>> bootstrap_values(accuracy, y, s, n=3, seed=0).shape
        (3, 1)
    """
    truth = np.asarray(y_true)
    arrays = [np.asarray(score) for score in scores]
    rows = _check_rows(truth, arrays, n)
    out = np.full((n, len(arrays)), np.nan)
    losses = (
        [np.asarray(metric_fn.loss(truth, score), dtype=np.float64) for score in arrays]
        if isinstance(metric_fn, MeanMetric)
        else None
    )
    start = 0
    for block in _index_blocks(rows, n, np.random.default_rng(seed)):
        stop = start + len(block)
        for column, score in enumerate(arrays):
            if losses is not None and isinstance(metric_fn, MeanMetric):
                out[start:stop, column] = metric_fn._finish(losses[column][block].mean(axis=1))
            elif isinstance(metric_fn, BinaryRocAuc):
                out[start:stop, column] = metric_fn.batch(truth[block], score[block])
            else:
                with warnings.catch_warnings():
                    # sklearn warns and returns NaN where a metric is undefined: NaN is the answer we keep.
                    warnings.simplefilter("ignore")
                    out[start:stop, column] = [
                        _safe(metric_fn, truth[index], score[index]) for index in block
                    ]
        start = stop
    return out


def bootstrap_ci(
    metric_fn: MetricFn,
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    n: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """A metric's value and its bootstrap percentile interval.

    Example:
        >>> from sklearn.metrics import roc_auc_score
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 400); s = y + rng.normal(0, 1, 400)
        >>> ci = bootstrap_ci(roc_auc_score, y, s, n=200, seed=0)
        >>> ci.low < ci.estimate < ci.high, ci.resamples
        (True, 200)

    Raises:
        ValueError: empty or mismatched inputs, ``n < 2``, ``level`` outside (0, 1), or a metric undefined
            on all rows or on every resample.
    """
    _check_level(level)
    values = bootstrap_values(metric_fn, y_true, y_score, n=n, seed=seed)[:, 0]
    return _interval(_on_all_rows(metric_fn, y_true, y_score), values, level)


def paired_bootstrap_diff(
    metric_fn: MetricFn,
    y_true: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    *,
    n: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> PairedDifference:
    """How much better model A's metric is than model B's on the same rows, with an interval and p-value.

    Both models are scored on the same resamples, so row difficulty cancels out and the interval is far
    narrower than two separate intervals would suggest. The p-value is two-sided: twice the share of
    resampled differences on the far side of zero (at most 1).

    Example:
        >>> from sklearn.metrics import roc_auc_score
        >>> rng = np.random.default_rng(1)
        >>> y = rng.integers(0, 2, 500); noise = rng.normal(0, 1, 500)
        >>> diff = paired_bootstrap_diff(roc_auc_score, y, y + noise, y + 3 * noise, n=300, seed=0)
        >>> diff.estimate > 0, diff.low > 0, diff.p_value < 0.05
        (True, True, True)
    """
    _check_level(level)
    values = bootstrap_values(metric_fn, y_true, score_a, score_b, n=n, seed=seed)
    differences = values[:, 0] - values[:, 1]
    truth = np.asarray(y_true)
    estimate = _on_all_rows(metric_fn, truth, score_a) - _on_all_rows(metric_fn, truth, score_b)
    interval = _interval(estimate, differences, level)
    kept = differences[~np.isnan(differences)]
    tail = min(float(np.mean(kept <= 0)), float(np.mean(kept >= 0)))
    return PairedDifference(**vars(interval), p_value=float(min(1.0, 2 * tail)))


def _index_blocks(rows: int, n: int, rng: np.random.Generator) -> Iterator[NDArray[np.intp]]:
    per_block = max(1, _BLOCK_INDICES // rows)
    for start in range(0, n, per_block):
        yield rng.integers(0, rows, size=(min(per_block, n - start), rows))


def _on_all_rows(metric_fn: MetricFn, y_true: ArrayLike, y_score: ArrayLike) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined is reported below, as an error
        value = _safe(metric_fn, np.asarray(y_true), np.asarray(y_score))
    if math.isnan(value):
        raise ValueError("the metric is undefined on these rows (e.g. a single class)")
    return value


def _safe(metric_fn: MetricFn, y_true: Any, y_score: Any) -> float:
    try:
        return float(metric_fn(y_true, y_score))
    except ValueError:  # e.g. a metric that refuses a resample holding a single class
        return math.nan


def _interval(estimate: float, values: NDArray[np.float64], level: float) -> Interval:
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        raise ValueError("the metric is undefined on every bootstrap resample (e.g. a single class)")
    low, high = np.quantile(kept, [(1 - level) / 2, (1 + level) / 2])
    std_error = float(np.std(kept, ddof=1)) if kept.size > 1 else 0.0
    return Interval(estimate, float(low), float(high), std_error, level, int(kept.size))


def _check_rows(truth: NDArray[Any], arrays: list[NDArray[Any]], n: int) -> int:
    rows = len(truth)
    if rows == 0:
        raise ValueError("cannot bootstrap a metric on zero rows")
    if any(len(score) != rows for score in arrays):
        raise ValueError(f"scores must have one row per label ({rows} rows)")
    if n < 2:
        raise ValueError(f"n must be at least 2 resamples, got {n}")
    return rows


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")
