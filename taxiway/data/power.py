"""Dev-set power: the smallest improvement in the ranking metric the validation split can detect.

At significance :data:`ALPHA` (two-sided) and power :data:`POWER`, two models on ``n`` validation rows can be
told apart when they differ by at least the minimum detectable effect (MDE):

- **accuracy** (analytic, two proportions): ``MDE = (z(1 - α/2) + z(power)) · sqrt(2 p (1 - p) / n)``, with
  ``p`` the reference accuracy. Two models scored on the same rows are paired, and their errors correlate,
  so this independent-samples formula is conservative.
- **every other metric** (bootstrap): the metric's standard error ``SE`` on the validation rows, from
  bootstrap resamples, and ``MDE = (z(1 - α/2) + z(power)) · sqrt(2) · SE`` (the difference of two
  independent estimates; again conservative for paired models).

No model exists when the data is split, so the reference scores come from a simple baseline fitted on the
train rows: logistic regression (classification) or ridge regression on the numeric columns (imputed with
the median, standardised) and the low-cardinality categorical ones (one-hot). A weak reference errs
towards a larger MDE. When the MDE exceeds the charter's ``problem.smallest_improvement``, the validation
rows needed scale as ``n · (MDE / smallest_improvement)²``: the standard error shrinks as ``1/sqrt(n)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.data._frames import as_numbers, feature_columns, is_numeric, subsample
from taxiway.data.findings import CheckReport, Finding, Verdict
from taxiway.data.improvement import advise, derived_improvement
from taxiway.data.split import SplitFrames
from taxiway.measure.bootstrap import BinaryRocAuc, MeanMetric, MetricFn, bootstrap_values
from taxiway.measure.metrics import METRICS
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit

ALPHA = 0.05  # two-sided significance of the comparison the dev set must support
POWER = 0.8  # chance of detecting a true improvement of the MDE
RESAMPLES = 200  # bootstrap resamples for a standard error (an interval's tails would need more)
BASELINE_MAX_ROWS = 20_000  # train rows the reference baseline is fitted on
MAX_CATEGORIES = 50  # text columns with more distinct train values (ids, free text) stay out of the baseline
ANALYTIC_METRICS = frozenset({"accuracy"})

__all__ = [
    "ALPHA",
    "POWER",
    "DevPower",
    "check_dev_power",
    "mde_accuracy",
    "measure_dev_power",
    "rows_needed",
    "smallest_improvement",
]


def mde_accuracy(p: float, n: int, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest accuracy gain ``n`` rows can detect at reference accuracy ``p`` (two proportions).

    Example:
        >>> round(mde_accuracy(0.8, 1000), 4)
        0.0501
    """
    p = min(max(p, 1 / n), 1 - 1 / n)
    return _z(alpha, power) * math.sqrt(2 * p * (1 - p) / n)


def rows_needed(n: int, mde: float, smallest_improvement: float) -> int:
    """Validation rows needed to detect ``smallest_improvement`` when ``n`` rows detect ``mde``.

    Example:
        >>> rows_needed(1000, 0.02, 0.01)
        4000
    """
    return math.ceil(n * (mde / smallest_improvement) ** 2 - 1e-9)


@dataclass(frozen=True)
class DevPower:
    """What the validation rows can detect: the minimum detectable effect (MDE) in the ranking metric."""

    metric: str
    metric_is_default: bool
    n: int
    method: str  # "analytic" or "bootstrap"
    formula: str
    std_error: float
    mde: float
    model: str
    columns: int
    reference: float


