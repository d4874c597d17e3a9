"""Same distribution: can validation (dev) rows be told apart from test rows, by a model or column by column?

Two tests, both on the feature columns:

- **adversarial validation**: a gradient-boosted classifier learns to tell validation rows from test rows;
  its cross-validated ROC AUC (with a bootstrap interval) is near 0.5 when the two are alike. A group split
  uses group-wise folds, so the classifier cannot score by recognising groups it saw in training.
- **per-column two-sample tests**: Kolmogorov-Smirnov for numbers (and times), chi-square on a contingency
  table for categories, with Holm's correction across columns (it bounds the chance of flagging any column
  of truly alike sets by :data:`ALPHA`). A group split tests one random row per group, so rows of one
  group do not count as independent evidence.

Judgement: the adversarial AUC is the measured value, judged against the charter's
``split.max_adversarial_auc`` (default :data:`ADVERSARIAL_AUC_MAX`); above it the check fails, whatever the
split strategy. A time split with ``split.time_holdout = "sequential"`` puts validation and test in
consecutive periods, so they often differ: the dev score then stops predicting the test score, and the
check says so (the default, ``shuffled``, draws both from the same recent period). Columns that differ
after correction while the AUC stays within the limit make a warning. With no adversarial AUC (no feature
columns, too few rows) the count of differing columns is the value, none allowed. The time column itself
(and a group split's group column) is left out: it differs by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import chi2_contingency, ks_2samp  # type: ignore[import-untyped, unused-ignore]
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

from taxiway.data._frames import as_numbers, feature_columns, is_numeric, numeric_matrix
from taxiway.data.findings import CheckReport, Finding, Verdict
from taxiway.data.split import SplitFrames
from taxiway.measure.bootstrap import BinaryRocAuc, bootstrap_ci
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit

# A classifier that tells dev from test rows with AUC above 0.6 finds a difference a model can exploit: the
# dev score stops predicting the test score. Below it, differences are too faint to matter for selection.
ADVERSARIAL_AUC_MAX = 0.6
ADVERSARIAL_MAX_ROWS = 20_000  # validation + test rows the classifier sees; keeps 20k-row data ~1 s
ADVERSARIAL_FOLDS = 5
ADVERSARIAL_RESAMPLES = 500  # bootstrap resamples of the AUC interval
ALPHA = 0.05  # family-wise error rate of the per-column tests (Holm)
MAX_LEVELS = 20  # chi-square: categories past the 20 most frequent are pooled into one "other" level
TOP_COLUMNS = 5  # columns listed as findings, the most different first

__all__ = ["ADVERSARIAL_AUC_MAX", "ALPHA", "Adversarial", "ColumnTest", "check_same_distribution", "holm"]


@dataclass(frozen=True)
class ColumnTest:
    """One column's two-sample test: ``effect`` is the KS statistic or Cramér's V (0 = alike, 1 = apart)."""

    column: str
    test: str  # "ks" or "chi2"
    statistic: float
    effect: float
    p_value: float
    p_adjusted: float = 1.0

    @property
    def differs(self) -> bool:
        return self.p_adjusted < ALPHA

    def document(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "test": self.test,
            "statistic": self.statistic,
            "effect": self.effect,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "differs": self.differs,
        }


@dataclass(frozen=True)
class Adversarial:
    """Cross-validated ROC AUC of a classifier telling validation (0) from test (1) rows."""

    auc: float
    low: float
    high: float
    rows: int
    folds: int
    cv: str  # "stratified" or "group"

    @property
    def has_shift(self) -> bool:
        return self.auc > ADVERSARIAL_AUC_MAX and self.low > 0.5

    def document(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "ci_low": self.low,
            "ci_high": self.high,
            "threshold": ADVERSARIAL_AUC_MAX,
            "rows": self.rows,
            "folds": self.folds,
            "cv": self.cv,
            "has_shift": self.has_shift,
        }


def holm(p_values: Sequence[float]) -> NDArray[np.float64]:
    """Holm-adjusted p-values: compare each with the family-wise level (step-down, monotone, at most 1).

    Example:
        >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def check_same_distribution(
    frames: SplitFrames,
    settings: dict[str, Any],
    *,
    strategy: str,
    drop: Sequence[str] = (),
    seed: int = 0,
    max_auc: float = ADVERSARIAL_AUC_MAX,
) -> CheckReport:
    """Compare the validation and test rows of a split; see the module docstring for the judgement.

    Args:
        max_auc: the charter's ``split.max_adversarial_auc``.
    """
    skip = {settings.get("time_column") if strategy == "time" else None}
    skip |= {settings.get("group_column") if strategy == "group" else None}
    columns = [c for c in feature_columns(frames.valid, settings, drop) if c not in skip]
    group = settings.get("group_column") if strategy == "group" else None
    adversarial = _adversarial(frames.valid, frames.test, columns, group, seed)
    tests = column_tests(*_one_row_per_group(frames, group, seed), columns)
    differing = [t for t in tests if t.differs]
    auc_shift = adversarial is not None and adversarial.auc > max_auc
    verdict: Verdict = "fail" if auc_shift else ("warn" if differing else "pass")
    if adversarial is None:
        verdict = "fail" if differing else "pass"

    auc_text = "not run (no feature columns)" if not columns else "not run (too few rows or groups)"
    if adversarial is not None:
        auc_text = (
            f"{adversarial.auc:.3f} [{adversarial.low:.3f}, {adversarial.high:.3f}] (limit {max_auc:g})"
        )
    most = ", ".join(t.column for t in differing[:TOP_COLUMNS])
    shift_text = f"adversarial ROC AUC {auc_text}; {len(differing)} of {len(tests)} columns differ" + (
        f" (most: {most})" if most else ""
    )
    sequential = strategy == "time" and settings.get("holdout", "sequential") == "sequential"
    advice = (
        '; validation and test are consecutive periods: set split.time_holdout = "shuffled" in '
        "taxiway.toml to draw both from the same recent period"
        if sequential
        else ""
    )
    summary = {
        "pass": f"validation and test look alike: {shift_text}",
        "warn": f"validation and test look alike as a whole, but columns differ: {shift_text}",
        "fail": f"validation and test differ: {shift_text}{advice}",
    }[verdict]
    if adversarial is not None:
        value, limit = adversarial.auc, Limit(max_auc, "<=", key="split.max_adversarial_auc")
    else:
        value, limit = float(len(differing)), Limit(0, "<=")
    warn = f"{len(differing)} columns differ after Holm's correction" if differing and not auc_shift else None
    if adversarial is None and not tests:
        warn = "nothing to compare: no feature column"
    findings = tuple(
        Finding(
            check="column_shift",
            verdict=verdict,
            message=f"'{t.column}' differs ({'Kolmogorov-Smirnov' if t.test == 'ks' else 'chi-square'} "
            f"effect {t.effect:.3f}, Holm-adjusted p {_p_text(t.p_adjusted)})",
            columns=(t.column,),
            figures=t.document(),
        )
        for t in differing[:TOP_COLUMNS]
    )
    notes = []
    if len(frames.valid) + len(frames.test) > ADVERSARIAL_MAX_ROWS:
        notes.append(
            f"adversarial validation ran on {ADVERSARIAL_MAX_ROWS:,} sampled validation and test rows"
        )
    if group is not None:
        notes.append(f"column tests used one random row per '{group}' value")
    return CheckReport(
        check=Check.DATA_SAME_DISTRIBUTION,
        verdict=verdict,
        summary=summary,
        value=value,
        limit=limit,
        warn=warn,
        figures=(
            ("adversarial ROC AUC", auc_text),
            ("columns that differ", f"{len(differing)} of {len(tests)} (Holm, α {ALPHA:g})"),
            (
                "most different (effect)",
                ", ".join(f"{t.column} {t.effect:.3f}" for t in tests[:TOP_COLUMNS]) or "-",
            ),
        ),
        findings=findings,
        details={
            "verdict": verdict,
            "max_adversarial_auc": max_auc,
            "holdout": settings.get("holdout"),
            "adversarial": adversarial.document() if adversarial is not None else None,
            "correction": "holm",
            "alpha": ALPHA,
            "columns": [t.document() for t in tests],
            "notes": notes,
        },
        notes=tuple(notes),
    )


