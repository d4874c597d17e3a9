"""Failure detection and fallback: which rows the model is likely to get wrong, and who answers them instead.

A row falls back, in this order of reasons, when

- ``missing``: a value is missing where training had none (the model never learned what that means);
- ``out_of_range``: a number lies beyond the training range by more than the charter's ``range_margin``;
- ``unseen_category``: a category training never saw;
- ``low_confidence``: the top class probability is below the charter's ``min_confidence``.

The charter's ``fallback`` then answers: ``baseline`` (the best baseline model of the same training),
``constant`` (the constant baseline: the majority class or the mean) or ``abstain`` (no prediction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from taxiway.data.validate import ValidationReport, Violation, ViolationKind

FallbackKind = Literal["baseline", "constant", "abstain"]
FallbackReason = Literal["missing", "out_of_range", "unseen_category", "low_confidence"]
REASONS: tuple[FallbackReason, ...] = ("missing", "out_of_range", "unseen_category", "low_confidence")
# Schema violations that the model can still be asked about, but whose answer is not to be trusted.
_REASON_OF: dict[ViolationKind, FallbackReason] = {
    "null": "missing",
    "out_of_range": "out_of_range",
    "unknown_category": "unseen_category",
}
# Schema violations that make a request unanswerable: 422.
REJECTED_KINDS: frozenset[ViolationKind] = frozenset(
    {"missing_column", "unexpected_column", "wrong_type", "pattern_mismatch"}
)


@dataclass(frozen=True)
class FallbackPolicy:
    """What the charter asks for: who answers in the model's place, and the confidence floor.

    Example:
        >>> FallbackPolicy(kind="constant", min_confidence=0.6).min_confidence
        0.6
    """

    kind: FallbackKind
    min_confidence: float | None = None


@dataclass(frozen=True)
class Fallback:
    """The loaded stand-in: a baseline's estimator, or nothing when abstaining."""

    kind: FallbackKind
    estimator: Any | None
    run_id: str | None
    name: str

    @property
    def answers(self) -> bool:
        """Whether a row that falls back still gets a prediction."""
        return self.estimator is not None


def split_report(report: ValidationReport) -> tuple[ValidationReport, ValidationReport]:
    """(the violations that reject a request, the violations that make rows fall back).

    Example:
        >>> import pandas as pd
        >>> from taxiway.data.schema import ColumnSpec, DatasetSchema
        >>> from taxiway.data.validate import validate_frame
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float", max=1.0)})
        >>> rejected, doubtful = split_report(validate_frame(schema, pd.DataFrame({"x": ["a", 2.0]})))
        >>> [v.kind for v in rejected.violations], [v.kind for v in doubtful.violations]
        (['wrong_type'], ['out_of_range'])
    """
    rejected = tuple(v for v in report.violations if v.kind in REJECTED_KINDS)
    doubtful = tuple(v for v in report.violations if v.kind not in REJECTED_KINDS)
    return ValidationReport(report.n_rows, rejected), ValidationReport(report.n_rows, doubtful)


def schema_reasons(report: ValidationReport) -> np.ndarray:
    """Per row, the first fallback reason the schema gives (``None`` when it gives none).

    Example:
        >>> import pandas as pd
        >>> from taxiway.data.schema import ColumnSpec, DatasetSchema
        >>> from taxiway.data.validate import validate_frame
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float", nullable=False, max=1.0)})
        >>> schema_reasons(validate_frame(schema, pd.DataFrame({"x": [0.5, 3.0, None]}))).tolist()
        [None, 'out_of_range', 'missing']
    """
    reasons = np.full(report.n_rows, None, dtype=object)
    order = {reason: rank for rank, reason in enumerate(REASONS)}
    violations: list[Violation] = sorted(
        (v for v in report.violations if v.kind in _REASON_OF), key=lambda v: order[_REASON_OF[v.kind]]
    )
    for violation in reversed(violations):  # the first reason in REASONS order is written last and wins
        reasons[violation.positions] = _REASON_OF[violation.kind]
    return reasons


def low_confidence(confidence: np.ndarray, policy: FallbackPolicy) -> np.ndarray:
    """Which rows' top class probability is under the charter's floor (never any without a floor).

    Example:
        >>> low_confidence(np.array([0.9, 0.55, np.nan]), FallbackPolicy("abstain", 0.6)).tolist()
        [False, True, False]
    """
    if policy.min_confidence is None:
        return np.zeros(len(confidence), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.asarray(confidence < policy.min_confidence, dtype=bool)