def measure_dev_power(
    frames: SplitFrames, settings: dict[str, Any], charter: Charter, *, seed: int = 0
) -> DevPower:
    """The MDE of the validation split in the ranking metric, around a simple baseline fitted on train."""
    problem = charter.problem
    task = problem.task
    metric = problem.ranking_metric or question("problem.ranking_metric").default_value(task)
    target = settings["target"]
    train = subsample(frames.train[frames.train[target].notna()], BASELINE_MAX_ROWS, seed)
    valid = frames.valid[frames.valid[target].notna()]
    n = len(valid)
    y_train, y_valid, classes = _targets(train[target], valid[target], task)
    columns = _baseline_columns(train, feature_columns(train, settings, charter.data.drop_columns))
    scores = _reference_scores(train, y_train, valid, columns, task, len(classes))
    metric_fn = _metric(metric, task, len(classes), charter)
    reference = float(metric_fn(y_valid, scores))
    if metric in ANALYTIC_METRICS:
        method, std_error = "analytic", math.sqrt(reference * (1 - reference) / n)
        mde = mde_accuracy(reference, n)
        formula = "(z(1-α/2) + z(power)) · sqrt(2 p (1 - p) / n)"
    else:
        values = bootstrap_values(metric_fn, y_valid, scores, n=RESAMPLES, seed=seed)[:, 0]
        method, std_error = "bootstrap", float(np.nanstd(values, ddof=1))
        mde = _z(ALPHA, POWER) * math.sqrt(2) * std_error
        formula = "(z(1-α/2) + z(power)) · sqrt(2) · SE, SE from bootstrap resamples of the validation rows"
    return DevPower(
        metric=metric,
        metric_is_default=problem.ranking_metric is None,
        n=n,
        method=method,
        formula=formula,
        std_error=std_error,
        mde=mde,
        model="logistic regression" if task == "classification" else "ridge regression",
        columns=len(columns[0]) + len(columns[1]),
        reference=reference,
    )


def check_dev_power(
    frames: SplitFrames, settings: dict[str, Any], charter: Charter, *, seed: int = 0
) -> CheckReport:
    """Measure the validation split's MDE in the ranking metric and compare it with the charter's need.

    With no ``problem.smallest_improvement`` in the charter there is no need to compare with: the gain the
    dev set can show becomes the working value (for training's verdict and the baseline gate), and the
    check is a warning that says so, never proof.
    """
    power = measure_dev_power(frames, settings, charter, seed=seed)
    metric, n, mde = power.metric, power.n, power.mde
    stated = charter.problem.smallest_improvement
    needed = stated if stated is not None else derived_improvement(mde)
    is_powered = mde <= needed
    more = None if is_powered else rows_needed(n, mde, needed)
    findings: tuple[Finding, ...] = ()
    if stated is None:
        verdict: Verdict = "warn"
        summary = (
            f"{n:,} validation rows detect a {metric} change of {mde:.4g}; problem.smallest_improvement is "
            f"not answered, so gains are judged against {needed:g}, the smallest this dev set can show"
        )
        findings = (
            Finding(
                check="dev_power",
                verdict="warn",
                message=f"{summary}: set problem.smallest_improvement in taxiway.toml to the gain that "
                f"matters to the project (this dev set can show {needed:g} or more)",
                count=n,
                figures={"derived": needed},
            ),
        )
    elif is_powered:
        verdict = "pass"
        summary = (
            f"{n:,} validation rows detect a {metric} change of {mde:.4g}, within the {needed:g} that matters"
        )
    else:
        verdict = "fail"
        advice = advise(n=n, mde=mde, needed=needed, rows=_labelled_rows(frames, settings), charter=charter)
        summary = (
            f"{n:,} validation rows detect a {metric} change of {mde:.4g}, more than the {needed:g} that "
            f"matters; about {more:,} rows are needed"
        )
        findings = (
            Finding(
                check="dev_power",
                verdict="fail",
                message=f"the validation split is too small: {n:,} rows detect {mde:.4g}, not {needed:g}; "
                f"about {more:,} validation rows are needed: {advice.text}",
                count=n,
                figures={"rows_needed": more, **advice.figures},
            ),
        )
    return CheckReport(
        check=Check.DATA_DEV_POWER,
        verdict=verdict,
        summary=summary,
        # The measured MDE against the gain that matters (problem.smallest_improvement): pass when the dev set
        # can detect it. Unanswered, the threshold is what the dev set can show, so the check holds by
        # construction: a warning (not proof) until the charter says which gain matters.
        value=mde,
        limit=Limit(needed, "<=", key="problem.smallest_improvement" if stated is not None else None),
        warn="problem.smallest_improvement is not answered: the dev set is judged against what it can "
        "show itself"
        if stated is None
        else None,
        figures=(
            ("ranking metric", metric + (" (default)" if power.metric_is_default else "")),
            ("validation rows", f"{n:,}"),
            ("reference", f"{power.model} on train: {metric} {power.reference:.4g}"),
            ("smallest detectable improvement", f"{mde:.4g} ({power.method}, α {ALPHA:g}, power {POWER:g})"),
            (
                "smallest improvement that matters",
                f"{needed:g}" + (" (derived from the dev set: unanswered)" if stated is None else ""),
            ),
            ("validation rows needed", f"{more:,}" if more is not None else "-"),
        ),
        findings=findings,
        details={
            "verdict": verdict,
            "metric": metric,
            "metric_is_default": power.metric_is_default,
            "method": power.method,
            "formula": power.formula,
            "n_valid": n,
            "alpha": ALPHA,
            "power": POWER,
            "reference": {"model": power.model, "columns": power.columns, "score": power.reference},
            "std_error": power.std_error,
            "mde": mde,
            "smallest_improvement": needed,
            "smallest_improvement_is_default": stated is None,
            "rows_needed": more,
            "advice": findings[0].figures if findings and verdict == "fail" else None,
        },
    )


