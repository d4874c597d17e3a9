"""Mergeable summaries of one column: a histogram over fixed edges, or category counts.

A reference profile keeps one per feature (edges at the reference's quantiles), so a monitor pass reads only
the current window: it counts the window's values into the same bins and compares the two. Two sketches with
the same edges merge by adding their counts, so profiles of chunks, days or replicas add up.

The effect size is the population stability index (PSI, a symmetrised Kullback-Leibler divergence) over
the bins, with a missing-value bin and, for categories, an "other" bin for values the reference never saw.
Unlike a p-value it does not shrink towards "significant" as the sample grows: a tiny shift on a million
rows stays tiny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtri  # type: ignore[import-untyped, unused-ignore]

BINS = 10  # quantile bins per numeric feature: fewer bins, less noise, more power against shifts
MAX_CATEGORIES = 50  # past this many distinct values the rarest share one "other" bin
OTHER = "__other__"


@dataclass
class NumericSketch:
    """Counts of a numeric column over fixed bins (``edges`` are the inner cut points) and its missing values.

    Example:
        >>> a = NumericSketch.fit(np.arange(100.0), bins=4)
        >>> a.counts, a.missing
        ([25, 25, 25, 25], 0)
        >>> a.merge(a.count(np.array([1.0, np.nan]))).counts
        [26, 25, 25, 25]
    """

    edges: list[float]
    counts: list[int]
    missing: int = 0
    kind: str = "numeric"

    @classmethod
    def fit(cls, values: np.ndarray, *, bins: int = BINS) -> NumericSketch:
        """Edges at the quantiles of ``values`` (ties merged), and their counts."""
        finite = values[np.isfinite(values)]
        quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if finite.size else np.array([])
        edges = np.unique(quantiles).tolist()
        return cls(edges, [0] * (len(edges) + 1)).merge(cls(edges, [0] * (len(edges) + 1)).count(values))

    def count(self, values: np.ndarray) -> NumericSketch:
        """A sketch of ``values`` over this sketch's edges (NaN and ±inf count as missing)."""
        values = np.asarray(values, dtype=float)
        finite = np.isfinite(values)
        index = np.searchsorted(np.asarray(self.edges), values[finite], side="right")
        counts = np.bincount(index, minlength=len(self.edges) + 1)
        return NumericSketch(self.edges, counts.tolist(), int((~finite).sum()))

    def merge(self, other: NumericSketch) -> NumericSketch:
        """The sketch of both samples; the edges must be the same."""
        if other.edges != self.edges:
            raise ValueError("numeric sketches merge only over the same edges")
        counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        return NumericSketch(self.edges, counts, self.missing + other.missing)

    def vector(self) -> np.ndarray:
        """Counts per bin, the missing bin last."""
        return np.array([*self.counts, self.missing], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "numeric", "edges": self.edges, "counts": self.counts, "missing": self.missing}


