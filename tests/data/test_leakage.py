"""Leakage checks find each planted problem, pass clean data, and preprocessing sees only train rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from taxiway.data.findings import CheckReport, SubCheck
from taxiway.data.leakage import check_leakage, fit_on_train
from taxiway.data.proxies import EXACT_CORRELATION
from taxiway.data.split import SplitFrames, split_dataset, split_frames
from taxiway.store import Store
from tests.data.split_helpers import add_frame, cancer, charter, diabetes, events, wine


def _check(
    store: Store, folder: Path, frame: pd.DataFrame, strategy: str | None = None, **sections: Any
) -> CheckReport:
    settings = charter(**sections)
    found = split_dataset(store, add_frame(store, folder, frame), settings, strategy=strategy).split  # type: ignore[arg-type]
    context = found.settings | {
        "group_column": settings.data.group_column,
        "time_column": settings.data.time_column,
    }
    return check_leakage(split_frames(store, found), context, strategy=found.strategy)


def _part(report: CheckReport, name: str) -> SubCheck:
    return next(part for part in report.parts if part.name == name)


def test_clean_data_passes(store: Store, tmp_path: Path) -> None:
    report = _check(store, tmp_path, cancer())
    assert report.verdict == "pass" and report.status == "pass", report.summary
    assert {part.name: part.verdict for part in report.parts} == {
        "duplicate_features": "pass",
        "duplicate_rows": "pass",
        "duplicates_within": "pass",
        "near_duplicates": "skipped",
        "group_overlap": "skipped",
        "time_overlap": "skipped",
        "target_leakage": "pass",
        "combinations": "pass",
        "post_event": "skipped",
        "id_like": "pass",
    }
    summary = _part(report, "target_leakage").summary
    assert summary.startswith("no column gives the target away (strongest: 'mean concavity' at ROC AUC 0.98")


def test_duplicates_across_splits_are_found(store: Store, tmp_path: Path) -> None:
    frame = cancer().assign(sample=lambda f: range(len(f)))
    copies = frame.head(200).assign(sample=lambda f: f["sample"] + 10_000)  # same rows under new keys
    flipped = frame.iloc[200:260].assign(
        sample=lambda f: f["sample"] + 20_000, label=lambda f: 1 - f["label"]
    )
    report = _check(store, tmp_path, pd.concat([frame, copies, flipped]), data={"key_column": "sample"})
    assert report.verdict == "fail" and report.status == "fail"
    rows, features = _part(report, "duplicate_rows"), _part(report, "duplicate_features")
    assert rows.verdict == features.verdict == "fail"
    # Rows repeated with a flipped label repeat on the features only, so features find more.
    assert sum(f.count or 0 for f in features.findings) > sum(f.count or 0 for f in rows.findings) > 0
    finding = rows.findings[0]
    assert "repeat a" in finding.message and finding.examples and "row_key" in finding.examples[0]
    assert finding.figures["share"] > 0.01 and "label" in finding.columns


def test_content_keys_keep_exact_duplicates_together(store: Store, tmp_path: Path) -> None:
    frame = cancer()
    report = _check(store, tmp_path, pd.concat([frame, frame.head(100)]))
    assert _part(report, "duplicate_rows").verdict == "pass"
    # ... so the copies are counted inside the data instead.
    within = _part(report, "duplicates_within")
    assert within.verdict == "warn" and within.findings[0].count == 100
    assert within.summary.startswith("100 rows (14.9%) are exact copies of another row")


@pytest.mark.parametrize(
    ("frame", "task", "measure"),
    [
        (cancer(), "classification", "ROC AUC"),
        (wine(), "classification", "ROC AUC"),
        (diabetes(), "regression", "R²"),
    ],
    ids=["binary", "multiclass", "regression"],
)
def test_a_target_copy_is_found(
    store: Store, tmp_path: Path, frame: pd.DataFrame, task: str, measure: str
) -> None:
    noise = np.random.default_rng(0).normal(scale=1e-3, size=len(frame))
    planted = frame.assign(leak=frame["label"] * 3 + 1 + noise)
    report = _check(store, tmp_path, planted, problem={"task": task})
    part = _part(report, "target_leakage")
    assert report.verdict == part.verdict == "fail"
    assert [f.columns for f in part.findings] == [("leak",)]
    assert part.findings[0].message.startswith("'leak' rebuilds 'label': |correlation| 1.0000 (limit 0.995)")
    assert "list 'leak' in data.drop_columns" in part.findings[0].message
    assert part.findings[0].figures["correlation"] >= EXACT_CORRELATION
    # The same column, relabelled by a lookup table (classes) or bent (values), is no linear copy: it still
    # dominates everything else.
    labels = frame["label"]
    bent = np.exp(labels / labels.std()) + noise if task == "regression" else labels.map({0: 40, 1: 7, 2: 19})
    part = _part(_check(store, tmp_path, frame.assign(leak=bent), problem={"task": task}), "target_leakage")
    assert part.verdict == "fail" and part.findings[0].columns == ("leak",), part.summary
    if task == "regression":
        assert part.findings[0].check == "dominant_column"
        assert f"'leak' alone predicts 'label' with {measure} 0.9" in part.findings[0].message
        assert part.findings[0].figures["error_ratio"] <= 0.1
    else:
        assert part.findings[0].check == "label_copy"
        assert "'leak' equals 'label' on 100.0% of validation rows" in part.findings[0].message


def test_an_id_column_is_a_warning(store: Store, tmp_path: Path) -> None:
    frame = cancer().assign(
        record=lambda f: np.arange(len(f)) + 1000, code=lambda f: [f"c{i}" for i in range(len(f))]
    )
    report = _check(store, tmp_path, frame)
    part = _part(report, "id_like")
    assert part.verdict == "warn" and report.verdict == "warn" and report.status == "warn"
    assert report.value == 0.0 and report.warn is not None and "id_like" in report.warn
    messages = {f.columns[0]: f.message for f in part.findings}
    assert set(messages) == {"record", "code"}
    assert "a running number" in messages["record"] and "unique per row" in messages["code"]


def test_group_overlap(store: Store, tmp_path: Path) -> None:
    grouped: dict[str, Any] = {"data": {"group_column": "user"}}
    random = _check(store, tmp_path, events(1500), strategy="random", **grouped)
    part = _part(random, "group_overlap")
    assert random.verdict == part.verdict == "fail"
    assert "user values are in both train and valid" in part.findings[0].message
    assert part.findings[0].figures["groups"] > 0 and part.findings[0].examples
    assert _part(_check(store, tmp_path, events(1500), **grouped), "group_overlap").verdict == "pass"
    # With a time split the same group on both sides is what production sees: a warning.
    timed = _check(store, tmp_path, events(1500), data={"group_column": "user", "time_column": "when"})
    assert _part(timed, "group_overlap").verdict == "warn" and timed.status == "warn"


def test_group_overlap_on_a_constructed_split() -> None:
    rows = pd.DataFrame({"user": ["a", "b", "c", "a"], "x": [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 0, 1]})
    frames = SplitFrames(train=rows.iloc[:2], valid=rows.iloc[2:3], test=rows.iloc[3:])
    settings = {"target": "label", "task": "classification", "key_column": None, "group_column": "user"}
    part = _part(check_leakage(frames, settings, strategy="group"), "group_overlap")
    assert part.verdict == "fail" and part.findings[0].message.startswith(
        "1 user values are in both train and test"
    )


def test_time_overlap(store: Store, tmp_path: Path) -> None:
    timed: dict[str, Any] = {"data": {"time_column": "when"}, "split": {"time_holdout": "sequential"}}
    ordered = _part(_check(store, tmp_path, events(1500), **timed), "time_overlap")
    assert ordered.verdict == "pass" and "valid starts 0.04 days after train ends" in ordered.summary
    mixed = _check(store, tmp_path, events(1500), strategy="random", **timed)
    part = _part(mixed, "time_overlap")
    assert part.verdict == "warn" and mixed.status == "warn"
    assert (
        "valid rows are earlier than the last train row" in part.summary and "--strategy time" in part.summary
    )


def test_preprocessing_is_fit_on_train_only(store: Store, tmp_path: Path) -> None:
    frame = cancer()
    found = split_dataset(store, add_frame(store, tmp_path, frame), charter()).split
    frames = split_frames(store, found)
    scaler = fit_on_train(StandardScaler(), frames, "label")
    features = frames.train.drop(columns=["label"])
    np.testing.assert_allclose(scaler.mean_, features.mean().to_numpy())
    assert not np.allclose(scaler.mean_, frame.drop(columns=["label"]).mean().to_numpy())
    assert scaler.n_samples_seen_ == len(frames.train) < len(frame)
    # A whole pipeline, on chosen columns, learns from the same rows.
    model = fit_on_train(make_pipeline(StandardScaler()), frames, "label", columns=["mean radius"])
    assert model[0].mean_.tolist() == [frames.train["mean radius"].mean()]