def column_tests(valid: pd.DataFrame, test: pd.DataFrame, columns: Sequence[str]) -> list[ColumnTest]:
    """Two-sample tests of each column, Holm-adjusted, the most different first.

    Example:
        >>> a = pd.DataFrame({"x": np.arange(200.0)}); b = pd.DataFrame({"x": np.arange(200.0) + 150})
        >>> [(t.column, t.test, t.differs) for t in column_tests(a, b, ["x"])]
        [('x', 'ks', True)]
    """
    raw = [t for t in (_test(valid[c], test[c], c) for c in columns) if t is not None]
    adjusted = holm([t.p_value for t in raw]) if raw else np.array([])
    tests = [
        ColumnTest(t.column, t.test, t.statistic, t.effect, t.p_value, float(p))
        for t, p in zip(raw, adjusted, strict=True)
    ]
    return sorted(tests, key=lambda t: (t.p_adjusted, -t.effect, t.column))


def _test(valid: pd.Series, test: pd.Series, column: str) -> ColumnTest | None:
    if is_numeric(valid) and is_numeric(test):
        a, b = as_numbers(valid), as_numbers(test)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) == 0 or len(b) == 0:
            return None
        result = ks_2samp(a, b)
        return ColumnTest(
            column, "ks", float(result.statistic), float(result.statistic), float(result.pvalue)
        )
    text = pd.concat([valid, test]).astype(object).map(lambda v: "(missing)" if pd.isna(v) else str(v))
    top = text.value_counts().index[:MAX_LEVELS]
    levels = text.where(text.isin(top), "(other)")
    side = np.repeat(["valid", "test"], [len(valid), len(test)])
    table = pd.crosstab(levels.to_numpy(), side)
    if table.shape[0] < 2:
        return None
    chi2, p_value, _, _ = chi2_contingency(table.to_numpy())
    effect = float(np.sqrt(chi2 / table.to_numpy().sum()))  # Cramér's V with two columns
    return ColumnTest(column, "chi2", float(chi2), effect, float(p_value))


