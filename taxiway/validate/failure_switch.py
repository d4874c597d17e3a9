"""Whether a run's failure predictor is switched on when its model is served.

Training always learns a failure predictor; serving sends the rows it flags to ``serving.fallback``. That
helps only when the predictor tells wrong rows from right ones on held-out data. A predictor at or below
chance (a regression's predictor read ROC AUC 0.47 on census-sized data) would send a large share of
traffic, right answers included, to the fallback. So validation switches it on only when, on the test rows:

- its ROC AUC beats 0.5 by :data:`MIN_LIFT` even at the lower end of its 95% interval (Hanley and McNeil's
  standard error, which shrinks with the number of wrong and right rows), and
- the rows it flags are wrong more often than the rows it keeps (the risk-coverage curve rises).

Otherwise it stays off, and the validation report says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from taxiway.validate.failure import FailureReport

__all__ = ["MIN_LIFT", "FailureSwitch", "decide_failure_switch"]

MIN_LIFT = 0.02  # the ROC AUC's 95% lower bound must beat chance by this much


@dataclass(frozen=True)
class FailureSwitch:
    """On or off, and the sentence that says why."""

    enabled: bool
    reason: str
    auc_lower: float | None = None


def decide_failure_switch(report: FailureReport) -> FailureSwitch:
    """Switch the failure predictor on only when it helps on the held-out rows.

    Example:
        >>> from taxiway.validate.failure import RiskCoverage
        >>> curve = RiskCoverage("error_rate", [0.5, 1.0], [0.1, 0.2])
        >>> weak = FailureReport(2000, 0.5, None, 0.2, 0.47, None, 0.39, 0.19, 0.2, curve)
        >>> decide_failure_switch(weak).enabled
        False
        >>> good = FailureReport(2000, 0.5, None, 0.2, 0.8, None, 0.12, 0.6, 0.15, curve)
        >>> decide_failure_switch(good).enabled
        True
    """
    auc = report.roc_auc
    if auc is None:
        return FailureSwitch(False, f"off: no ROC AUC on the test rows ({report.reason})")
    wrong = round((report.error_rate or 0.0) * report.rows)
    lower = auc - 1.96 * _auc_standard_error(auc, wrong, report.rows - wrong)
    if lower <= 0.5 + MIN_LIFT:
        return FailureSwitch(
            False,
            f"off: ROC AUC {auc:.2f} on {report.rows:,} test rows (95% lower bound {lower:.2f}) is not "
            f"better than chance by {MIN_LIFT:g}; the fallback would answer rows the model gets right",
            lower,
        )
    flagged, kept = report.flagged_error_rate, report.kept_error_rate
    if flagged is None:
        return FailureSwitch(True, f"on: ROC AUC {auc:.2f}; flags no test row at its threshold", lower)
    if kept is not None and flagged <= kept:
        return FailureSwitch(
            False,
            f"off: the rows it flags are wrong {flagged:.0%} of the time, the rows it keeps {kept:.0%}",
            lower,
        )
    return FailureSwitch(True, f"on: ROC AUC {auc:.2f} (95% lower bound {lower:.2f})", lower)


def _auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil (1982): the standard error of a ROC AUC from its counts."""
    if positives < 1 or negatives < 1:
        return math.inf
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(max(variance, 0.0))
