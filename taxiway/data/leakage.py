"""Leakage checks on a split: rows repeated across splits, groups and times that span splits, a feature
that gives the target away, and columns that look like row ids.

Verdicts: repeated rows above :data:`DUPLICATE_SHARE_MAX` of a split, a group in two splits of a group or
random split, and a feature that alone predicts the target on validation fail the check. A few repeated
rows, a group or a time that spans a split the strategy does not keep apart, and id-like columns are
warnings: the evidence still passes (the checklist counts only "pass" as proof, and a warning is not proof
of leakage), and its details list them.

Preprocessing is fit on the training split only, by construction: feature code lives inside the estimator
pipeline (DESIGN.md, "Contracts"), and :func:`fit_on_train` hands that pipeline the train rows alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from taxiway.data._assign import row_hashes, time_ns
from taxiway.data._frames import as_numbers, categories, examples, feature_columns, is_numeric, subsample
from taxiway.data.findings import CheckReport, Finding, SubCheck, Verdict, worst
from taxiway.data.split import SplitFrames, SplitName
from taxiway.errors import DataError
from taxiway.store.checks import Check

# Past 1% of a split's rows repeated from another split, its metric moves by about as much as the smallest
# gains teams chase; below it a few coincidental repeats (small categorical data) are only worth a look.
DUPLICATE_SHARE_MAX = 0.01
# One feature that alone ranks the validation rows almost perfectly is a copy or a consequence of the target.
# Honest single signals score lower: the strongest column of sklearn's breast-cancer data reaches 0.97.
TARGET_AUC_MAX = 0.99
# R² of a depth-4 tree on an exact copy of a regression target is ~0.99 (16 leaves); the best single column
# of sklearn's diabetes data reaches 0.24.
TARGET_R2_MAX = 0.9
SCREEN_TREE_DEPTH = 4
SCREEN_MAX_ROWS = 20_000  # train and validation rows used to screen each feature; keeps 20k-row data ~1 s
ID_DISTINCT_SHARE = 0.99  # an integer or text column this close to unique per row names rows
ID_MIN_ROWS = 50  # on fewer rows, every column of a small table looks unique
_SHOWN_COLUMNS = 8  # columns in an example row; JSON readers get the columns list
_PAIRS: tuple[tuple[SplitName, SplitName], ...] = (("train", "valid"), ("train", "test"), ("valid", "test"))

Estimator = TypeVar("Estimator", bound="Fittable")

__all__ = ["DUPLICATE_SHARE_MAX", "TARGET_AUC_MAX", "TARGET_R2_MAX", "check_leakage", "fit_on_train"]


class Fittable(Protocol):
    """Anything with scikit-learn's ``fit(X, y)``."""

    def fit(self, X: Any, y: Any = ...) -> Any: ...


def fit_on_train(
    estimator: Estimator, frames: SplitFrames, target: str, columns: Sequence[str] | None = None
) -> Estimator:
    """Fit a transformer or model on the train rows only, so no statistic comes from validation or test.

    Example:
        >>> from sklearn.preprocessing import StandardScaler
        >>> frame = lambda xs: pd.DataFrame({"x": xs, "y": [0] * len(xs)})
        >>> frames = SplitFrames(train=frame([1.0, 3.0]), valid=frame([100.0]), test=frame([500.0]))
        >>> fit_on_train(StandardScaler(), frames, "y").mean_.tolist()
        [2.0]
    """
    train = frames.train
    inputs = train[list(columns)] if columns is not None else train.drop(columns=[target])
    estimator.fit(inputs, train[target])
    return estimator


def check_leakage(
    frames: SplitFrames, settings: dict[str, Any], *, strategy: str, drop: Sequence[str] = (), seed: int = 0
) -> CheckReport:
    """Look for every kind of leakage between the splits of one split; see the module docstring for verdicts.

    Args:
        settings: the split's settings (target, task, key, group and time columns).
        strategy: the split's strategy; it decides whether a group or time overlap is a failure.
        drop: the charter's ``data.drop_columns``, which never reach a model and are not screened.
    """
    features = feature_columns(frames.train, settings, drop)
    # Repeats are judged on the whole record (all but key and target), dropped columns included: two
    # flights on the same schedule differ by their date, and are two events, not one copied.
    record = feature_columns(frames.train, settings)
    parts = (
        _duplicates(frames, record, "duplicate_features", "every column but the key and target"),
        _duplicates(frames, [*record, settings["target"]], "duplicate_rows", "every column but the key"),
        _group_overlap(frames, settings.get("group_column"), strategy),
        _time_overlap(frames, settings.get("time_column"), strategy),
        _target_leakage(frames, features, settings, seed),
        _id_like(frames, features),
    )
    verdict = worst(part.verdict for part in parts)
    problems = [part.name for part in parts if part.verdict in ("fail", "warn")]
    summary = {
        "pass": "no leakage found",
        "warn": f"no blocking leakage; warnings: {', '.join(problems)}",
        "fail": f"leakage found: {', '.join(p.name for p in parts if p.verdict == 'fail')}",
    }[verdict if verdict in ("pass", "warn", "fail") else "pass"]
    notes = []
    if max(len(frames.train), len(frames.valid)) > SCREEN_MAX_ROWS:
        notes.append(f"target leakage screened on at most {SCREEN_MAX_ROWS:,} train and validation rows")
    return CheckReport(
        check=Check.DATA_LEAKAGE,
        verdict=verdict,
        summary=summary,
        figures=tuple((part.name, f"{part.verdict}: {part.summary}") for part in parts),
        parts=parts,
        details={"verdict": verdict, "checks": [part.document() for part in parts], "notes": notes},
        notes=tuple(notes),
    )