def _adversarial(
    valid: pd.DataFrame, test: pd.DataFrame, columns: list[str], group: str | None, seed: int
) -> Adversarial | None:
    if not columns:
        return None
    chosen = _positions(len(valid) + len(test), ADVERSARIAL_MAX_ROWS, seed)
    rows = pd.concat([valid, test]).iloc[chosen]
    is_test = np.repeat([0, 1], [len(valid), len(test)])[chosen]
    smaller = int(min(is_test.sum(), len(is_test) - is_test.sum()))
    if group is not None:
        groups = rows[group].astype(str).to_numpy()
        # Every training fold needs groups of both sides: no more folds than either side has groups.
        folds = min(ADVERSARIAL_FOLDS, *(len(set(groups[is_test == side])) for side in (0, 1)))
        cv: Any = StratifiedGroupKFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
    else:
        groups = None
        folds = min(ADVERSARIAL_FOLDS, smaller)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    if folds < 2 or smaller < 2:
        return None
    model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
    matrix = numeric_matrix(rows, columns)
    # One thread: on fits this small, OpenMP start-up and spin-waits cost more than they save (measured on
    # 2 cores: 1.6 s per 5,000-row fit with all threads, 0.19 s with one).
    with threadpool_limits(limits=1):
        scores = cross_val_predict(model, matrix, is_test, cv=cv, groups=groups, method="predict_proba")[:, 1]
    interval = bootstrap_ci(BinaryRocAuc(), is_test, scores, n=ADVERSARIAL_RESAMPLES, seed=seed)
    return Adversarial(
        interval.estimate, interval.low, interval.high, len(rows), folds, "group" if group else "stratified"
    )


def _p_text(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-16 else "< 1e-16"  # below double precision near 1, "0" would mislead


def _positions(total: int, cap: int, seed: int) -> NDArray[np.intp]:
    """At most ``cap`` of ``total`` positions, drawn reproducibly, in order."""
    if total <= cap:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=cap, replace=False))


def _one_row_per_group(
    frames: SplitFrames, group: str | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if group is None:
        return frames.valid, frames.test
    picked = []
    for frame in (frames.valid, frames.test):
        shuffled = frame.sample(frac=1.0, random_state=seed)
        picked.append(shuffled.drop_duplicates(subset=[group]))
    return picked[0], picked[1]
