"""Dataset diffs: planted added / removed / changed rows and re-labels, by key and by content; lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from taxiway.data.diff import Lineage, diff_frames, diff_versions, lineage
from taxiway.data.versions import add_dataset, get_dataset
from taxiway.errors import DataError
from taxiway.store import Store
from taxiway.store.tables import DatasetVersionRow


def _base(rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "x": rng.normal(size=rows).round(4),
            "city": rng.choice(["Lyon", "Oslo", "Rome"], rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def _planted(old: pd.DataFrame) -> pd.DataFrame:
    """From ``old``: 7 rows removed, 5 added, 4 re-labelled, 3 with a changed feature, shuffled."""
    new = old.drop(index=range(10, 17)).copy()
    flip = {"yes": "no", "no": "yes"}
    new.loc[[20, 21, 22, 23], "label"] = new.loc[[20, 21, 22, 23], "label"].map(flip)
    new.loc[[30, 31, 32], "x"] = [99.0, 98.0, 97.0]
    added = pd.DataFrame({"id": range(1000, 1005), "x": 0.5, "city": "Lyon", "label": "yes"})
    return pd.concat([new, added]).sample(frac=1.0, random_state=1).reset_index(drop=True)


def test_by_key_counts_every_planted_change() -> None:
    old = _base()
    new = _planted(old)
    d = diff_frames(old, new, target="label", key_column="id")
    assert (d.matched_by, d.key_column, d.target) == ("key", "id", "label")
    assert (d.n_old, d.n_new) == (500, 498)
    assert (d.added, d.removed, d.changed, d.label_changes, d.unchanged) == (5, 7, 3, 4, 486)
    assert sorted(c.key for c in d.examples["added"]) == [1000, 1001, 1002, 1003, 1004]
    assert sorted(c.key for c in d.examples["removed"]) == [10, 11, 12, 13, 14]  # the first 5 of 7
    assert sorted(c.key for c in d.examples["changed"]) == [30, 31, 32]
    changed = {c.key: c.values for c in d.examples["changed"]}
    assert changed[30] == {"x": [old.loc[30, "x"], 99.0]}
    relabelled = {c.key: c.values["label"] for c in d.examples["label_changes"]}
    assert relabelled == {
        k: [old.loc[k, "label"], "no" if old.loc[k, "label"] == "yes" else "yes"] for k in (20, 21, 22, 23)
    }
    first = d.examples["label_changes"][0]
    assert first.old_row == first.key and new.loc[first.new_row, "id"] == first.key
    assert not d.is_same


def test_by_content_a_changed_feature_is_removed_plus_added() -> None:
    old = _base()
    new = _planted(old)
    d = diff_frames(old, new, target="label")
    assert d.matched_by == "content" and d.changed is None
    assert (d.added, d.removed, d.label_changes, d.unchanged) == (5 + 3, 7 + 3, 4, 486)
    assert sorted(c.values["id"] for c in d.examples["removed"]) == [10, 11, 12, 13, 14]
    assert {c.old_row for c in d.examples["label_changes"]} == {20, 21, 22, 23}
    assert all(list(c.values) == ["label"] for c in d.examples["label_changes"])


def test_repeated_rows_are_matched_as_a_multiset() -> None:
    old = pd.DataFrame({"x": [1, 1, 1, 2], "y": ["a", "a", "b", "a"]})
    new = pd.DataFrame({"x": [1, 1, 2, 2], "y": ["b", "a", "a", "a"]})
    d = diff_frames(old, new, target="y")
    # x=1: (a, a, b) -> (b, a): one (1, a) removed; x=2: one row added
    assert (d.added, d.removed, d.label_changes, d.unchanged) == (1, 1, 0, 3)


def test_same_values_read_as_other_dtypes_are_unchanged() -> None:
    old = pd.DataFrame({"id": [1, 2, 3], "n": [1, 2, 3], "flag": [True, False, True], "y": [0, 1, 0]})
    new = pd.DataFrame(
        {"id": [1.0, 2.0, 3.0], "n": [1.0, 2.0, 3.0], "flag": [True, False, True], "y": [0, 1, 0]}
    )
    for key in ("id", None):
        d = diff_frames(old, new, target="y", key_column=key)
        assert d.is_same and d.unchanged == 3


def test_columns_added_and_removed_are_listed_and_left_out_of_matching() -> None:
    old = pd.DataFrame({"id": [1, 2], "a": [1, 2], "gone": ["p", "q"], "y": [0, 1]})
    new = pd.DataFrame({"id": [1, 2], "a": [1, 2], "new": [5, 6], "y": [0, 0]})
    for key in ("id", None):
        d = diff_frames(old, new, target="y", key_column=key)
        assert (d.columns_added, d.columns_removed) == (("new",), ("gone",))
        assert (d.added, d.removed, d.label_changes, d.unchanged) == (0, 0, 1, 1)


def test_no_target_and_a_missing_key() -> None:
    old, new = pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [2, 3]})
    d = diff_frames(old, new)
    assert (d.target, d.added, d.removed, d.label_changes, d.unchanged) == (None, 1, 1, 0, 1)
    with pytest.raises(DataError, match="key column 'id' .* is not in the old version"):
        diff_frames(old, new, key_column="id")


def test_diff_versions_reads_the_store_and_tells_the_lineage(store: Store, tmp_path: Path) -> None:
    old = _base()
    frames = [old, _planted(old), _planted(old).iloc[:-1]]
    versions = []
    for i, frame in enumerate(frames):
        frame.to_csv(tmp_path / f"v{i}.csv", index=False)
        versions.append(add_dataset(store, tmp_path / f"v{i}.csv", name="people", target="label").version)
    v0, v1, v2 = versions

    result = diff_versions(store, v0.short_id, v2.id[:8], target="label", key_column="id", max_examples=2)
    assert (result.old.id, result.new.id) == (v0.id, v2.id)
    assert (result.lineage.relation, result.lineage.path) == ("ancestor", (v2.id, v1.id, v0.id))
    direct = diff_frames(frames[0], frames[2], target="label", key_column="id")
    counts = ("added", "removed", "changed", "label_changes", "unchanged")
    assert [getattr(result.rows, n) for n in counts] == [getattr(direct, n) for n in counts]
    assert len(result.rows.examples["removed"]) == 2

    assert lineage(store, v2, v0).relation == "descendant"
    assert lineage(store, v2, v0).path == (v0.id, v1.id, v2.id)
    assert lineage(store, v1, v1).relation == "same"
    other = tmp_path / "other.csv"
    pd.DataFrame({"id": [1], "x": [0.0], "city": ["Lyon"], "label": ["no"]}).to_csv(other, index=False)
    unrelated = add_dataset(store, other, name="other").version
    assert lineage(store, unrelated, v2) == Lineage("unrelated", (), None)

    # Make v2 a sibling of v1 (both children of v0), as two branches of one dataset would be.
    with store.session() as session, session.begin():
        session.execute(
            update(DatasetVersionRow).where(DatasetVersionRow.id == v2.id).values(parent_id=v0.id)
        )
    sibling = lineage(store, get_dataset(store, v1.id), get_dataset(store, v2.id))
    assert (sibling.relation, sibling.common_ancestor, sibling.path) == (
        "common_ancestor",
        v0.id,
        (v2.id, v0.id, v1.id),
    )

    with pytest.raises(DataError, match=f"key column 'zip' .* is not in version {v0.short_id}"):
        diff_versions(store, v0.id, v1.id, key_column="zip")