def _duplicates(frames: SplitFrames, columns: list[str], name: str, described: str) -> SubCheck:
    hashes = {split: row_hashes(frame, columns) for split, frame in frames.items()}
    parts = dict(frames.items())
    findings = []
    for earlier, later in _PAIRS:
        repeated = np.isin(hashes[later], hashes[earlier])
        count = int(repeated.sum())
        if count == 0:
            continue
        share = count / len(parts[later])
        findings.append(
            Finding(
                check=name,
                verdict="fail" if share > DUPLICATE_SHARE_MAX else "warn",
                message=f"{count:,} {later} rows ({share:.1%}) repeat a {earlier} row on {described}",
                columns=tuple(columns),
                count=count,
                examples=tuple(examples(parts[later][repeated], columns[:_SHOWN_COLUMNS])),
                figures={"splits": [earlier, later], "share": share},
            )
        )
    verdict = worst(f.verdict for f in findings)
    summary = "; ".join(f.message for f in findings) or f"no row repeats another split's row on {described}"
    return SubCheck(name, verdict, summary, tuple(findings))


def _group_overlap(frames: SplitFrames, column: str | None, strategy: str) -> SubCheck:
    if column is None:
        return SubCheck("group_overlap", "skipped", "the charter names no group column (data.group_column)")
    values = {split: set(frame[column].dropna().tolist()) for split, frame in frames.items()}
    parts = dict(frames.items())
    # A time split keeps past and future apart; the same group on both sides is what production will see.
    verdict: Verdict = "warn" if strategy == "time" else "fail"
    findings = []
    for earlier, later in _PAIRS:
        shared = values[earlier] & values[later]
        if not shared:
            continue
        rows = parts[later][parts[later][column].isin(shared)]
        findings.append(
            Finding(
                check="group_overlap",
                verdict=verdict,
                message=f"{len(shared):,} {column} values are in both {earlier} and {later} "
                f"({len(rows):,} {later} rows)",
                columns=(column,),
                count=len(rows),
                examples=tuple(examples(rows, [column])),
                figures={"splits": [earlier, later], "groups": len(shared)},
            )
        )
    summary = "; ".join(f.message for f in findings) or f"no {column} value is in two splits"
    if findings:
        summary += (
            " — expected with a time split: production meets known groups again"
            if strategy == "time"
            else f" — a model can score by recognising {column} values; use --strategy group"
        )
    return SubCheck("group_overlap", worst(f.verdict for f in findings), summary, tuple(findings))


def _time_overlap(frames: SplitFrames, column: str | None, strategy: str) -> SubCheck:
    if column is None:
        return SubCheck("time_overlap", "skipped", "the charter names no time column (data.time_column)")
    try:
        times = {split: time_ns(frame, column) for split, frame in frames.items()}
    except DataError as error:
        return SubCheck("time_overlap", "skipped", error.message)
    parts = dict(frames.items())
    findings, facts = [], []
    for earlier, later in _PAIRS:
        latest = times[earlier].max()
        before = times[later] < latest
        if not before.any():
            facts.append(
                f"{later} starts {(times[later].min() - latest) / 86_400e9:.2f} days after {earlier} ends"
            )
            continue
        findings.append(
            Finding(
                check="time_overlap",
                verdict="fail" if strategy == "time" else "warn",
                message=f"{int(before.sum()):,} {later} rows are earlier than the last {earlier} row",
                columns=(column,),
                count=int(before.sum()),
                examples=tuple(examples(parts[later][before], [column])),
                figures={"splits": [earlier, later]},
            )
        )
    summary = "; ".join([*(f.message for f in findings), *facts])
    if findings:
        advice = "" if strategy == "time" else "; use --strategy time to train only on the past"
        summary += f" — a model would learn from the future of rows it is evaluated on{advice}"
    return SubCheck("time_overlap", worst(f.verdict for f in findings), summary, tuple(findings))


