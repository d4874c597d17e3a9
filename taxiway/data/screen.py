"""Screens of how well columns predict the target, as *skill*: 0 for chance, 1 for a perfect prediction.

Skill puts classification and regression on one scale, so one threshold can compare a column with the
whole model: ``2 · ROC AUC − 1`` (the Gini coefficient; the mean one-vs-rest AUC for several classes) and
``R²`` for regression, both clipped at 0. Three screens, each fitted on train rows and scored on
validation rows:

- :func:`binned_skill`: one column (or a column derived from two) cut into quantile bins (text: its most
  frequent values; missing values: a bin of their own, so a column whose *missingness* follows the target
  scores too), each bin predicting the target's mean or class shares on train, shrunk towards the overall
  mean. It is a one-split-per-bin tree: O(rows), about a millisecond for 10,000 rows.
- :func:`model_skill`: a small gradient-boosted model on many columns: what the data as a whole can do.
- :func:`linear_weights`: least squares of the target on the standardised numeric columns; a difference or a
  sum of two columns that rebuilds the target shows as two large weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import rankdata  # type: ignore[import-untyped, unused-ignore]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

from taxiway.data._frames import as_numbers, categories, is_numeric

MAX_BINS = 64  # quantile bins per column: enough to follow a smooth relation, few enough to fill
ROWS_PER_BIN = 25  # small data gets fewer bins (a bin of 3 train rows predicts noise)
PRIOR_ROWS = 5.0  # each bin's estimate is shrunk towards the overall one as if it had 5 more rows
# The whole-data model: boosted trees small enough to fit 4,000 rows x 20 columns in ~0.2 s on one core.
MODEL_ITERATIONS = 40
MODEL_LEAVES = 15
MODEL_MIN_LEAF = 20
MODEL_MIN_ITERATIONS = 15


__all__ = [
    "Target",
    "binned_skill",
    "correlation",
    "linear_weights",
    "model_skill",
    "skill_of",
    "target_codes",
]


@dataclass(frozen=True)
class Target:
    """The target of sampled train and validation rows, encoded once for every screen.

    Classification: ``train`` and ``valid`` are class codes 0..k-1 of ``classes`` (labels as text, sorted);
    regression: the values as floats, ``classes`` empty.
    """

    task: str
    train: NDArray[Any]
    valid: NDArray[Any]
    classes: tuple[str, ...]

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    @classmethod
    def of(cls, train: pd.Series, valid: pd.Series, task: str) -> Target:
        """Encode ``train`` and ``valid`` (no missing values) for ``task``.

        Example:
            >>> t = Target.of(pd.Series(["b", "a"]), pd.Series(["a"]), "classification")
            >>> t.classes, t.train.tolist(), t.valid.tolist()
            (('a', 'b'), [1, 0], [0])
        """
        if task != "classification":
            return cls(task, train.to_numpy(dtype=np.float64), valid.to_numpy(dtype=np.float64), ())
        classes = tuple(sorted({str(v) for v in [*train.tolist(), *valid.tolist()]}))
        return cls(task, target_codes(train, classes), target_codes(valid, classes), classes)


def target_codes(values: pd.Series, classes: Sequence[str]) -> NDArray[np.int64]:
    """Class labels as their position in ``classes`` (compared as text)."""
    index = pd.Index(list(classes), dtype=object)
    text = pd.Index([str(v) for v in values.tolist()], dtype=object)
    return np.asarray(index.get_indexer(text), dtype=np.int64)


def skill_of(target: Target, scores: NDArray[np.float64]) -> float:
    """Skill of validation ``scores``: class probabilities (rows x classes) or predicted values.

    Example:
        >>> t = Target("classification", np.array([0, 1]), np.array([0, 0, 1, 1]), ("a", "b"))
        >>> skill_of(t, np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]))
        0.5
    """
    y = target.valid
    if len(y) < 2:
        return 0.0
    if not target.is_classification:
        total = float(np.sum((y - y.mean()) ** 2))
        if total == 0:
            return 0.0
        return max(0.0, 1.0 - float(np.sum((y - scores) ** 2)) / total)
    aucs = [
        _auc(y == k, scores[:, k]) for k in range(len(target.classes)) if 0 < int(np.sum(y == k)) < len(y)
    ]
    if not aucs:
        return 0.0
    auc = aucs[-1] if len(target.classes) == 2 else float(np.mean(aucs))
    return max(0.0, 2.0 * auc - 1.0)


def binned_skill(
    train: NDArray[np.float64] | pd.Series, valid: NDArray[np.float64] | pd.Series, target: Target
) -> float:
    """Skill of one column cut into bins on train (see the module docstring), scored on validation.

    Each bin predicts one value, so the validation AUC comes from counts per bin, not from sorting rows.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=2000)
        >>> t = Target("regression", x[:1000] * 2, x[1000:] * 2, ())
        >>> round(binned_skill(x[:1000], x[1000:], t), 2)
        0.97
    """
    coded = _bins(train, valid, _bin_count(len(target.train)))
    if coded is None:
        return 0.0
    fit, score, n_bins = coded
    predicted = _bin_predictions(fit, n_bins, target)
    if not target.is_classification:
        return skill_of(target, np.asarray(predicted[score]))
    y, k = target.valid, len(target.classes)
    counts = np.bincount(score * k + y, minlength=n_bins * k).reshape(n_bins, k).astype(np.float64)
    aucs = []
    for label in range(k):
        positives = counts[:, label]
        negatives = counts.sum(axis=1) - positives
        if 0 < positives.sum() < counts.sum():
            aucs.append(_grouped_auc(predicted[:, label], positives, negatives))
    if not aucs:
        return 0.0
    auc = aucs[-1] if k == 2 else float(np.mean(aucs))
    return max(0.0, 2.0 * auc - 1.0)


def model_skill(
    train: pd.DataFrame, valid: pd.DataFrame, columns: Sequence[str], target: Target, seed: int
) -> float:
    """Skill of a small gradient-boosted model on ``columns`` (text as native categories); 0 for none."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if not columns or len(target.train) < 2 * MODEL_MIN_LEAF:
        return 0.0
    if target.is_classification and len(np.unique(target.train)) < 2:
        return 0.0
    books = {c: None if is_numeric(train[c]) else categories(train[c]) for c in columns}
    flags = [b is not None and len(b) <= MAX_BINS for b in books.values()]

    def matrix(frame: pd.DataFrame) -> NDArray[np.float64]:
        out = np.empty((len(frame), len(columns)), dtype=np.float64)
        for i, column in enumerate(columns):
            out[:, i] = as_numbers(frame[column], books[column])
        return out

    kind: Any = HistGradientBoostingClassifier if target.is_classification else HistGradientBoostingRegressor
    # Several classes grow a tree per class and iteration: the same budget of trees, in bigger steps.
    classes = len(target.classes) if len(target.classes) > 2 else 1
    iterations = max(MODEL_MIN_ITERATIONS, MODEL_ITERATIONS // classes)
    model = kind(
        max_iter=iterations,
        learning_rate=min(0.5, 0.15 * MODEL_ITERATIONS / iterations),
        max_leaf_nodes=MODEL_LEAVES,
        min_samples_leaf=MODEL_MIN_LEAF,
        max_bins=MAX_BINS,
        early_stopping=False,
        categorical_features=np.asarray(flags) if any(flags) else None,
        random_state=seed,
    )
    # One thread: OpenMP start-up and spin-waits cost more than they save on fits this small (see
    # taxiway.data.distribution, measured on 2 cores).
    with threadpool_limits(limits=1):
        model.fit(matrix(train), target.train)
        x_valid = matrix(valid)
        if not target.is_classification:
            return skill_of(target, np.asarray(model.predict(x_valid), dtype=np.float64))
        proba = np.zeros((len(valid), len(target.classes)))
        proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x_valid)
    return skill_of(target, proba)


