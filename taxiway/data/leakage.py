"""Leakage checks on a split: rows repeated across splits or inside the data, groups and times that span
splits, columns and combinations that give the target away, post-event columns, and columns that look like
row ids.

Verdicts: repeated rows above :data:`DUPLICATE_SHARE_MAX` of a split, a group in two splits of a group or
random split, and target proxies (:mod:`taxiway.data.proxies`: label copies, exact copies, columns or pairs
that dominate the rest of the data, post-event columns) fail the check. A few repeated rows, copies and
conflicting labels inside the data (:mod:`taxiway.data.duplicates`), a group or a time that spans a split the
strategy does not keep apart, and id-like columns are warnings: the evidence still passes (the checklist
counts only "pass" as proof, and a warning is not proof of leakage), and its details list them.

Preprocessing is fit on the training split only, by construction: feature code lives inside the estimator
pipeline (DESIGN.md, "Contracts"), and :func:`fit_on_train` hands that pipeline the train rows alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import pandas as pd

from taxiway.data._assign import time_ns
from taxiway.data._frames import examples, feature_columns, is_numeric
from taxiway.data._row_hashes import RowHashes, isin
from taxiway.data.duplicates import DUPLICATE_SHARE_MAX, duplicates_within, near_duplicates
from taxiway.data.findings import CheckReport, Finding, SubCheck, Verdict, worst
from taxiway.data.proxies import SCREEN_TRAIN_ROWS, screen_proxies
from taxiway.data.split import SplitFrames, SplitName
from taxiway.errors import DataError
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit

ID_DISTINCT_SHARE = 0.99  # an integer or text column this close to unique per row names rows
ID_MIN_ROWS = 50  # on fewer rows, every column of a small table looks unique
_SHOWN_COLUMNS = 8  # columns in an example row; JSON readers get the columns list
_PAIRS: tuple[tuple[SplitName, SplitName], ...] = (("train", "valid"), ("train", "test"), ("valid", "test"))

Estimator = TypeVar("Estimator", bound="Fittable")

__all__ = ["DUPLICATE_SHARE_MAX", "check_leakage", "fit_on_train"]


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
    frames: SplitFrames,
    settings: dict[str, Any],
    *,
    strategy: str,
    drop: Sequence[str] = (),
    seed: int = 0,
    event: str | None = None,
) -> CheckReport:
    """Look for every kind of leakage between the splits of one split; see the module docstring for verdicts.

    Args:
        settings: the split's settings (target, task, key, group and time columns).
        strategy: the split's strategy; it decides whether a group or time overlap is a failure.
        drop: the charter's ``data.drop_columns``, which never reach a model and are not screened.
        event: the charter's ``problem.event``; with it, or with a time column, rows are events and
            columns known only after the outcome are looked for.
    """
    features = feature_columns(frames.train, settings, drop)
    # Repeats are judged on the whole record (all but key and target), dropped columns included: two
    # flights on the same schedule differ by their date, and are two events, not one copied.
    record = feature_columns(frames.train, settings)
    time_column = settings.get("time_column")
    events = f"data.time_column '{time_column}'" if time_column else None
    if event:
        events = f"problem.event '{event}'"
    proxies = screen_proxies(frames, features, settings, events=events, seed=seed)
    everything = pd.concat([frame for _, frame in frames.items()])
    hashes = RowHashes({**dict(frames.items()), "all": everything})
    parts = (
        _duplicates(frames, hashes, record, "duplicate_features", "every column but the key and target"),
        _duplicates(
            frames, hashes, [*record, settings["target"]], "duplicate_rows", "every column but the key"
        ),
        duplicates_within(everything, settings, hashes),
        near_duplicates(frames, settings, strategy, hashes),
        _group_overlap(frames, settings.get("group_column"), strategy),
        _time_overlap(frames, time_column, strategy, shuffled=settings.get("holdout") == "shuffled"),
        proxies.target_leakage,
        proxies.combinations,
        proxies.post_event,
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
    if len(frames.train) > SCREEN_TRAIN_ROWS:
        screened = proxies.figures.get("screened_rows", {})
        notes.append(
            f"target proxies screened on {screened.get('train', 0):,} train and {screened.get('valid', 0):,} "
            "validation rows, drawn at random"
        )
    failing = [part.name for part in parts if part.verdict == "fail"]
    warned = [part.name for part in parts if part.verdict == "warn"]
    return CheckReport(
        check=Check.DATA_LEAKAGE,
        verdict=verdict,
        summary=summary,
        # A test that can fail: the count of leakage checks that found a blocking leak, none allowed.
        value=float(len(failing)),
        limit=Limit(0, "<="),
        warn=f"no blocking leakage, but look at: {', '.join(warned)}" if warned else None,
        figures=tuple((part.name, f"{part.verdict}: {part.summary}") for part in parts),
        parts=parts,
        details={
            "verdict": verdict,
            "checks": [part.document() for part in parts],
            "proxies": proxies.figures,
            "notes": notes,
        },
        notes=tuple(notes),
    )


def _duplicates(
    frames: SplitFrames, row_hashes: RowHashes, columns: list[str], name: str, described: str
) -> SubCheck:
    hashes = {split: row_hashes.of(split, columns) for split, _ in frames.items()}
    parts = dict(frames.items())
    findings = []
    for earlier, later in _PAIRS:
        repeated = isin(hashes[later], hashes[earlier])
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


def _time_overlap(
    frames: SplitFrames, column: str | None, strategy: str, *, shuffled: bool = False
) -> SubCheck:
    if column is None:
        return SubCheck("time_overlap", "skipped", "the charter names no time column (data.time_column)")
    try:
        times = {split: time_ns(frame, column) for split, frame in frames.items()}
    except DataError as error:
        return SubCheck("time_overlap", "skipped", error.message)
    parts = dict(frames.items())
    findings, facts = [], []
    for earlier, later in _PAIRS:
        if shuffled and (earlier, later) == ("valid", "test"):
            # A shuffled holdout draws validation and test from the same recent period, on purpose.
            facts.append("validation and test share the recent period (split.time_holdout = shuffled)")
            continue
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
