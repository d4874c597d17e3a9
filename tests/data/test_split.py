"""Splits on every backend: strategies, stability as rows are added, versioning, frames, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxiway.data.split import (
    SPLIT_NAMES,
    Split,
    current_split,
    get_split,
    implied_strategy,
    load_manifest,
    row_keys,
    split_dataset,
    split_frames,
)
from taxiway.data.versions import load_dataset
from taxiway.errors import DataError, NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.checks import Check
from tests.data.split_helpers import add_frame, cancer, charter, diabetes, events, written


def _assignment(store: Store, split: Split) -> dict[str, str]:
    manifest = load_manifest(store, split)
    return dict(zip(manifest["row_key"], manifest["split"], strict=True))


def test_implied_strategy() -> None:
    assert implied_strategy(charter()) == "random"
    assert implied_strategy(charter(data={"group_column": "user"})) == "group"
    assert implied_strategy(charter(data={"group_column": "user", "time_column": "when"})) == "time"
    assert implied_strategy(charter(data={"time_column": "when"}, split={"strategy": "random"})) == "random"


def test_random_split_is_versioned_and_recorded(store: Store, tmp_path: Path) -> None:
    version = add_frame(store, tmp_path, cancer())
    result = split_dataset(store, version, charter())
    found = result.split
    assert result.is_new and found.strategy == "random" and found.dataset_id == version.id
    assert found.settings == {
        "target": "label",
        "task": "classification",
        "key_column": None,
        "valid_fraction": 0.15,
        "test_fraction": 0.15,
        "seed": 0,
    }
    counts = found.counts
    assert counts["rows"] == 569 and counts["dropped"] == 0
    assert sum(counts[name] for name in SPLIT_NAMES) == 569
    assert {label: sum(c.values()) for label, c in counts["classes"].items()} == {"0": 212, "1": 357}
    assert abs(counts["valid"] / 569 - 0.15) < 0.05 and abs(counts["test"] / 569 - 0.15) < 0.05

    evidence = store.evidence.latest([Check.DATA_SPLIT])[Check.DATA_SPLIT]
    assert (evidence.subject_kind, evidence.subject_id, evidence.status) == ("split", found.id, "pass")
    assert evidence.details["matches_charter"] is True and evidence.details["counts"] == counts

    before = written(store)
    again = split_dataset(store, version, charter())
    assert not again.is_new and again.split == found
    assert written(store) == before  # the re-run is a no-op
    assert current_split(store) == found == get_split(store, found.id[:6])


def test_assignment_is_deterministic_and_seeded(store: Store, tmp_path: Path) -> None:
    frame = cancer()
    first = split_dataset(store, add_frame(store, tmp_path, frame), charter()).split
    # The same rows in another file (another order, another version id) get the same assignment.
    shuffled = add_frame(store, tmp_path, frame.sample(frac=1.0, random_state=3))
    second = split_dataset(store, shuffled, charter()).split
    assert second.id != first.id and _assignment(store, second) == _assignment(store, first)
    reseeded = split_dataset(store, shuffled, charter(split={"seed": 7})).split
    changed = _assignment(store, reseeded)
    assert sum(changed[key] != value for key, value in _assignment(store, first).items()) > 100


def test_stratification_keeps_class_shares(store: Store, tmp_path: Path) -> None:
    frame = events(3000)  # label share ~21%
    found = split_dataset(store, add_frame(store, tmp_path, frame), charter()).split
    for label, per_split in found.counts["classes"].items():
        n_class = sum(per_split.values())
        for name, fraction in (("valid", 0.15), ("test", 0.15), ("train", 0.7)):
            share = per_split[name] / n_class
            # Stratified in expectation: within 3 binomial standard deviations of the fraction.
            assert abs(share - fraction) < 3 * math.sqrt(fraction * (1 - fraction) / n_class), (label, name)


@pytest.mark.parametrize("strategy", ["random", "group", "time"])
def test_old_rows_keep_their_split_when_rows_are_added(store: Store, tmp_path: Path, strategy: str) -> None:
    settings = charter(data={"group_column": "user", "time_column": "when"})
    old = events(1500)
    v1 = add_frame(store, tmp_path, old)
    first = split_dataset(store, v1, settings, strategy=strategy).split  # type: ignore[arg-type]
    # v2 appends later rows (new users too) and reorders the old ones.
    later = events(500, seed=1, start="2024-03-05", users=260)
    v2 = add_frame(store, tmp_path, pd.concat([later, old.sample(frac=1.0, random_state=1)]))
    assert v2.parent_id == v1.id
    second = split_dataset(store, v2, settings, strategy=strategy).split  # type: ignore[arg-type]
    before, after = _assignment(store, first), _assignment(store, second)
    assert len(after) == 2000
    assert all(after[key] == value for key, value in before.items())
    new_keys = set(after) - set(before)
    if strategy == "time":
        assert second.settings["valid_start"] == first.settings["valid_start"]
        assert second.settings["cuts_from"] == v1.id
        # Later rows fall into the recent period: validation or test (the shuffled holdout), never train.
        assert {after[key] for key in new_keys} == {"valid", "test"}
    else:
        assert {after[key] for key in new_keys} == {"train", "valid", "test"}


def test_time_split_orders_rows_and_drops_the_gap(store: Store, tmp_path: Path) -> None:
    frame = events(2000)
    version = add_frame(store, tmp_path, frame)
    settings = charter(data={"time_column": "when"}, split={"gap_days": 2, "time_holdout": "sequential"})
    found = split_dataset(store, version, settings).split
    assert found.strategy == "time" and found.counts["dropped"] == 2 * 48
    frames = split_frames(store, found)
    assert frames.train["when"].max() + pd.Timedelta(days=2) <= frames.valid["when"].min()
    assert frames.valid["when"].max() + pd.Timedelta(days=2) <= frames.test["when"].min()
    assert sum(len(part) for _, part in frames.items()) == 2000 - 96
    # --recut computes new cuts from a later version instead of reusing its parent's.
    grown = add_frame(store, tmp_path, pd.concat([frame, events(1000, seed=2, start="2024-03-25")]))
    kept = split_dataset(store, grown, settings).split
    recut = split_dataset(store, grown, settings, recut=True).split
    assert kept.settings["valid_start"] == found.settings["valid_start"]
    assert (
        recut.settings["valid_start"] > found.settings["valid_start"]
        and recut.settings["cuts_from"] == grown.id
    )


def test_group_split_keeps_groups_apart(store: Store, tmp_path: Path) -> None:
    version = add_frame(store, tmp_path, events(2000))
    found = split_dataset(store, version, charter(data={"group_column": "user"})).split
    frames = split_frames(store, found)
    users = [set(part["user"]) for _, part in frames.items()]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])


def test_regression_split_and_key_column(store: Store, tmp_path: Path) -> None:
    frame = diabetes().assign(patient=lambda f: [f"p{i}" for i in range(len(f))])
    version = add_frame(store, tmp_path, frame)
    settings = charter(task="regression", data={"key_column": "patient"})
    found = split_dataset(store, version, settings).split
    assert set(found.counts["target_mean"]) == set(SPLIT_NAMES) and "classes" not in found.counts
    frames = split_frames(store, found, load_dataset(store, version))
    assert frames.valid.index.name == "row_key" and frames.valid.index[0].startswith("p")
    assert list(frames.valid["patient"]) == list(frames.valid.index)
    positions = [int(key[1:]) for key in frames.train.index]
    assert positions == sorted(positions)  # each split keeps the dataset's row order


def test_split_frames_refuses_other_rows(store: Store, tmp_path: Path) -> None:
    frame = cancer()
    found = split_dataset(store, add_frame(store, tmp_path, frame), charter()).split
    with pytest.raises(DataError, match="are not the rows of dataset version"):
        split_frames(store, found, frame.iloc[::-1])


def test_row_keys_survive_a_reexport(tmp_path: Path) -> None:
    frame = events(50)
    frame.to_csv(tmp_path / "e.csv", index=False)
    again = pd.read_csv(tmp_path / "e.csv", parse_dates=["when"])
    again["x"] = again["x"].astype("float64")
    assert row_keys(frame).tolist() == row_keys(again[list(reversed(frame.columns))]).tolist()
    with_gap = frame.astype({"event_id": "float64"})
    assert row_keys(frame).tolist() == row_keys(with_gap).tolist()  # 3 and 3.0 hash alike


def test_lookups(store: Store, tmp_path: Path) -> None:
    assert current_split(store) is None
    version = add_frame(store, tmp_path, cancer())
    assert current_split(store) is None
    random = split_dataset(store, version, charter()).split
    reseeded = split_dataset(store, version, charter(split={"seed": 1})).split
    assert current_split(store) == reseeded and current_split(store, version.id) == reseeded
    assert get_split(store, random.id.upper()) == random
    with pytest.raises(NotFoundError, match="no split starts with 'ffffffff'"):
        get_split(store, "ffffffff")
    with pytest.raises(TaxiwayError, match="too short"):
        get_split(store, "ab")


BAD = {
    "unknown group column": (
        {"data": {"group_column": "usr"}},
        None,
        r"column 'usr' \(data.group_column in taxiway.toml\) is not in dataset version",
        "did you mean 'user'?",
    ),
    "unknown key column": ({"data": {"key_column": "EVENT_ID"}}, None, "column 'EVENT_ID'", "'event_id'"),
    "unknown time column": ({"data": {"time_column": "wen"}}, None, "column 'wen'", "did you mean 'when'?"),
    "time column of text": (
        {"data": {"time_column": "colour"}},
        None,
        "time column 'colour' .* does not parse as datetimes",
        "ISO 8601",
    ),
    "time column of numbers": ({"data": {"time_column": "x"}}, None, "holds float64 numbers", "ISO 8601"),
    "group column with nulls": (
        {"data": {"group_column": "maybe_user"}},
        None,
        r"column 'maybe_user' \(data.group_column\) has 1 missing values",
        "fill or drop",
    ),
    "duplicated key": ({"data": {"key_column": "colour"}}, None, "repeats 1,997 values", "unique per row"),
    "group split without a group column": (
        {},
        "group",
        "a group split needs data.group_column",
        "--strategy",
    ),
    "empty split": ({}, "tiny", r"\(2 rows\) leaves (train|valid|test) empty", "add rows"),
    "class absent from a split": (
        {},
        "rare",
        "class '7' of target 'label' has no rows in",
        "gather more rows",
    ),
    "single class": (
        {},
        "one class",
        r"target 'label' \(problem.target\) holds a single value \(0\) in dataset version .* nothing to",
        "add the rows of the other outcomes",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_writes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    sections, variant, message, hint = BAD[case]
    frame = events(2000).assign(maybe_user=lambda f: f["user"].where(f.index != 5))
    if variant == "tiny":
        frame = frame.head(2).assign(label=[0, 1])
    if variant == "rare":
        frame.loc[0, "label"] = 7
    if variant == "one class":
        frame["label"] = 0
    version = add_frame(store, tmp_path, frame)
    before = written(store)
    strategy = "group" if variant == "group" else None
    with pytest.raises(DataError, match=message) as raised:
        split_dataset(store, version, charter(**sections), strategy=strategy)  # type: ignore[arg-type]
    assert hint in raised.value.hint
    assert written(store) == before


def test_regression_target_must_be_numbers(store: Store, tmp_path: Path) -> None:
    version = add_frame(store, tmp_path, events(100).assign(label=lambda f: f["colour"]))
    with pytest.raises(DataError, match="not numbers, but problem.task is regression"):
        split_dataset(store, version, charter(task="regression"))


def test_override_of_the_charter_fails_the_split_check(store: Store, tmp_path: Path) -> None:
    version = add_frame(store, tmp_path, events(600))
    found = split_dataset(store, version, charter(data={"time_column": "when"}), strategy="random").split
    evidence = store.evidence.latest([Check.DATA_SPLIT])[Check.DATA_SPLIT]
    assert evidence.subject_id == found.id and evidence.status == "fail"
    assert (evidence.value, evidence.threshold, evidence.comparison) == (1.0, 0.0, "<=")
    assert evidence.details["implied_strategy"] == "time" and evidence.details["matches_charter"] is False
    assert np.isclose(found.counts["train"] / 600, 0.7, atol=0.06)
