"""Metrics on weighted rows: each standard metric as a function of how often every row is counted.

A bootstrap resample that draws row ``i`` ``c_i`` times is the weight vector ``c``, so a block of resamples
is a (resamples × rows) matrix of counts, and a metric of a whole block takes a few matrix operations
instead of one sklearn call per resample:

- most metrics are functions of weighted sums of per-row columns (errors, losses, true/false positives):
  one matrix product gives the sums of every column of every run for the whole block (:class:`SumMetric`);
- binary ROC AUC and average precision are computed from cumulative sums of the weights in each run's
  score order, ties counting half as in sklearn (:class:`RankMetric`).

With every weight 1 each metric equals what :func:`taxiway.evaluate.scores.score_predictions` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from taxiway.evaluate.cost import ErrorCosts, cost_curve
from taxiway.evaluate.predictions import Predictions

Floats = NDArray[np.float64]
Counts = NDArray[Any]  # integer weights per row: (resamples, rows)
Finish = Callable[[Floats, Floats], Floats]  # (weighted sums (B, k), total weight (B,)) -> values (B,)
_PROBA_FLOOR = 1e-15  # as taxiway.evaluate.scores clips probabilities before the log loss
_MAPE_FLOOR = float(np.finfo(np.float64).eps)  # sklearn's floor on |y| in MAPE
K = TypeVar("K", bound=Hashable)

__all__ = [
    "MetricSet",
    "RankMetric",
    "RankedScores",
    "SumMetric",
    "WeightedMetric",
    "evaluate_block",
    "row_metrics",
]


@dataclass(frozen=True)
class SumMetric:
    """A metric computed from the weighted sums of per-row ``columns`` by ``finish``.

    Example:
        >>> accuracy = SumMetric(np.array([[1.0], [0.0], [1.0]]), lambda sums, total: sums[:, 0] / total)
        >>> evaluate_block({"accuracy": accuracy}, np.array([[1, 1, 1], [0, 3, 0]]))["accuracy"].tolist()
        [0.6666666666666666, 0.0]
    """

    columns: Floats
    finish: Finish


@dataclass(frozen=True, eq=False)
class RankedScores:
    """One binary classifier's positive-class scores, sorted once, with the groups of tied scores.

    Only groups holding a positive row add to ROC AUC and average precision, so only they are kept:
    ``before`` is the last position below each such group (-1: none), ``end`` its last position.
    ``evaluate`` gives both metrics for every row of a counts matrix.

    Example:
        >>> ranked = RankedScores.of(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
        >>> auc, ap = ranked.evaluate(np.ones((1, 4), dtype=np.int64))
        >>> float(auc[0]), round(float(ap[0]), 4)
        (0.75, 0.8333)
    """

    order: NDArray[np.intp]
    is_positive: NDArray[np.uint8]  # in score order
    before: NDArray[np.intp]
    end: NDArray[np.intp]
    has_ties: bool

    @classmethod
    def of(cls, score: Floats, is_positive: NDArray[np.bool_]) -> RankedScores:
        order = np.argsort(score, kind="stable")
        ordered, positive = score[order], is_positive[order]
        is_new = np.concatenate([[True], ordered[1:] != ordered[:-1]])
        group = np.cumsum(is_new) - 1
        starts = np.flatnonzero(is_new)
        ends = np.concatenate([starts[1:] - 1, [len(score) - 1]])
        kept = np.unique(group[positive])
        return cls(order, positive.astype(np.uint8), starts[kept] - 1, ends[kept], len(starts) < len(score))

    def evaluate(self, counts: Counts, *, exact: bool = True) -> tuple[Floats, Floats]:
        """ROC AUC and average precision of each row of ``counts`` (NaN where a class has no weight).

        In ascending score order, ROC AUC counts each positive against the negatives below its group plus
        half those tied with it; average precision sums each group's positives times the precision at its
        threshold (over the rows scored at least as high). Pair counts are exact integers; ``exact=False``
        computes the precisions in float32 (relative error ~1e-7, far below a bootstrap's own noise).
        """
        real = np.float64 if exact else np.float32
        whole = np.int64 if exact else np.int32
        ordered: Counts = np.take(counts, self.order, axis=1)
        cum_all: Counts = np.cumsum(ordered, axis=1, dtype=whole)
        total_all = cum_all[:, -1:]
        if not self.has_ties:  # each positive row is its own group: work on the positive columns only
            group_pos: Counts = ordered[:, self.end]
            end_pos: Counts = np.cumsum(group_pos, axis=1, dtype=whole)
            negatives_below: Counts = cum_all[:, self.end]
            negatives_below -= end_pos  # in place: fewer passes over a (resamples × positives) array
            pairs: Floats = np.einsum("ij,ij->i", group_pos, negatives_below, dtype=np.float64)
            total_pos: Counts = end_pos[:, -1:]
            above_pos: NDArray[Any] = (total_pos - end_pos).astype(real)
            above_pos += group_pos
            above_neg: NDArray[Any] = ((total_all - total_pos) - negatives_below).astype(real)
        else:
            cum_pos: Counts = np.cumsum(ordered * self.is_positive, axis=1, dtype=whole)
            below_all, below_pos = _at(cum_all, self.before), _at(cum_pos, self.before)
            end_all, end_pos = cum_all[:, self.end], cum_pos[:, self.end]
            group_pos = end_pos - below_pos
            # The negatives below a group, plus half of those tied with it (integers until the halving).
            twice: Counts = (below_all - below_pos) + (end_all - end_pos)
            pairs = np.einsum("ij,ij->i", group_pos, twice, dtype=np.float64) / 2
            total_pos = cum_pos[:, -1:]
            above_pos = (total_pos - below_pos).astype(real)
            above_neg = ((total_all - total_pos) - (below_all - below_pos)).astype(real)
        scored: NDArray[Any] = above_pos + above_neg
        np.maximum(scored, 1, out=scored)  # 1 where nothing is scored this high: that group's weight is 0
        above_pos /= scored  # now the precision at each group's threshold
        found = np.einsum("ij,ij->i", group_pos.astype(real), above_pos, dtype=real).astype(np.float64)
        positive = total_pos[:, 0].astype(np.float64)
        negative = total_all[:, 0].astype(np.float64) - positive
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = pairs / (positive * negative)
            ap = found / positive
        return np.where((positive > 0) & (negative > 0), auc, np.nan), np.where(positive > 0, ap, np.nan)


def _at(cumulative: Counts, positions: NDArray[np.intp]) -> Counts:
    """Columns of a cumulative sum at ``positions``, 0 at position -1 (before the first row)."""
    taken = cumulative[:, np.maximum(positions, 0)]
    taken[:, positions < 0] = 0
    return taken


@dataclass(frozen=True)
class RankMetric:
    """Binary ROC AUC or average precision (``pr_auc``) of one run's :class:`RankedScores`."""

    scores: RankedScores
    which: Literal["roc_auc", "pr_auc"]


WeightedMetric = SumMetric | RankMetric


class MetricSet(Generic[K]):
    """Metrics evaluated together on blocks of counts: their per-row columns joined once, up front.

    Example:
        >>> mae = SumMetric(np.array([[1.0], [3.0]]), lambda sums, total: sums[:, 0] / total)
        >>> MetricSet({"mae": mae})(np.array([[2, 0], [1, 1]]))["mae"].tolist()
        [1.0, 2.0]
    """

    def __init__(self, metrics: Mapping[K, WeightedMetric]) -> None:
        self._metrics = dict(metrics)
        self._sums = [(key, metric) for key, metric in metrics.items() if isinstance(metric, SumMetric)]
        rows = [metric.columns for _, metric in self._sums]
        self._columns = np.concatenate(rows, axis=1) if rows else np.empty((0, 0))
        self._columns32 = self._columns.astype(np.float32)

    @property
    def keys(self) -> list[K]:
        return list(self._metrics)

    def __call__(self, counts: Counts, *, exact: bool = True) -> dict[K, Floats]:
        """Every metric for every row of ``counts`` (resamples × rows).

        ``exact=False`` sums in float32 (relative error ~1e-6): for bootstrap resamples, whose spread
        is far larger, at half the memory traffic.
        """
        out: dict[K, Floats] = {}
        if self._sums:
            weights: NDArray[Any] = counts.astype(np.float64 if exact else np.float32)
            total = weights.sum(axis=1, dtype=np.float64)
            summed = (weights @ (self._columns if exact else self._columns32)).astype(np.float64)
            start = 0
            for key, metric in self._sums:
                width = metric.columns.shape[1]
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[key] = metric.finish(summed[:, start : start + width], total)
                start += width
        small = counts.astype(np.uint8) if counts.size and int(counts.max()) < 256 else counts
        ranked: dict[int, tuple[Floats, Floats]] = {}
        for key, each in self._metrics.items():
            if isinstance(each, RankMetric):
                pair = ranked.get(id(each.scores))
                if pair is None:
                    pair = ranked[id(each.scores)] = each.scores.evaluate(small, exact=exact)
                out[key] = pair[0] if each.which == "roc_auc" else pair[1]
        return {key: out[key] for key in self._metrics}


def evaluate_block(metrics: Mapping[str, WeightedMetric], counts: Counts) -> dict[str, Floats]:
    """Every metric for every row of ``counts`` (resamples × rows), exactly; see :class:`MetricSet`.

    Example:
        >>> mae = SumMetric(np.array([[1.0], [3.0]]), lambda sums, total: sums[:, 0] / total)
        >>> evaluate_block({"mae": mae}, np.array([[2, 0], [1, 1]]))["mae"].tolist()
        [1.0, 2.0]
    """
    return MetricSet(metrics)(counts)


def row_metrics(
    predictions: Predictions, *, costs: ErrorCosts | None = None, threshold: float | None = None
) -> dict[str, WeightedMetric]:
    """The metrics of ``predictions`` that can be computed on weighted rows, by name.

    The names and definitions are those of :func:`taxiway.evaluate.scores.score_predictions`, plus
    ``expected_cost`` (for a binary classifier at ``threshold``, default the cost-optimal one on these rows).
    Multi-class ROC AUC is left out.

    Example:
        >>> y = np.array([1.0, 2.0, 4.0])
        >>> p = Predictions(row_key=np.arange(3), y_true=y, y_pred=np.array([1.0, 3.0, 2.0]))
        >>> sorted(row_metrics(p))
        ['expected_cost', 'mae', 'mape', 'r2', 'rmse']
    """
    chosen = costs or ErrorCosts()
    if predictions.task == "regression":
        return _regression(predictions.y_true.astype(float), predictions.y_pred.astype(float), chosen)
    return _classification(predictions, chosen, threshold)


def _mean(column: Floats, finish: Callable[[Floats], Floats] | None = None) -> SumMetric:
    def mean(sums: Floats, total: Floats) -> Floats:
        value = sums[:, 0] / total
        return value if finish is None else finish(value)

    return SumMetric(column[:, None].astype(np.float64), mean)


def _regression(y: Floats, pred: Floats, costs: ErrorCosts) -> dict[str, WeightedMetric]:
    error = pred - y
    centred = y - y.mean()  # r2 from centred sums stays accurate when y is far from 0

    def r2(sums: Floats, total: Floats) -> Floats:
        return 1 - sums[:, 0] / (sums[:, 2] - sums[:, 1] ** 2 / total)

    metrics: dict[str, WeightedMetric] = {
        "mae": _mean(np.abs(error)),
        "rmse": _mean(error**2, np.sqrt),
        "r2": SumMetric(np.column_stack([error**2, centred, centred**2]), r2),
    }
    if not np.any(y == 0):
        metrics["mape"] = _mean(np.abs(error) / np.maximum(np.abs(y), _MAPE_FLOOR))
    cost = np.where(error > 0, error * costs.over_prediction, -error * costs.under_prediction)
    metrics["expected_cost"] = _mean(cost)
    return metrics


def _classification(p: Predictions, costs: ErrorCosts, threshold: float | None) -> dict[str, WeightedMetric]:
    assert p.classes is not None and p.proba is not None  # a classification's Predictions always has them
    y_true, y_pred, classes = p.y_true, p.y_pred, p.classes
    metrics: dict[str, WeightedMetric] = {"accuracy": _mean((y_true == y_pred).astype(float))}
    present = np.unique(y_true)
    metrics["balanced_accuracy"] = _per_class(y_true, y_pred, present, _balanced)
    if p.is_binary:
        positive = y_true == classes[1]
        predicted = y_pred == classes[1]
        for name, finish in (("f1", _f1), ("precision", _precision), ("recall", _recall)):
            metrics[name] = _counts_metric(positive, predicted, finish)
    else:
        labels = np.unique(np.concatenate([present, np.unique(y_pred)]))
        for name, finish in (("f1", _f1), ("precision", _precision), ("recall", _recall)):
            metrics[name] = _per_class(y_true, y_pred, labels, _macro(finish))
    if len(present) > 1:
        if p.is_binary:
            score = p.positive_score()
            positive = y_true == classes[1]
            ranked = RankedScores.of(score, positive)
            metrics["roc_auc"] = RankMetric(ranked, "roc_auc")
            metrics["pr_auc"] = RankMetric(ranked, "pr_auc")
            metrics["brier"] = _mean((score - positive) ** 2)
        index = {label: i for i, label in enumerate(classes.tolist())}
        if all(label in index for label in present.tolist()):
            true_column = np.array([index[label] for label in y_true.tolist()])
            chance = np.clip(p.proba, _PROBA_FLOOR, 1)[np.arange(len(y_true)), true_column]
            metrics["log_loss"] = _mean(-np.log(chance))
    metrics["expected_cost"] = _mean(_row_costs(p, costs, threshold))
    return metrics


def _row_costs(p: Predictions, costs: ErrorCosts, threshold: float | None) -> Floats:
    assert p.classes is not None
    if p.is_binary and p.proba is not None:
        score = p.positive_score()
        positive = p.y_true == p.classes[1]
        if threshold is None:
            thresholds, cost = cost_curve(score, positive, costs)
            threshold = float(thresholds[int(np.argmin(cost))])
        predicted = score >= threshold
        cost = np.where(predicted & ~positive, costs.false_positive, 0.0)
        return np.asarray(cost + np.where(~predicted & positive, costs.false_negative, 0.0), dtype=np.float64)
    wrong = (p.y_pred != p.y_true).astype(np.float64)
    return np.asarray(wrong * (costs.false_positive + costs.false_negative) / 2, dtype=np.float64)


def _counts_metric(positive: NDArray[np.bool_], predicted: NDArray[np.bool_], finish: Finish) -> SumMetric:
    columns = np.column_stack([positive & predicted, ~positive & predicted, positive & ~predicted])
    return SumMetric(columns.astype(np.float64), finish)


def _precision(sums: Floats, total: Floats) -> Floats:
    tp, fp = sums[:, 0], sums[:, 1]
    return np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)


def _recall(sums: Floats, total: Floats) -> Floats:
    tp, fn = sums[:, 0], sums[:, 2]
    return np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)


