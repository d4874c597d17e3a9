"""Numerical stability of a model's outputs (ML Test Score O5): no NaN, no infinity, probabilities that
are probabilities.

A model can be fine on the validation batch and still break in serving: on rows from a later period, or
on a batch of one row (a model that normalises by the batch's own statistics divides 0 by 0 there).
Validation therefore checks the outputs on every split and on rows predicted one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SUM_TOLERANCE = 1e-6  # float32 models sum to 1 within ~1e-7; a real error is far larger
MAX_EXAMPLES = 5  # rows quoted per check: enough to find the pattern, short enough to read

__all__ = ["SUM_TOLERANCE", "Stability", "check_outputs", "combine"]


@dataclass(frozen=True)
class Stability:
    """What was wrong with a set of outputs, counted in rows, with a few examples of where."""

    rows: int
    non_finite: int = 0  # rows with NaN or infinity in a prediction or probability
    out_of_range: int = 0  # probability rows with a value below 0 or above 1
    not_summing: int = 0  # probability rows whose sum is not 1
    examples: tuple[str, ...] = field(default=())

    @property
    def is_stable(self) -> bool:
        return self.non_finite == 0 and self.out_of_range == 0 and self.not_summing == 0

    @property
    def bad_rows(self) -> int:
        return self.non_finite + self.out_of_range + self.not_summing


def check_outputs(outputs: Any, *, source: str, row_keys: Any = None) -> Stability:
    """Check one batch of outputs: probabilities (2-D, one column per class) or predictions (1-D).

    Example:
        >>> check_outputs(np.array([[0.2, 0.8], [np.nan, np.nan], [0.7, 0.7]]), source="valid")
        Stability(rows=3, non_finite=1, out_of_range=0, not_summing=1, \
examples=('valid row 1: nan in the output', 'valid row 2: probabilities sum to 1.4'))
    """
    values = np.asarray(outputs)
    if values.dtype.kind not in "fiub":  # labels (strings, objects) have nothing numeric to break
        return Stability(rows=len(values))
    values = values.astype(float)
    keys = np.asarray(row_keys) if row_keys is not None else np.arange(len(values))
    matrix = values.reshape(len(values), -1)
    finite = np.isfinite(matrix).all(axis=1)
    examples = [f"{source} row {keys[i]}: {_bad(matrix[i])} in the output" for i in np.flatnonzero(~finite)]
    out_of_range = not_summing = np.zeros(len(values), dtype=bool)
    if values.ndim == 2:
        out_of_range = finite & ((matrix < 0) | (matrix > 1)).any(axis=1)
        sums = matrix.sum(axis=1)
        not_summing = finite & ~out_of_range & (np.abs(sums - 1) > SUM_TOLERANCE)
        examples += [
            f"{source} row {keys[i]}: a probability outside [0, 1]" for i in np.flatnonzero(out_of_range)
        ]
        examples += [
            f"{source} row {keys[i]}: probabilities sum to {sums[i]:.6g}" for i in np.flatnonzero(not_summing)
        ]
    return Stability(
        rows=len(values),
        non_finite=int((~finite).sum()),
        out_of_range=int(out_of_range.sum()),
        not_summing=int(not_summing.sum()),
        examples=tuple(examples[:MAX_EXAMPLES]),
    )


def combine(parts: Iterable[Stability]) -> Stability:
    """One verdict over several checks (the splits, the single-row predictions).

    Example:
        >>> combine([Stability(rows=10), Stability(rows=5, non_finite=1, examples=("x",))]).non_finite
        1
    """
    found = list(parts)
    return Stability(
        rows=sum(p.rows for p in found),
        non_finite=sum(p.non_finite for p in found),
        out_of_range=sum(p.out_of_range for p in found),
        not_summing=sum(p.not_summing for p in found),
        examples=tuple(e for p in found for e in p.examples)[:MAX_EXAMPLES],
    )


def _bad(row: np.ndarray) -> str:
    return "nan" if np.isnan(row).any() else "infinity"