def linear_weights(frame: pd.DataFrame, columns: Sequence[str], y: NDArray[np.float64]) -> dict[str, float]:
    """|weight| of each numeric column in a least-squares fit of ``y`` on the standardised columns.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b, c = (rng.normal(scale=10, size=300) for _ in range(3))
        >>> frame = pd.DataFrame({"a": a, "b": a - (c > 0), "c": c})
        >>> weights = linear_weights(frame, ["a", "b", "c"], (c > 0).astype(float))
        >>> sorted(weights, key=weights.get, reverse=True)[:2]
        ['a', 'b']
    """
    numeric = [c for c in columns if is_numeric(frame[c])]
    if not numeric or len(frame) < 3:
        return {}
    x = np.column_stack([as_numbers(frame[c]) for c in numeric])
    with np.errstate(all="ignore"):
        mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
        z = np.where(np.isnan(x), 0.0, (x - mean) / np.where(std > 0, std, 1.0))
    z = np.column_stack([z, np.ones(len(z))])
    coef = np.linalg.lstsq(z, y - y.mean(), rcond=None)[0][:-1]
    return {c: float(abs(w)) for c, w in zip(numeric, coef, strict=True) if np.isfinite(w)}


def correlation(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """|Pearson correlation| over the rows where ``x`` is a number; 0 when either does not vary.

    Example:
        >>> correlation(np.array([1.0, 2.0, np.nan, 4.0]), np.array([2.0, 4.0, 5.0, 8.0]))
        1.0
    """
    present = np.isfinite(x)
    if present.sum() < 3:
        return 0.0
    a, b = x[present], y[present]
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(min(1.0, abs(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))))