@dataclass
class CategorySketch:
    """Counts per category; values outside ``known`` (when given) count as ``__other__``.

    Example:
        >>> ref = CategorySketch.fit(pd.Series(["a", "a", "b", None]))
        >>> ref.counts, ref.missing
        ({'a': 2, 'b': 1}, 1)
        >>> ref.count(pd.Series(["a", "z"])).counts
        {'a': 1, 'b': 0, '__other__': 1}
    """

    counts: dict[str, int]
    missing: int = 0
    kind: str = "categorical"
    known: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, values: pd.Series, *, max_categories: int = MAX_CATEGORIES) -> CategorySketch:
        """The ``max_categories`` most frequent values keep their own bin; the rest share ``__other__``."""
        present = values.dropna().astype(str)
        frequent = present.value_counts()
        kept = frequent.iloc[:max_categories]
        counts = {str(k): int(v) for k, v in kept.items()}
        rest = int(frequent.iloc[max_categories:].sum())
        if rest:
            counts[OTHER] = rest
        return cls(counts, int(values.isna().sum()), known=list(kept.index.astype(str)))

    def count(self, values: pd.Series) -> CategorySketch:
        """A sketch of ``values`` over this sketch's categories (unseen ones go to ``__other__``)."""
        present = values.dropna().astype(str)
        frequent = present.value_counts()
        known = self.known or [k for k in self.counts if k != OTHER]
        counts = {k: int(frequent.get(k, 0)) for k in known}
        counts[OTHER] = int(frequent.sum()) - sum(counts.values())
        return CategorySketch(counts, int(values.isna().sum()), known=known)

    def merge(self, other: CategorySketch) -> CategorySketch:
        """Both samples' counts added up."""
        counts = dict(self.counts)
        for key, value in other.counts.items():
            counts[key] = counts.get(key, 0) + value
        return CategorySketch(counts, self.missing + other.missing, known=self.known)

    def vector(self, keys: list[str]) -> np.ndarray:
        """Counts in the order of ``keys``, the missing bin last."""
        return np.array([*(self.counts.get(k, 0) for k in keys), self.missing], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", "counts": self.counts, "missing": self.missing, "known": self.known}


Sketch = NumericSketch | CategorySketch


def sketch_from_dict(data: dict[str, Any]) -> Sketch:
    """The sketch :meth:`to_dict` wrote.

    Example:
        >>> sketch_from_dict(NumericSketch([0.5], [1, 2]).to_dict()).counts
        [1, 2]
    """
    if data["kind"] == "numeric":
        return NumericSketch(list(data["edges"]), list(data["counts"]), int(data["missing"]))
    return CategorySketch(dict(data["counts"]), int(data["missing"]), known=list(data.get("known", [])))


def fit_sketch(values: pd.Series) -> Sketch:
    """A numeric sketch for numbers (not booleans), category counts for everything else."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return NumericSketch.fit(values.to_numpy(dtype=float, na_value=np.nan))
    return CategorySketch.fit(values)


def count_like(reference: Sketch, values: pd.Series) -> Sketch:
    """``values`` counted into ``reference``'s bins (numbers that do not parse count as missing)."""
    if isinstance(reference, NumericSketch):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return reference.count(numbers)
    return reference.count(values)


def paired_vectors(reference: Sketch, window: Sketch) -> tuple[np.ndarray, np.ndarray]:
    """The two sketches' counts over the same bins."""
    if isinstance(reference, NumericSketch) and isinstance(window, NumericSketch):
        return reference.vector(), window.vector()
    assert isinstance(reference, CategorySketch) and isinstance(window, CategorySketch)
    keys = list(dict.fromkeys([*reference.counts, *window.counts, OTHER]))
    return reference.vector(keys), window.vector(keys)


def psi(reference: np.ndarray, window: np.ndarray) -> float:
    """Population stability index of two count vectors, each smoothed by half a count per bin in use.

    Example:
        >>> round(psi(np.array([50.0, 50.0]), np.array([50.0, 50.0])), 6)
        0.0
        >>> psi(np.array([50.0, 50.0]), np.array([90.0, 10.0])) > 0.5
        True
    """
    used = (reference > 0) | (window > 0)  # a bin empty on both sides says nothing (and would bias it)
    reference, window = reference[used], window[used]
    p = (reference + 0.5) / (reference.sum() + 0.5 * reference.size)
    q = (window + 0.5) / (window.sum() + 0.5 * window.size)
    return float(np.sum((q - p) * np.log(q / p)))


def null_psi_quantile(bins: int, reference_rows: float, window_rows: float, false_alarm_rate: float) -> float:
    """The PSI two samples of the same distribution exceed with probability ``false_alarm_rate``.

    For counts, PSI ≈ (1/n + 1/m)·χ² with (bins - 1) degrees of freedom; the reference's own chunk-to-chunk
    variation scales this (:func:`overdispersion`), since real rows are rarely independent draws.

    Example:
        >>> round(null_psi_quantile(20, 100_000, 5_000, 0.001), 4)
        0.0092
    """
    dof = max(bins - 1, 1)
    return float((1 / max(window_rows, 1) + 1 / max(reference_rows, 1)) * chdtri(dof, false_alarm_rate))


def effective_bins(reference: np.ndarray) -> int:
    """Bins the reference actually fills (empty ones add no degrees of freedom)."""
    return max(int(np.count_nonzero(reference)), 2)


def overdispersion(observed: list[float], expected: list[float], dof: int = 9) -> float:
    """How much more the reference's chunks vary than independent draws would: mean observed / expected PSI,
    kept only when above what chance gives (1 + 2 standard errors of a mean of χ²/dof ratios), at most 10.
    Fewer than 5 chunks: 1, nothing to measure it on.

    Example:
        >>> overdispersion([0.02, 0.04], [0.01, 0.01])
        1.0
        >>> overdispersion([0.02] * 5, [0.01] * 5)
        2.0
    """
    if len(observed) < 5 or not sum(expected) > 0:
        return 1.0
    ratio = sum(observed) / sum(expected)
    chance = 1 + 2 * math.sqrt(2 / max(dof, 1) / len(observed))
    if not math.isfinite(ratio) or ratio <= chance:
        return 1.0
    return float(min(ratio, 10.0))
