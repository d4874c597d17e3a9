"""Dev and test from the same distribution under a time split: consecutive periods that drift fail with the
measured difference; the shuffled holdout (the default) draws both from the same recent period and passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxiway.data.checks import check_split
from taxiway.data.findings import CheckReport
from taxiway.data.split import split_dataset, split_frames
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence
from tests.data.split_helpers import add_frame, charter


def drifting(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Events one per hour whose ``x`` drifts upwards with time: later periods differ from earlier ones."""
    rng = np.random.default_rng(seed)
    hours = np.arange(rows)
    x = hours / rows * 12 + rng.normal(size=rows)
    return pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC"),
            "x": x,
            "z": rng.normal(size=rows),
            "label": (rng.normal(size=rows) + x / 12 > 0.5).astype("int64"),
        }
    )


def _checked(store: Store, tmp_path: Path, holdout: str) -> tuple[CheckReport, Evidence]:
    chosen = charter(data={"time_column": "when"}, split={"time_holdout": holdout})
    version = add_frame(store, tmp_path, drifting())
    made = split_dataset(store, version, chosen).split
    report = check_split(store, made, chosen)
    record = store.evidence.latest_about(Check.DATA_SAME_DISTRIBUTION, "split", made.id)
    assert record is not None
    return report.same_distribution, record


def test_consecutive_periods_that_drift_fail_with_the_measured_auc(store: Store, tmp_path: Path) -> None:
    report, record = _checked(store, tmp_path, "sequential")
    assert report.status == "fail", report.summary
    assert record.status == "fail"
    assert record.value > 0.6 and record.threshold == 0.6
    assert record.limit_key == "split.max_adversarial_auc"
    assert 'split.time_holdout = "shuffled"' in report.summary


def test_the_shuffled_holdout_draws_dev_and_test_from_the_same_recent_period(
    store: Store, tmp_path: Path
) -> None:
    report, record = _checked(store, tmp_path, "shuffled")
    assert record.status == "pass", report.summary
    assert record.value <= 0.6
    chosen = charter(data={"time_column": "when"})
    assert chosen.split.time_holdout == "shuffled"  # the default for time data
    made = split_dataset(store, add_frame(store, tmp_path, drifting(seed=1)), chosen).split
    frames = split_frames(store, made)
    # Training stays in the past; validation and test share the recent period.
    assert frames.train["when"].max() < min(frames.valid["when"].min(), frames.test["when"].min())
    assert frames.valid["when"].min() < frames.test["when"].max()
    assert frames.test["when"].min() < frames.valid["when"].max()
    shares = made.counts["valid"] / (made.counts["valid"] + made.counts["test"])
    assert shares == pytest.approx(0.5, abs=0.1)
    # The leakage check knows valid and test overlap in time on purpose.
    leakage = check_split(store, made, chosen).leakage
    overlap = next(part for part in leakage.parts if part.name == "time_overlap")
    assert overlap.verdict == "pass", overlap.summary