def _auc(positive: NDArray[np.bool_], score: NDArray[np.float64]) -> float:
    """ROC AUC from ranks (ties count half), as sklearn's roc_auc_score, without its input checks."""
    ranks = rankdata(score)
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _bin_count(rows: int) -> int:
    return int(min(MAX_BINS, max(4, rows // ROWS_PER_BIN)))


def _bins(
    train: NDArray[np.float64] | pd.Series, valid: NDArray[np.float64] | pd.Series, bins: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], int] | None:
    """Bin codes of the train and validation values; missing values get the last bin."""
    if isinstance(train, pd.Series) and not is_numeric(train):
        book = [str(v) for v in train.astype(object).dropna().astype(str).value_counts().index[: bins - 2]]
        # rarer values are NaN: one "other" bin
        a, b = as_numbers(train, book), as_numbers(pd.Series(valid), book)
        size = len(book) + 1
        return _codes(a, size - 1), _codes(b, size - 1), size
    a = train if isinstance(train, np.ndarray) else as_numbers(train)
    b = valid if isinstance(valid, np.ndarray) else as_numbers(pd.Series(valid))
    finite = a[np.isfinite(a)]
    if len(finite) == 0:
        return None
    ordered = np.sort(finite)  # quantiles by position: one sort, no interpolation (np.quantile is 3x slower)
    edges = np.unique(ordered[(np.linspace(0, 1, bins + 1)[1:-1] * (len(ordered) - 1)).astype(np.intp)])
    size = len(edges) + 2
    return _cut(a, edges, size - 1), _cut(b, edges, size - 1), size


def _cut(values: NDArray[np.float64], edges: NDArray[np.float64], missing: int) -> NDArray[np.intp]:
    return np.where(np.isfinite(values), np.searchsorted(edges, values, side="right"), missing)


def _codes(values: NDArray[np.float64], missing: int) -> NDArray[np.intp]:
    return np.where(np.isnan(values), missing, values).astype(np.intp)


def _bin_predictions(fit: NDArray[np.intp], n_bins: int, target: Target) -> NDArray[np.float64]:
    """Each bin's prediction: the shrunk mean (regression) or class shares (bins x classes)."""
    counts = np.bincount(fit, minlength=n_bins).astype(np.float64)
    y = target.train
    if not target.is_classification:
        overall = float(y.mean())
        totals = np.bincount(fit, weights=y, minlength=n_bins)
        return np.asarray((totals + PRIOR_ROWS * overall) / (counts + PRIOR_ROWS))
    k = len(target.classes)
    shares = np.bincount(y, minlength=k).astype(np.float64) / len(y)
    per_bin = np.bincount(fit * k + y, minlength=n_bins * k).reshape(n_bins, k).astype(np.float64)
    return np.asarray((per_bin + PRIOR_ROWS * shares) / (counts[:, None] + PRIOR_ROWS))


def _grouped_auc(
    score: NDArray[np.float64], positives: NDArray[np.float64], negatives: NDArray[np.float64]
) -> float:
    """ROC AUC when rows come in groups sharing one score: positives above negatives, ties counting half."""
    values, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group, weights=positives, minlength=len(values))
    neg = np.bincount(group, weights=negatives, minlength=len(values))
    below = np.cumsum(neg) - neg  # negatives with a lower score
    return float(np.sum(pos * (below + neg / 2)) / (pos.sum() * neg.sum()))