def smallest_improvement(
    frames: SplitFrames, settings: dict[str, Any], charter: Charter, *, seed: int = 0
) -> tuple[float, bool]:
    """The smallest gain that matters, and whether it was derived: the charter's answer, else the smallest
    gain the split's dev set can show (what `taxiway data check` reports as derived)."""
    stated = charter.problem.smallest_improvement
    if stated is not None:
        return stated, False
    return derived_improvement(measure_dev_power(frames, settings, charter, seed=seed).mde), True


def _labelled_rows(frames: SplitFrames, settings: dict[str, Any]) -> int:
    target = settings["target"]
    return sum(int(frame[target].notna().sum()) for _, frame in frames.items())


def _z(alpha: float, power: float) -> float:
    normal = NormalDist()
    return normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)


def _targets(train: pd.Series, valid: pd.Series, task: str) -> tuple[NDArray[Any], NDArray[Any], list[str]]:
    """Regression targets as floats; class labels as codes 0..k-1 of every class seen (sorted as text)."""
    if task == "regression":
        return train.to_numpy(dtype=np.float64), valid.to_numpy(dtype=np.float64), []
    classes = sorted({str(v) for v in [*train.tolist(), *valid.tolist()]})
    code = {label: i for i, label in enumerate(classes)}

    def encode(values: pd.Series) -> NDArray[np.int64]:
        return np.asarray([code[str(v)] for v in values.tolist()], dtype=np.int64)

    return encode(train), encode(valid), classes


