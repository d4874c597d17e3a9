"""What changed between two dataset versions: columns, rows added / removed / changed, and re-annotations.

Rows are matched by the charter's ``data.key_column`` when it is set. Without a key, a row is known by the
content of its feature columns (every column both versions share, except the target): a row whose label
changed is then a *label change*, but a row whose features changed is *removed + added*, since nothing
says it is the same row (``changed`` is then None). Repeated rows are matched as a multiset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from taxiway.data.versions import DatasetVersion, get_dataset, load_dataset
from taxiway.errors import DataError, NotFoundError
from taxiway.store import Store

MAX_EXAMPLES = 5
MAX_LINEAGE = 10_000  # parent links followed at most: a guard against a cycle written by hand in the database

MatchedBy = Literal["key", "content"]
Relation = Literal["same", "ancestor", "descendant", "common_ancestor", "unrelated"]

__all__ = [
    "MAX_EXAMPLES",
    "DatasetDiff",
    "Lineage",
    "MatchedBy",
    "Relation",
    "RowChange",
    "VersionDiff",
    "diff_frames",
    "diff_versions",
    "lineage",
]


@dataclass(frozen=True)
class RowChange:
    """One example row of a diff: its key (or row position), and the values that matter.

    ``old_row`` / ``new_row`` are 0-based positions in each version (None where the row does not exist);
    ``values`` maps column -> value for added/removed rows, column -> [old, new] for changed ones and for
    the target of a label change.
    """

    key: Any
    old_row: int | None
    new_row: int | None
    values: dict[str, Any]


@dataclass(frozen=True)
class DatasetDiff:
    """The row and column differences between an old and a new table."""

    matched_by: MatchedBy
    key_column: str | None
    target: str | None
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    n_old: int
    n_new: int
    added: int
    removed: int
    changed: int | None  # None when rows are matched by content: a changed row is removed + added
    label_changes: int
    unchanged: int
    examples: dict[str, tuple[RowChange, ...]]  # keys: added, removed, changed, label_changes

    @property
    def is_same(self) -> bool:
        """Whether the two tables hold the same rows and columns (order aside)."""
        return (
            not (self.columns_added or self.columns_removed or self.added or self.removed or self.changed)
            and not self.label_changes
        )


@dataclass(frozen=True)
class Lineage:
    """How two versions are related through their parents (``DatasetVersion.parent_id``).

    ``relation`` says what the *old* version is to the new one: ``ancestor`` (new descends from old),
    ``descendant``, ``common_ancestor`` (siblings or cousins), ``same`` or ``unrelated``. ``path`` lists
    version ids from the new version to the old one through the parent links (empty when unrelated).
    """

    relation: Relation
    path: tuple[str, ...]
    common_ancestor: str | None


@dataclass(frozen=True)
class VersionDiff:
    """What ``taxiway data diff OLD NEW`` reports: the two versions, their lineage, and the table diff."""

    old: DatasetVersion
    new: DatasetVersion
    lineage: Lineage
    rows: DatasetDiff


def diff_versions(
    store: Store,
    old_ref: str,
    new_ref: str,
    *,
    target: str | None = None,
    key_column: str | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> VersionDiff:
    """Load two stored versions and diff them (see :func:`diff_frames`), with their lineage.

    Example:
        >>> import tempfile, pathlib
        >>> from taxiway.data.versions import add_dataset
        >>> from taxiway.store import StoreLocation
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", str(root / "artifacts")))
        >>> _ = (root / "a.csv").write_text("id,x,y\\n1,5,a\\n2,6,b\\n")
        >>> _ = (root / "b.csv").write_text("id,x,y\\n1,5,b\\n3,7,a\\n")
        >>> old = add_dataset(store, root / "a.csv", name="t").version
        >>> new = add_dataset(store, root / "b.csv", name="t").version
        >>> d = diff_versions(store, old.id, new.id, target="y", key_column="id")
        >>> d.lineage.relation, (d.rows.added, d.rows.removed, d.rows.changed, d.rows.label_changes)
        ('ancestor', (1, 1, 0, 1))
        >>> store.close()

    Raises:
        NotFoundError: a reference names no version.
        DataError: a reference is ambiguous, or ``key_column`` is missing from a version.
    """
    old, new = get_dataset(store, old_ref), get_dataset(store, new_ref)
    for version in (old, new):
        if key_column is not None and key_column not in [c["name"] for c in version.schema["columns"]]:
            raise DataError(
                f"key column '{key_column}' (data.key_column in taxiway.toml) is not in version "
                f"{version.short_id} ({version.name})",
                hint="set data.key_column to a column both versions have, or remove it to match rows "
                "by content",
            )
    rows = diff_frames(
        load_dataset(store, old),
        load_dataset(store, new),
        target=target,
        key_column=key_column,
        max_examples=max_examples,
    )
    return VersionDiff(old=old, new=new, lineage=lineage(store, old, new), rows=rows)


def lineage(store: Store, old: DatasetVersion, new: DatasetVersion) -> Lineage:
    """Follow the parent links of both versions to tell how they are related."""
    if old.id == new.id:
        return Lineage("same", (new.id,), None)
    new_chain, old_chain = _ancestry(store, new), _ancestry(store, old)
    if old.id in new_chain:
        return Lineage("ancestor", tuple(new_chain[: new_chain.index(old.id) + 1]), None)
    if new.id in old_chain:
        return Lineage("descendant", tuple(reversed(old_chain[: old_chain.index(new.id) + 1])), None)
    old_seen = set(old_chain)
    common = next((version for version in new_chain if version in old_seen), None)
    if common is None:
        return Lineage("unrelated", (), None)
    up = new_chain[: new_chain.index(common) + 1]
    down = list(reversed(old_chain[: old_chain.index(common)]))
    return Lineage("common_ancestor", (*up, *down), common)


def _ancestry(store: Store, version: DatasetVersion) -> list[str]:
    """The version's id, its parent's, and so on up to the first version."""
    chain = [version.id]
    parent = version.parent_id
    while parent is not None and parent not in chain and len(chain) < MAX_LINEAGE:
        chain.append(parent)
        try:
            parent = get_dataset(store, parent).parent_id
        except NotFoundError:
            break
    return chain


def diff_frames(
    old: pd.DataFrame,
    new: pd.DataFrame,
    *,
    target: str | None = None,
    key_column: str | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> DatasetDiff:
    """Compare two tables row by row, by key or by content (see the module docstring).

    Example:
        >>> old = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]})
        >>> new = pd.DataFrame({"x": [1, 2, 4], "y": ["a", "a", "b"]})
        >>> d = diff_frames(old, new, target="y")
        >>> d.added, d.removed, d.changed, d.label_changes, d.unchanged
        (1, 1, None, 1, 1)
        >>> d.examples["label_changes"][0].values
        {'y': ['b', 'a']}

    Raises:
        DataError: ``key_column`` is missing from one of the tables.
    """
    old_names, new_names = [str(c) for c in old.columns], [str(c) for c in new.columns]
    shared = [name for name in new_names if name in old_names]
    added_cols = tuple(name for name in new_names if name not in old_names)
    removed_cols = tuple(name for name in old_names if name not in new_names)
    label = target if target is not None and target in shared else None
    if key_column is not None:
        for side, names in (("old", old_names), ("new", new_names)):
            if key_column not in names:
                raise DataError(
                    f"key column '{key_column}' (data.key_column in taxiway.toml) is not in the {side} "
                    "version",
                    hint="set data.key_column to a column both versions have, or remove it to match rows "
                    "by content",
                )
        features = [name for name in shared if name not in (label, key_column)]
        old_ids, new_ids = _key_ids(old[key_column], new[key_column])
    else:
        features = [name for name in shared if name != label]
        old_ids, new_ids = _row_hashes(old, new, features + ([label] if label else []))
    matched_old, matched_new = _match(old_ids, new_ids)
    removed_rows, added_rows = _unmatched(len(old), matched_old), _unmatched(len(new), matched_new)

    label_changed = np.zeros(len(matched_old), dtype=bool)
    if label is not None:
        label_changed = _differs(old[label].iloc[matched_old], new[label].iloc[matched_new])
    changed: int | None = None
    feature_changed = np.zeros(len(matched_old), dtype=bool)
    if key_column is not None:
        for name in features:
            feature_changed |= _differs(old[name].iloc[matched_old], new[name].iloc[matched_new])
        changed = int(feature_changed.sum())
    elif label is not None and len(removed_rows) and len(added_rows):
        # Same features, different label: pair what is left by the features alone.
        old_f, new_f = _row_hashes(old.iloc[removed_rows], new.iloc[added_rows], features)
        pair_old, pair_new = _match(old_f, new_f)
        relabelled_old, relabelled_new = removed_rows[pair_old], added_rows[pair_new]
        removed_rows = np.delete(removed_rows, pair_old)
        added_rows = np.delete(added_rows, pair_new)
        matched_old = np.concatenate([matched_old, relabelled_old])
        matched_new = np.concatenate([matched_new, relabelled_new])
        label_changed = np.concatenate([label_changed, np.ones(len(relabelled_old), dtype=bool)])
        feature_changed = np.zeros(len(matched_old), dtype=bool)

    relabelled = (matched_old[label_changed], matched_new[label_changed])
    refeatured = (matched_old[feature_changed], matched_new[feature_changed])
    examples = {
        "added": tuple(_whole(new, int(row), key_column, side="new") for row in added_rows[:max_examples]),
        "removed": tuple(
            _whole(old, int(row), key_column, side="old") for row in removed_rows[:max_examples]
        ),
        "changed": _pairs(old, new, *refeatured, key_column, features, max_examples),
        "label_changes": _pairs(old, new, *relabelled, key_column, [label] if label else [], max_examples),
    }
    return DatasetDiff(
        matched_by="key" if key_column is not None else "content",
        key_column=key_column,
        target=label,
        columns_added=added_cols,
        columns_removed=removed_cols,
        n_old=len(old),
        n_new=len(new),
        added=len(added_rows),
        removed=len(removed_rows),
        changed=changed,
        label_changes=int(label_changed.sum()),
        unchanged=int((~(label_changed | feature_changed)).sum()),
        examples=examples,
    )


def _key_ids(old: pd.Series, new: pd.Series) -> tuple[pd.MultiIndex, pd.MultiIndex]:
    """(key, occurrence) of each row, so a repeated key still pairs one row with one row."""
    integers = pd.api.types.is_integer_dtype
    if integers(old.dtype) and integers(new.dtype):  # big integer ids stay exact
        return _with_occurrence(old), _with_occurrence(new)
    return _with_occurrence(_normalised(old)), _with_occurrence(_normalised(new))  # 7 and 7.0: one key


def _row_hashes(
    old: pd.DataFrame, new: pd.DataFrame, columns: list[str]
) -> tuple[pd.MultiIndex, pd.MultiIndex]:
    """(64-bit hash of the row's values in ``columns``, occurrence), comparable across the two tables."""
    hashed = []
    for frame in (old, new):
        digest: pd.Series
        if columns:
            normal = pd.DataFrame({name: _normalised(frame[name]) for name in columns})
            digest = pd.util.hash_pandas_object(normal, index=False)
        else:
            digest = pd.Series(np.zeros(len(frame), dtype=np.uint64))
        hashed.append(_with_occurrence(digest.reset_index(drop=True)))
    return hashed[0], hashed[1]


def _with_occurrence(ids: pd.Series) -> pd.MultiIndex:
    ids = ids.reset_index(drop=True)
    count = ids.groupby(ids, dropna=False, sort=False).cumcount()
    return pd.MultiIndex.from_arrays([ids, count])


def _normalised(column: pd.Series) -> pd.Series:
    """The same value hashes and compares the same in both versions, whatever dtype each was read as."""
    types = pd.api.types
    if types.is_bool_dtype(column.dtype):
        return column.astype("str")  # "True" / "False", as an object column of booleans with gaps gives
    if types.is_numeric_dtype(column.dtype):
        return column.astype("float64")  # 7 and 7.0 (an integer column that gained a gap) are equal
    if types.is_datetime64_any_dtype(column.dtype):
        moments = column.dt.tz_convert("UTC").dt.tz_localize(None) if column.dt.tz is not None else column
        return pd.Series(moments.to_numpy(dtype="datetime64[ns]").view("int64"), index=column.index)
    return column.astype("str")


def _match(
    old_ids: pd.MultiIndex, new_ids: pd.MultiIndex
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Positions (old, new) of the rows whose ids are equal (ids are unique within a table)."""
    where = old_ids.get_indexer(new_ids)
    found = where >= 0
    return where[found].astype(np.intp), np.flatnonzero(found)


def _unmatched(n_rows: int, matched: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.intp]]:
    left = np.ones(n_rows, dtype=bool)
    left[matched] = False
    return np.flatnonzero(left)


def _differs(old: pd.Series, new: pd.Series) -> np.ndarray[Any, np.dtype[np.bool_]]:
    a, b = _normalised(old).to_numpy(), _normalised(new).to_numpy()
    both_missing = pd.isna(a) & pd.isna(b)
    return np.asarray((a != b) & ~both_missing, dtype=bool)


def _whole(frame: pd.DataFrame, row: int, key: str | None, *, side: str) -> RowChange:
    values = dict(zip([str(c) for c in frame.columns], _plain_list(frame.iloc[row]), strict=True))
    return RowChange(
        values.get(key) if key else None,
        row if side == "old" else None,
        row if side == "new" else None,
        values,
    )


def _pairs(
    old: pd.DataFrame,
    new: pd.DataFrame,
    old_rows: np.ndarray[Any, Any],
    new_rows: np.ndarray[Any, Any],
    key: str | None,
    columns: list[str],
    limit: int,
) -> tuple[RowChange, ...]:
    """Examples of matched rows, each with the columns (of ``columns``) whose value differs: [old, new]."""
    pairs = []
    for o, n in zip(old_rows[:limit].tolist(), new_rows[:limit].tolist(), strict=True):
        values = {}
        for column in columns:
            before, after = old[column].iloc[[o]], new[column].iloc[[n]]
            if _differs(before, after)[0]:
                values[column] = [_plain(before.iloc[0]), _plain(after.iloc[0])]
        pairs.append(RowChange(_plain(new[key].iloc[n]) if key else None, o, n, values))
    return tuple(pairs)


def _plain_list(values: pd.Series) -> list[Any]:
    return [_plain(value) for value in values.astype(object).tolist()]


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value
