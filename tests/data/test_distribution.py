"""Same distribution: a shifted test set is caught (whatever the split strategy), alike sets pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxiway.data.distribution import ADVERSARIAL_AUC_MAX, check_same_distribution, column_tests, holm
from taxiway.data.split import SplitFrames, split_dataset, split_frames
from taxiway.store import Store
from tests.data.split_helpers import add_frame, cancer, charter, events

SETTINGS = {"target": "label", "task": "classification", "key_column": None}


def _frames(shift: float = 0.0, *, colours: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)) -> SplitFrames:
    """Train/valid/test drawn alike, except test: ``x`` moved by ``shift``, colours drawn with ``colours``."""
    rng = np.random.default_rng(0)

    def part(rows: int, move: float, weights: tuple[float, ...]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": rng.normal(move, 1.0, rows),
                "z": rng.normal(0.0, 1.0, rows),
                "colour": rng.choice(["red", "green", "blue"], rows, p=list(weights)),
                "label": rng.integers(0, 2, rows),
            }
        )

    alike = (1 / 3, 1 / 3, 1 / 3)
    return SplitFrames(part(1400, 0.0, alike), part(400, 0.0, alike), part(400, shift, colours))


def test_alike_sets_pass() -> None:
    report = check_same_distribution(_frames(), SETTINGS, strategy="random")
    assert report.verdict == "pass" and report.status == "pass", report.summary
    adversarial = report.details["adversarial"]
    assert adversarial["auc"] < ADVERSARIAL_AUC_MAX and adversarial["cv"] == "stratified"
    assert adversarial["ci_low"] <= adversarial["auc"] <= adversarial["ci_high"]
    assert report.details["correction"] == "holm" and not any(c["differs"] for c in report.details["columns"])
    assert report.value == adversarial["auc"] and report.threshold == ADVERSARIAL_AUC_MAX


def test_a_shifted_test_set_fails() -> None:
    report = check_same_distribution(_frames(shift=0.8), SETTINGS, strategy="random")
    assert report.verdict == "fail" and report.status == "fail"
    assert report.details["adversarial"]["auc"] > ADVERSARIAL_AUC_MAX
    assert report.details["adversarial"]["has_shift"] is True
    assert [f.columns for f in report.findings] == [("x",)]  # the column that moved, and only it
    assert report.details["columns"][0]["column"] == "x" and report.details["columns"][0]["test"] == "ks"
    assert "validation and test differ" in report.summary and "(most: x)" in report.summary


def test_a_shifted_category_is_caught_by_chi_square() -> None:
    report = check_same_distribution(_frames(colours=(0.6, 0.3, 0.1)), SETTINGS, strategy="random")
    first = report.details["columns"][0]
    assert (first["column"], first["test"], first["differs"]) == ("colour", "chi2", True)
    assert report.verdict == "fail"


def test_a_time_split_whose_dev_and_test_differ_fails() -> None:
    settings = SETTINGS | {"time_column": "z", "holdout": "sequential"}
    report = check_same_distribution(_frames(shift=0.8), settings, strategy="time")
    assert report.verdict == "fail" and report.status == "fail"
    assert report.value > ADVERSARIAL_AUC_MAX and report.limit.key == "split.max_adversarial_auc"
    assert "validation and test differ" in report.summary and "adversarial ROC AUC" in report.summary
    assert 'split.time_holdout = "shuffled"' in report.summary
    assert "z" not in [c["column"] for c in report.details["columns"]]  # the time column differs by design


def test_the_charter_limit_decides() -> None:
    loose = check_same_distribution(_frames(shift=0.8), SETTINGS, strategy="random", max_auc=0.99)
    assert loose.status == "warn" and loose.threshold == 0.99  # columns still differ: a warning, not proof


def test_real_splits(store: Store, tmp_path: Path) -> None:
    clean = split_dataset(store, add_frame(store, tmp_path, cancer()), charter()).split
    report = check_same_distribution(split_frames(store, clean), clean.settings, strategy=clean.strategy)
    assert report.verdict == "pass", report.summary
    grouped = split_dataset(
        store, add_frame(store, tmp_path, events(2000)), charter(data={"group_column": "user"})
    )
    found = grouped.split
    report = check_same_distribution(split_frames(store, found), found.settings, strategy="group")
    assert report.details["adversarial"]["cv"] == "group"
    assert "user" not in [c["column"] for c in report.details["columns"]]
    assert "column tests used one random row per 'user' value" in report.notes


def test_holm() -> None:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
    assert holm([0.2, 0.1]).tolist() == [0.2, 0.2]  # monotone: never below an earlier step
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]  # capped at 1
    assert holm([]).tolist() == []


def test_column_tests_skip_what_cannot_be_tested() -> None:
    valid = pd.DataFrame({"empty": [np.nan, np.nan], "one": ["a", "a"]})
    assert column_tests(valid, valid, ["empty", "one"]) == []


@pytest.mark.parametrize("strategy", ["random", "group"])
def test_no_feature_columns(strategy: str) -> None:
    frames = SplitFrames(*(pd.DataFrame({"label": [0, 1] * 20}) for _ in range(3)))
    report = check_same_distribution(frames, SETTINGS, strategy=strategy)
    assert report.verdict == "pass" and report.details["adversarial"] is None and report.value == 0.0
    assert report.status == "warn" and report.warn == "nothing to compare: no feature column"


def test_too_few_groups_for_adversarial_validation() -> None:
    def part(groups: list[str], rows: int) -> pd.DataFrame:
        x = np.random.default_rng(len(groups)).normal(size=rows)
        return pd.DataFrame(
            {"user": [groups[i % len(groups)] for i in range(rows)], "x": x, "label": [0, 1] * (rows // 2)}
        )

    frames = SplitFrames(part(["a"], 40), part(["v"], 20), part(["t"], 20))
    report = check_same_distribution(frames, SETTINGS | {"group_column": "user"}, strategy="group")
    assert report.details["adversarial"] is None and "not run (too few rows or groups)" in report.summary