def _baseline_columns(train: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    numeric = [c for c in features if is_numeric(train[c])]
    text = [c for c in features if c not in numeric and train[c].nunique() <= MAX_CATEGORIES]
    return numeric, text


def _inputs(frame: pd.DataFrame, columns: tuple[list[str], list[str]]) -> pd.DataFrame:
    numeric, text = columns
    data: dict[str, Any] = {f"n{i}": as_numbers(frame[c]) for i, c in enumerate(numeric)}
    for i, c in enumerate(text):
        values = frame[c].astype(object).tolist()
        data[f"t{i}"] = np.asarray(["(missing)" if pd.isna(v) else str(v) for v in values], dtype=object)
    return pd.DataFrame(data, index=range(len(frame)))


def _reference_scores(
    train: pd.DataFrame,
    y_train: NDArray[Any],
    valid: pd.DataFrame,
    columns: tuple[list[str], list[str]],
    task: str,
    n_classes: int,
) -> NDArray[np.float64]:
    """The baseline's validation scores: P(class 1) for two classes, all probabilities for more, values."""
    x_train, x_valid = _inputs(train, columns), _inputs(valid, columns)
    names = [str(c) for c in x_train.columns]
    numeric = [c for c in names if c.startswith("n") and not np.isnan(x_train[c].to_numpy()).all()]
    text = [c for c in names if c.startswith("t")]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        parts.append(("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric))
    if text:
        parts.append(("categories", OneHotEncoder(handle_unknown="ignore"), text))
    if not parts:  # no usable column: the train mean or class shares, the weakest reference there is
        x_train, x_valid = (
            pd.DataFrame({"c": np.zeros(len(train))}),
            pd.DataFrame({"c": np.zeros(len(valid))}),
        )
        parts.append(("constant", "passthrough", ["c"]))
    head = LogisticRegression(max_iter=1000) if task == "classification" else Ridge(alpha=1.0)
    model = make_pipeline(ColumnTransformer(parts), head)
    with warnings.catch_warnings(), threadpool_limits(limits=1):  # one thread: see distribution._adversarial
        warnings.simplefilter("ignore", ConvergenceWarning)  # a reference needs to be reasonable, not optimal
        model.fit(x_train, y_train)
    if task == "regression":
        return np.asarray(model.predict(x_valid), dtype=np.float64)
    # A class the train sample lacks gets probability 0, so columns line up with the codes of all classes.
    proba = np.zeros((len(valid), n_classes))
    proba[:, np.asarray(model[-1].classes_, dtype=np.int64)] = model.predict_proba(x_valid)
    return proba[:, 1] if n_classes == 2 else proba


def _metric(name: str, task: str, n_classes: int, charter: Charter) -> MetricFn:
    """The ranking metric as a function of (labels or values, scores), vectorised where it is a mean."""
    if task not in METRICS[name].tasks:  # the charter refuses this; callers passing their own may not
        raise ValueError(f"metric {name} does not fit task {task}")
    costs = charter.problem.costs
    cost = {
        key: (getattr(costs, key) if costs is not None and getattr(costs, key) is not None else None)
        or question(f"problem.costs.{key}").default
        for key in ("false_positive", "false_negative", "over_prediction", "under_prediction")
    }
    if task == "regression":
        regression: dict[str, MetricFn] = {
            "mae": MeanMetric(lambda y, s: np.abs(y - s)),
            "rmse": MeanMetric(lambda y, s: (y - s) ** 2, finish=np.sqrt),
            "r2": lambda y, s: float(skm.r2_score(y, s)),
            "mape": MeanMetric(lambda y, s: np.abs(y - s) / np.maximum(np.abs(y), 1e-12)),
            "expected_cost": MeanMetric(
                lambda y, s: (
                    cost["over_prediction"] * np.maximum(s - y, 0)
                    + cost["under_prediction"] * np.maximum(y - s, 0)
                )
            ),
        }
        return regression[name]
    binary = n_classes == 2
    labels = list(range(n_classes))
    predict: Callable[[NDArray[Any]], NDArray[Any]] = (
        (lambda s: (s >= 0.5).astype(np.int64)) if binary else (lambda s: np.argmax(s, axis=1))
    )
    proba: Callable[[NDArray[Any]], NDArray[Any]] = (
        (lambda s: np.column_stack([1 - s, s])) if binary else (lambda s: s)
    )
    average = "binary" if binary else "macro"
    # Cost-optimal threshold for calibrated probabilities: predict positive when p >= fp / (fp + fn).
    threshold = cost["false_positive"] / (cost["false_positive"] + cost["false_negative"] or 1.0)

    def onehot(y: NDArray[Any]) -> NDArray[np.float64]:
        return np.asarray(np.eye(n_classes)[y], dtype=np.float64)

    fp, fn = cost["false_positive"], cost["false_negative"]

    def binary_cost(y: NDArray[Any], s: NDArray[Any]) -> NDArray[np.float64]:
        return np.where((s >= threshold) & (y == 0), fp, 0.0) + np.where((s < threshold) & (y == 1), fn, 0.0)

    def wrong_class_cost(y: NDArray[Any], s: NDArray[Any]) -> NDArray[np.float64]:
        # A wrong class is a false negative for the true class and a false positive for the predicted one;
        # taxiway.measure.cost charges multiclass errors the mean of the two, and so does this.
        return np.asarray((predict(s) != y) * (fp + fn) / 2, dtype=np.float64)

    classification: dict[str, MetricFn] = {
        "accuracy": MeanMetric(lambda y, s: (predict(s) == y).astype(np.float64)),
        "balanced_accuracy": lambda y, s: float(skm.balanced_accuracy_score(y, predict(s))),
        "roc_auc": BinaryRocAuc()
        if binary
        else (lambda y, s: float(skm.roc_auc_score(y, s, multi_class="ovr", labels=labels))),
        "pr_auc": lambda y, s: float(skm.average_precision_score(onehot(y), proba(s), average="macro")),
        "log_loss": MeanMetric(lambda y, s: -np.log(np.clip(proba(s)[np.arange(len(y)), y], 1e-15, 1))),
        "f1": lambda y, s: float(skm.f1_score(y, predict(s), average=average, zero_division=0)),
        "precision": lambda y, s: float(skm.precision_score(y, predict(s), average=average, zero_division=0)),
        "recall": lambda y, s: float(skm.recall_score(y, predict(s), average=average, zero_division=0)),
        "brier": MeanMetric(lambda y, s: ((onehot(y) - proba(s)) ** 2).sum(axis=1) / (2 if binary else 1)),
        "expected_cost": MeanMetric(binary_cost if binary else wrong_class_cost),
    }
    return classification[name]