def _target_leakage(
    frames: SplitFrames, features: list[str], settings: dict[str, Any], seed: int
) -> SubCheck:
    target, is_classification = settings["target"], settings["task"] == "classification"
    train = subsample(frames.train[frames.train[target].notna()], SCREEN_MAX_ROWS, seed)
    valid = subsample(frames.valid[frames.valid[target].notna()], SCREEN_MAX_ROWS, seed)
    y_train, y_valid = train[target], valid[target]
    if is_classification:
        y_train, y_valid = y_train.astype(str), y_valid.astype(str)
    limit, measure = (TARGET_AUC_MAX, "ROC AUC") if is_classification else (TARGET_R2_MAX, "R²")
    scores: dict[str, float] = {}
    for column in features if len(train) >= 2 and len(valid) >= 2 else ():
        book = None if is_numeric(train[column]) else categories(train[column])
        x_train = as_numbers(train[column], book).reshape(-1, 1)
        if np.isnan(x_train).all():
            continue
        x_valid = as_numbers(valid[column], book).reshape(-1, 1)
        if is_classification:
            tree = DecisionTreeClassifier(max_depth=SCREEN_TREE_DEPTH, random_state=seed)
            auc = _auc(y_valid.to_numpy(), tree.fit(x_train, y_train).predict_proba(x_valid), tree.classes_)
            if auc is not None:
                scores[column] = auc
        else:
            tree = DecisionTreeRegressor(max_depth=SCREEN_TREE_DEPTH, random_state=seed).fit(x_train, y_train)
            scores[column] = float(r2_score(y_valid, tree.predict(x_valid)))
    leaks = sorted((c for c in scores if scores[c] >= limit), key=lambda c: -scores[c])
    findings = tuple(
        Finding(
            check="target_leakage",
            verdict="fail",
            message=f"'{column}' alone predicts '{target}' on validation with {measure} {scores[column]:.3f} "
            f"(limit {limit:g}): it is probably a copy or a consequence of the target",
            columns=(column,),
            examples=tuple(examples(valid, [column, target])),
            figures={"score": scores[column], "threshold": limit},
        )
        for column in leaks
    )
    best = max(scores, key=scores.__getitem__, default=None)
    if leaks:
        summary = f"{len(leaks)} feature(s) give the target away: {', '.join(leaks)}"
    elif best is not None:
        summary = f"no single feature reaches {measure} {limit:g} (best: '{best}' at {scores[best]:.3f})"
    else:
        summary = "no feature to screen"
    return SubCheck("target_leakage", "fail" if leaks else "pass", summary, findings)


def _auc(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float | None:
    """Binary ROC AUC, or the mean one-vs-rest AUC over the classes validation holds; None if undefined."""
    aucs = [
        float(roc_auc_score(y_true == label, proba[:, i]))
        for i, label in enumerate(classes)
        if 0 < np.sum(y_true == label) < len(y_true)
    ]
    if not aucs:
        return None
    return aucs[-1] if len(classes) == 2 else float(np.mean(aucs))


def _id_like(frames: SplitFrames, features: list[str]) -> SubCheck:
    rows = pd.concat([frame for _, frame in frames.items()])
    findings = []
    if len(rows) >= ID_MIN_ROWS:
        for column in features:
            values = rows[column]
            integer = pd.api.types.is_integer_dtype(values.dtype)
            if not integer and is_numeric(values):
                continue  # floats, booleans and times are measurements, however many values they take
            distinct = int(values.nunique(dropna=True))
            if distinct < ID_DISTINCT_SHARE * len(rows):
                continue
            running = integer and int(values.max()) - int(values.min()) + 1 <= 1.05 * len(rows)
            kind = (
                "a running number"
                if running
                else "unique per row"
                if distinct == len(rows)
                else "almost unique"
            )
            findings.append(
                Finding(
                    check="id_like",
                    verdict="warn",
                    message=f"'{column}' looks like a row id ({kind}: {distinct:,} distinct values in "
                    f"{len(rows):,} rows); as a feature it lets a model memorise rows; set it as "
                    "data.key_column or list it in data.drop_columns",
                    columns=(column,),
                    count=distinct,
                    examples=tuple(examples(rows, [column])),
                )
            )
    summary = "; ".join(f.message.split(";")[0] for f in findings) or "no column looks like a row id"
    return SubCheck("id_like", worst(f.verdict for f in findings), summary, tuple(findings))
