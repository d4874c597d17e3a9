"""How well a run's failure predictor tells the model's wrong answers from its right ones, on the test split.

A report, not a gate: it never changes whether a run is blessed. It answers two questions a team asks
before trusting ``serving.fallback``: does the risk rank wrong rows above right ones (ROC AUC), and what does
answering only the lowest-risk rows buy (the risk-coverage curve: keep the lowest-risk share of rows, measure
the error among them)?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from taxiway.measure.metrics import Task
from taxiway.project import Project
from taxiway.registry.blessing import jsonable
from taxiway.train.failure import (
    WRONG_QUANTILE,
    FailurePredictor,
    failure_predictor_from,
    load_failure_predictor,
)
from taxiway.train.runs import Run
from taxiway.validate.run_context import RunContext, load_context

__all__ = ["CURVE_POINTS", "FailureReport", "RiskCoverage", "failure_report", "run_failure_report"]

CURVE_POINTS = 20  # coverage 5%, 10%, ..., 100%: enough to read a curve, small enough for the blessing


@dataclass(frozen=True)
class RiskCoverage:
    """The error among the rows kept when only the lowest-risk ``coverage`` share of rows is answered.

    ``measure``: ``error_rate`` (classification) or ``mean_absolute_error`` (regression).
    """

    measure: Literal["error_rate", "mean_absolute_error"]
    coverage: list[float]
    error: list[float]


@dataclass(frozen=True)
class FailureReport:
    """The failure predictor on the test rows: separation (ROC AUC), what its threshold flags, the curve.

    A row is wrong as at training: a misclassified row, or (regression) an absolute error above
    ``wrong_above``. ``roc_auc`` is None when the test rows are all right or all wrong; ``reason`` says so.
    The flagged and kept error rates are None when no row (or every row) is flagged.
    """

    rows: int
    threshold: float
    wrong_above: float | None
    error_rate: float | None
    roc_auc: float | None
    reason: str | None
    flagged_share: float | None
    flagged_error_rate: float | None
    kept_error_rate: float | None
    risk_coverage: RiskCoverage

    def summary(self) -> str:
        """One line for people, e.g. ``ROC AUC 0.71 on 2,043 test rows; flags 12% of rows, ...``.

        Example:
            >>> curve = RiskCoverage("error_rate", [0.5, 1.0], [0.1, 0.2])
            >>> FailureReport(2043, 0.5, None, 0.2, 0.71, None, 0.12, 0.41, 0.15, curve).summary()
            'ROC AUC 0.71 on 2,043 test rows; flags 12% of rows, error rate 41% flagged vs 15% kept'
        """
        separation = (
            f"ROC AUC {self.roc_auc:.2f}" if self.roc_auc is not None else f"no ROC AUC ({self.reason})"
        )
        line = f"{separation} on {self.rows:,} test rows"
        if self.flagged_share is None:
            return line
        wrong = "error rate" if self.wrong_above is None else f"share of errors above {self.wrong_above:.3g}"
        flagged, kept = self.flagged_error_rate, self.kept_error_rate
        if flagged is None:
            return f"{line}; flags no row at risk >= {self.threshold:g}; {wrong} {_share(kept)} overall"
        if kept is None:
            return f"{line}; flags every row at risk >= {self.threshold:g}; {wrong} {_share(flagged)}"
        share = f"{self.flagged_share:.0%}"
        return f"{line}; flags {share} of rows, {wrong} {_share(flagged)} flagged vs {_share(kept)} kept"

    def to_json(self) -> dict[str, Any]:
        """The report as the blessing stores it (stable keys, NaN as null), with its summary line."""
        return {**jsonable(self), "summary": self.summary()}


def failure_report(
    predictor: FailurePredictor, model: Any, x_test: pd.DataFrame, y_test: pd.Series, task: Task
) -> FailureReport:
    """Score ``predictor`` against the mistakes ``model`` makes on the test rows.

    Example:
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> from taxiway.train.failure import fit_failure_predictor, out_of_fold
        >>> x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        >>> stump = DecisionTreeClassifier(max_depth=2, random_state=0)
        >>> oof = out_of_fold(stump, x[:400], y[:400], "classification", seed=0)
        >>> predictor = fit_failure_predictor(oof, "classification", seed=0)
        >>> model = stump.fit(x[:400], y[:400])
        >>> report = failure_report(predictor, model, x[400:], y[400:], "classification")
        >>> report.rows, report.roc_auc > 0.5, report.risk_coverage.coverage[-1]
        (169, True, 1.0)
    """
    measure: Literal["error_rate", "mean_absolute_error"] = (
        "error_rate" if task == "classification" else "mean_absolute_error"
    )
    if len(x_test) == 0:
        return FailureReport(
            rows=0,
            threshold=predictor.threshold,
            wrong_above=predictor.wrong_above,
            error_rate=None,
            roc_auc=None,
            reason="the test split is empty",
            flagged_share=None,
            flagged_error_rate=None,
            kept_error_rate=None,
            risk_coverage=RiskCoverage(measure, [], []),
        )
    truth, cutoff = y_test.to_numpy(), predictor.wrong_above
    if task == "classification":
        output = np.asarray(model.predict_proba(x_test), dtype=float)
        classes = np.asarray(model.classes_)
        wrong = classes[np.argmax(np.nan_to_num(output, nan=-np.inf), axis=1)] != truth
        loss = wrong.astype(float)
    else:
        output = np.asarray(model.predict(x_test), dtype=float)
        loss = np.abs(output - truth.astype(float))
        # The training cut-off, so "wrong" means the same on test as in the rows the predictor learned from.
        if cutoff is None:
            cutoff = float(np.nanquantile(loss, WRONG_QUANTILE))
        wrong = ~(loss <= cutoff)  # a NaN prediction is wrong
    risk = predictor.risk(x_test, output)
    flagged = risk >= predictor.threshold
    roc_auc, reason = _separation(wrong, risk)
    return FailureReport(
        rows=len(truth),
        threshold=predictor.threshold,
        wrong_above=cutoff,
        error_rate=float(wrong.mean()),
        roc_auc=roc_auc,
        reason=reason,
        flagged_share=float(flagged.mean()),
        flagged_error_rate=float(wrong[flagged].mean()) if flagged.any() else None,
        kept_error_rate=float(wrong[~flagged].mean()) if not flagged.all() else None,
        risk_coverage=_risk_coverage(risk, loss, measure),
    )


def run_failure_report(
    project: Project, run: Run, ctx: RunContext | None = None, *, pipeline: Any = None
) -> FailureReport | None:
    """The failure report of ``run``'s model on its test split; None when the run has no failure predictor.

    ``pipeline`` is the predictor's pipeline when the caller loaded it already (validation's serving probe
    does); otherwise it is loaded from the run's artifact.

    Raises:
        ArtifactCorruptError: the predictor's or the model's artifact no longer hashes to its digest.
    """
    if pipeline is not None:
        predictor: FailurePredictor | None = failure_predictor_from(run, pipeline)
    else:
        predictor = load_failure_predictor(project.store, run.id, root=project.root)
    if predictor is None:
        return None
    ctx = ctx or load_context(project, run)
    test = ctx.frames.test
    with threadpool_limits(project.charter.train.threads):
        return failure_report(predictor, ctx.model, test[ctx.features], test[ctx.target], ctx.task)


def _separation(wrong: np.ndarray, risk: np.ndarray) -> tuple[float | None, str | None]:
    if not wrong.any():
        return None, f"all {len(wrong):,} test predictions are right"
    if wrong.all():
        return None, f"all {len(wrong):,} test predictions are wrong"
    return float(roc_auc_score(wrong, risk)), None


def _risk_coverage(
    risk: np.ndarray, loss: np.ndarray, measure: Literal["error_rate", "mean_absolute_error"]
) -> RiskCoverage:
    """Rows sorted by risk, lowest first (ties in row order); the mean loss of the first k rows, at
    ``CURVE_POINTS`` coverages."""
    ordered = loss[np.argsort(risk, kind="stable")]
    rows = len(ordered)
    kept = np.unique(np.ceil(np.linspace(1 / CURVE_POINTS, 1.0, CURVE_POINTS) * rows).astype(int))
    kept = kept[kept >= 1]
    mean = np.cumsum(ordered)[kept - 1] / kept
    return RiskCoverage(measure, [float(k / rows) for k in kept], [float(m) for m in mean])


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