def _f1(sums: Floats, total: Floats) -> Floats:
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


@dataclass(frozen=True)
class _PerClass:
    """Columns (tp, fp, fn) for each label, side by side; ``finish`` sees them as (B, labels, 3)."""

    labels: int
    finish: Callable[[NDArray[np.float64]], Floats] = field(repr=False)

    def __call__(self, sums: Floats, total: Floats) -> Floats:
        return self.finish(sums.reshape(len(sums), self.labels, 3))


def _per_class(
    y_true: NDArray[np.generic],
    y_pred: NDArray[np.generic],
    labels: NDArray[np.generic],
    finish: Callable[[NDArray[np.float64]], Floats],
) -> SumMetric:
    columns = []
    for label in labels:
        positive, predicted = y_true == label, y_pred == label
        columns += [positive & predicted, ~positive & predicted, positive & ~predicted]
    return SumMetric(np.column_stack(columns).astype(np.float64), _PerClass(len(labels), finish))


def _balanced(per_class: NDArray[np.float64]) -> Floats:
    tp, fn = per_class[..., 0], per_class[..., 2]
    support = tp + fn
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    return np.asarray(recall.sum(axis=1) / (support > 0).sum(axis=1), dtype=np.float64)


def _macro(finish: Finish) -> Callable[[NDArray[np.float64]], Floats]:
    def macro(per_class: NDArray[np.float64]) -> Floats:
        resamples, labels, _ = per_class.shape
        flat = per_class.reshape(resamples * labels, 3)
        values = finish(flat, np.ones(len(flat))).reshape(resamples, labels)
        return np.asarray(values.mean(axis=1), dtype=np.float64)

    return macro
