"""Metrics on weighted rows: each standard metric as a function of how often every row is counted.

A bootstrap resample that draws row ``i`` ``c_i`` times is the weight vector ``c``, so a block of resamples
is a (resamples × rows) matrix of counts, and a metric of a whole block takes a few matrix operations
instead of one sklearn call per resample:

- most metrics are functions of weighted sums of per-row columns (errors, losses, true/false positives):
  one matrix product gives the sums of every column of every run for the whole block (:class:`SumMetric`);
- binary ROC AUC and average precision are computed from cumulative sums of the weights in each run's
  score order, ties counting half as in sklearn (:class:`RankMetric`).

With every weight 1 each metric equals what :func:`taxiway.measure.scores.score_predictions` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from taxiway.measure.cost import ErrorCosts, cost_curve
from taxiway.measure.predictions import Predictions

Floats = NDArray[np.float64]
Counts = NDArray[Any]  # integer weights per row: (resamples, rows)
Finish = Callable[[Floats, Floats], Floats]  # (weighted sums (B, k), total weight (B,)) -> values (B,)
_PROBA_FLOOR = 1e-15  # as taxiway.measure.scores clips probabilities before the log loss
_MAPE_FLOOR = float(np.finfo(np.float64).eps)  # sklearn's floor on |y| in MAPE
# Rows of counts ranked at a time: 500,000 cells keep a chunk's uint8 weights and int32 cumulative sums
# (~2.5 MB) in cache.
_CHUNK_CELLS = 500_000
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

    Rows are kept in descending score order, positives and negatives apart: ``positive_rows`` and
    ``negative_rows`` index the scored rows. Only groups of tied scores that hold a positive add to ROC AUC
    and average precision; for each, in descending order, ``last`` is the index in ``positive_rows`` of its
    last positive, and ``upto`` and ``above`` count the negatives scored at least as high and strictly
    higher. ``evaluate`` gives both metrics for every row of a counts matrix.

    Example:
        >>> ranked = RankedScores.of(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
        >>> auc, ap = ranked.evaluate(np.ones((1, 4), dtype=np.int64))
        >>> float(auc[0]), round(float(ap[0]), 4)
        (0.75, 0.8333)
    """

    positive_rows: NDArray[np.intp]
    negative_rows: NDArray[np.intp]
    last: NDArray[np.intp]
    upto: NDArray[np.intp]
    above: NDArray[np.intp]
    single: bool  # no two positives tie: each group's positive weight is that of one positive
    untied: bool  # no negative ties with a positive: ``upto`` equals ``above``

    @classmethod
    def of(cls, score: Floats, is_positive: NDArray[np.bool_]) -> RankedScores:
        order = np.argsort(score, kind="stable")[::-1]  # descending; NaN, sorted last, counts as highest
        ordered, positive = score[order], is_positive[order]
        group = np.cumsum(np.concatenate([[True], ordered[1:] != ordered[:-1]])) - 1
        held, negative_group = group[positive], group[~positive]
        last = np.flatnonzero(np.concatenate([held[1:] != held[:-1], [True]])) if len(held) else held
        upto = np.searchsorted(negative_group, held[last], side="right")
        above = np.searchsorted(negative_group, held[last], side="left")
        single, untied = len(last) == len(held), bool(np.array_equal(upto, above))
        return cls(order[positive], order[~positive], last, upto, above, single, untied)

    def evaluate(self, counts: Counts, *, exact: bool = True) -> tuple[Floats, Floats]:
        """ROC AUC and average precision of each row of ``counts`` (NaN where a class has no weight).

        ROC AUC is the share of (positive, negative) pairs ranked right, ties counting half: all pairs but
        those whose negative is scored higher than the positive's group, and half those tied with it.
        Average precision sums each group's positive weight times the precision at its threshold (over
        the rows scored at least as high), divided by the total positive weight. Pair counts are exact
        integers; ``exact=False`` computes the precisions in float32 (relative error ~1e-7, far below a
        bootstrap's own noise).

        In descending score order, cumulative sums are directly what each group needs: the positive and
        the negative weight scored at least as high. Rows are taken a few at a time, so that a chunk's
        cumulative sums stay in the CPU's cache through the dozen passes over them (measured on 50,000
        rows: chunks of 10 rows took 30% less time than chunks of 80).
        """
        auc, ap = np.full(len(counts), np.nan), np.full(len(counts), np.nan)
        if len(self.positive_rows) == 0:
            return auc, ap
        step = max(1, _CHUNK_CELLS // counts.shape[1])
        for first in range(0, len(counts), step):
            chunk = slice(first, first + step)
            auc[chunk], ap[chunk] = self._evaluate(counts[chunk], exact)
        return auc, ap

    def _evaluate(self, counts: Counts, exact: bool) -> tuple[Floats, Floats]:
        # Cumulative weights are integers, exact in int32 while they cannot overflow (counts below 256).
        whole = np.int32 if counts.dtype.itemsize == 1 and counts.shape[1] < 2**31 // 255 else np.int64
        weight: Counts = np.take(counts, self.positive_rows, axis=1)
        cum_pos: Counts = np.cumsum(weight, axis=1, dtype=whole)  # positive weight at or above each positive
        cum_neg: Counts = np.zeros((len(counts), len(self.negative_rows) + 1), dtype=whole)
        np.cumsum(np.take(counts, self.negative_rows, axis=1), axis=1, out=cum_neg[:, 1:])  # of the first j
        positive = cum_pos[:, -1].astype(np.float64)
        negative = cum_neg[:, -1].astype(np.float64)
        if self.single:  # each group holds one positive
            pos_upto, group = cum_pos, weight
        else:
            pos_upto = np.take(cum_pos, self.last, axis=1)
            group = np.diff(pos_upto, axis=1, prepend=0)
        neg_upto: Counts = np.take(cum_neg, self.upto, axis=1)
        if self.untied:
            wrong = np.einsum("ij,ij->i", group, neg_upto, dtype=np.float64)
        else:
            twice: Counts = np.take(cum_neg, self.above, axis=1)
            twice += neg_upto
            wrong = np.einsum("ij,ij->i", group, twice, dtype=np.float64) / 2
        scored = np.add(neg_upto, pos_upto, out=neg_upto)  # in place: all the weight at or above a group
        np.maximum(scored, 1, out=scored)  # 1 where nothing is scored this high: that group's weight is 0
        precision: NDArray[Any] = np.divide(pos_upto, scored, dtype=np.float64 if exact else np.float32)
        precision *= group
        found = precision.sum(axis=1, dtype=np.float64)
        pairs = positive * negative
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (pairs - wrong) / pairs  # the right pairs counted exactly (integers below 2**53) first
            ap = found / positive
        return np.where((positive > 0) & (negative > 0), auc, np.nan), np.where(positive > 0, ap, np.nan)


@dataclass(frozen=True)
class RankMetric:
    """Binary ROC AUC or average precision (``pr_auc``) of one run's :class:`RankedScores`."""

    scores: RankedScores
    which: Literal["roc_auc", "pr_auc"]


WeightedMetric = SumMetric | RankMetric


class MetricSet(Generic[K]):
    """Metrics evaluated together on blocks of counts: their per-row columns joined once, up front.

    Columns that several metrics share are summed once (f1, precision, recall and balanced accuracy all
    sum the same true positives, false positives and false negatives: 38 columns for two binary runs
    become 16), and a last column of ones gives each row's total weight in the same matrix product.

    Example:
        >>> mae = SumMetric(np.array([[1.0], [3.0]]), lambda sums, total: sums[:, 0] / total)
        >>> MetricSet({"mae": mae})(np.array([[2, 0], [1, 1]]))["mae"].tolist()
        [1.0, 2.0]
    """

    def __init__(self, metrics: Mapping[K, WeightedMetric]) -> None:
        self._metrics = dict(metrics)
        sums = [(key, metric) for key, metric in metrics.items() if isinstance(metric, SumMetric)]
        self._sums: list[tuple[K, SumMetric, NDArray[np.intp]]] = []
        self._columns: Floats = np.empty((0, 0))
        if sums:
            columns = [metric.columns[:, j] for _, metric in sums for j in range(metric.columns.shape[1])]
            distinct, where = _distinct(columns)
            self._columns = np.column_stack([*distinct, np.ones(len(columns[0]))])
            start = 0
            for key, metric in sums:
                width = metric.columns.shape[1]
                self._sums.append((key, metric, where[start : start + width]))
                start += width
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
            summed = (weights @ (self._columns if exact else self._columns32)).astype(np.float64)
            total = summed[:, -1]  # the column of ones: integer sums, exact in float32 below 2**24
            for key, metric, index in self._sums:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[key] = metric.finish(summed[:, index], total)
        small = counts
        if counts.dtype != np.uint8 and counts.size and int(counts.max()) < 256:
            small = counts.astype(np.uint8)  # a quarter of the memory traffic of int32 in the ranking
        ranked: dict[int, tuple[Floats, Floats]] = {}
        for key, each in self._metrics.items():
            if isinstance(each, RankMetric):
                pair = ranked.get(id(each.scores))
                if pair is None:
                    pair = ranked[id(each.scores)] = each.scores.evaluate(small, exact=exact)
                out[key] = pair[0] if each.which == "roc_auc" else pair[1]
        return {key: out[key] for key in self._metrics}


def _distinct(columns: list[Floats]) -> tuple[list[Floats], NDArray[np.intp]]:
    """The distinct arrays among ``columns``, and for each column the index of its equal among them.

    Columns that agree on a few hundred sampled rows are compared in full.

    Example:
        >>> distinct, where = _distinct([np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0])])
        >>> [column.tolist() for column in distinct], where.tolist()
        ([[1.0, 0.0], [0.0, 1.0]], [0, 1, 0])
    """
    distinct: list[Floats] = []
    by_sample: dict[bytes, list[int]] = {}  # sampled values -> the distinct columns showing them
    where = np.empty(len(columns), dtype=np.intp)
    for index, column in enumerate(columns):
        alike = by_sample.setdefault(column[:: max(1, len(column) // 256)].tobytes(), [])
        twin = next((k for k in alike if np.array_equal(distinct[k], column)), None)
        if twin is None:
            twin = len(distinct)
            distinct.append(column)
            alike.append(twin)
        where[index] = twin
    return distinct, where


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

    The names and definitions are those of :func:`taxiway.measure.scores.score_predictions`, plus
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
            column_of = np.array([index[label] for label in present.tolist()])
            true_column = column_of[np.searchsorted(present, y_true)]  # present is sorted: no lookup per row
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
