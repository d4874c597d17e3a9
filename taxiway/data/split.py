"""Splits: a stable, versioned assignment of a dataset version's rows to train, validation and test.

A row is placed by a hash of its key (``data.key_column``, else a hash of the row's content) salted with
``split.seed``, never by its position or by the other rows, so rows keep their split when a later version
of the dataset adds rows:

- **random**: the salted hash, as a uniform number in [0, 1), is cut at ``1 - valid - test`` and
  ``1 - test``. The same cuts apply within every class of the target, so each class (for regression, each
  range of the target) gets the fractions *in expectation*; the realised shares differ by binomial noise,
  about ``sqrt(f (1 - f) / n_class)``. Exact shares would need ranks within each class, and ranks move
  whenever rows are added: we chose stability, and record the realised counts per class.
- **group**: the same, with the hash of the row's ``data.group_column`` value: a group is never in two splits.
- **time**: rows before the first cut train. With ``split.time_holdout = "shuffled"`` (the default) the
  rows from the first cut on are the recent period, and each goes to validation or test by its salted
  hash (in proportion to the two fractions): dev and test come from the same distribution, the recent one,
  as Ng's *Machine Learning Yearning* asks, while the model still trains only on the past. With
  ``"sequential"`` rows from the first to the second cut validate and later rows test. ``gap_days``
  before each cut are dropped. The cuts are quantiles of ``data.time_column`` in the data as
  given, and are kept in the split's settings. A later version of the same dataset reuses the cuts of its
  parent's time split (pass ``recut=True`` to compute new ones), so old rows stay put and appended, later
  rows fall into test.
- **window** (``window_days``, a time split's setting; `taxiway ct run` passes ``ct.window_days``): only
  the rows less than ``window_days`` older than the newest time in the data are split, with cuts computed
  from them (never inherited); the rows before the window are in none of the three. The window counts back
  from the data, not from today, so a replay or a late file windows the same rows. Such a split is one
  retrain's: it is never the *current* split that `taxiway train` and the data checks take.

A split's id is the SHA-256 of its dataset version id, strategy and settings; its manifest (row key,
position, split) is a Parquet file in the artifact store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from taxiway.charter import Charter
from taxiway.charter.model import SplitStrategy
from taxiway.data import _assign
from taxiway.data._assign import row_keys
from taxiway.data.versions import DatasetVersion, get_dataset, latest_dataset, load_dataset
from taxiway.errors import DataError, NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.store.tables import DatasetVersionRow, SplitRow, utcnow

SplitName = Literal["train", "valid", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "valid", "test")
MIN_PREFIX_LENGTH = 4
_MAX_ANCESTORS = (
    1000  # parent chain walked to find time cuts to reuse; far more versions than a project keeps
)
_PARQUET = "application/vnd.apache.parquet"
_REASONS: dict[SplitStrategy, str] = {
    "time": "validation and test come after training in time, as the rows the model will predict do",
    "group": "no value of the group column is in two splits: validation and test groups are unseen, "
    "as new groups will be",
    "random": "rows are exchangeable: the charter names no time or group column",
}

__all__ = [
    "SPLIT_NAMES",
    "Split",
    "SplitFrames",
    "SplitName",
    "SplitResult",
    "current_split",
    "get_split",
    "implied_strategy",
    "load_manifest",
    "row_keys",
    "split_dataset",
    "split_frames",
]


@dataclass(frozen=True)
class Split:
    """One versioned split: ``manifest`` is the digest of its Parquet file (row_key, position, split)."""

    id: str
    dataset_id: str
    strategy: SplitStrategy
    settings: dict[str, Any]
    counts: dict[str, Any]
    manifest: str
    created_at: dt.datetime

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @classmethod
    def _from_row(cls, row: SplitRow) -> Split:
        return cls(
            id=row.id,
            dataset_id=row.dataset_id,
            strategy=cast(SplitStrategy, row.strategy),
            settings=dict(row.settings),
            counts=dict(row.counts),
            manifest=row.manifest,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class SplitResult:
    """What :func:`split_dataset` did: the split, and whether this call made it (False: it existed)."""

    split: Split
    is_new: bool


@dataclass(frozen=True)
class SplitFrames:
    """The rows of each split, in the dataset's order, indexed by their row key (index name ``row_key``)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def items(self) -> list[tuple[SplitName, pd.DataFrame]]:
        return [("train", self.train), ("valid", self.valid), ("test", self.test)]


def implied_strategy(charter: Charter) -> SplitStrategy:
    """The charter's split strategy: as set, else time with a time column, else group with a group column.

    Example:
        >>> c = Charter.model_validate(
        ...     {"project": {"name": "x"}, "problem": {"target": "y"}, "data": {"group_column": "user"}})
        >>> implied_strategy(c)
        'group'
    """
    if charter.split.strategy is not None:
        return charter.split.strategy
    if charter.data.time_column is not None:
        return "time"
    return "group" if charter.data.group_column is not None else "random"


def split_dataset(
    store: Store,
    version: DatasetVersion,
    charter: Charter,
    *,
    strategy: SplitStrategy | None = None,
    recut: bool = False,
    frame: pd.DataFrame | None = None,
    window_days: float | None = None,
) -> SplitResult:
    """Split a dataset version by the charter (or ``strategy``) and store the split, once.

    The rows are checked before anything is written; then the manifest, the split and its ``data.split``
    evidence commit together. A split with the same settings that already exists is returned unchanged.

    Args:
        strategy: overrides the charter's; the evidence records whether the two agree.
        recut: time split: compute new cuts from this version instead of reusing its parent's.
        frame: the version's rows, when the caller has already loaded them.
        window_days: time split: split only the rows less than this many days older than the newest.

    Example:
        >>> import tempfile, pathlib
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.data.versions import add_dataset
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", str(root / "artifacts")))
        >>> pd.DataFrame({"x": range(200), "y": [0, 1] * 100}).to_csv(root / "d.csv", index=False)
        >>> version = add_dataset(store, root / "d.csv").version
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> result = split_dataset(store, version, charter)
        >>> result.is_new, result.split.strategy, sum(result.split.counts[n] for n in SPLIT_NAMES)
        (True, 'random', 200)
        >>> split_dataset(store, version, charter).is_new
        False
        >>> store.close()

    Raises:
        DataError: a charter column is not in the data, the time column is not datetimes, the group or key
            column has missing values, a split would be empty or lack a class of the target, a window is
            asked of a split that is not by time, or holds a single value of the target.
    """
    chosen = strategy or implied_strategy(charter)
    rows = load_dataset(store, version) if frame is None else frame
    base = _assign.base_settings(rows, version, charter, chosen, window_days)
    inherited = None
    if chosen == "time" and not recut and window_days is None:
        inherited = _inherited_cuts(store, version, base)
    keys = row_keys(rows, base["key_column"])
    settings, labels = _assign.assign(rows, keys, version, base, inherited)
    _assign.check_assignment(rows, labels, settings, version)
    split_id = _split_id(version.id, chosen, settings)
    existing = _find(store, split_id)
    if existing is not None:
        return SplitResult(existing, is_new=False)

    counts = _assign.count(rows, labels, settings)
    assigned = np.flatnonzero(labels != None)  # elementwise: None marks a dropped row
    implied = implied_strategy(charter)
    details = {
        "dataset_id": version.id,
        "strategy": chosen,
        "implied_strategy": implied,
        "matches_charter": chosen == implied,
        "reason": _REASONS[chosen],
        "counts": counts,
        "settings": settings,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="taxiway-split-") as folder:
            path = Path(folder) / "manifest.parquet"
            _write_manifest(path, keys.to_numpy()[assigned], assigned, labels[assigned])
            with store.write_session() as session, session.begin():
                digest = store.save_file(path, session=session, media_type=_PARQUET)
                row = SplitRow(
                    id=split_id,
                    dataset_id=version.id,
                    strategy=chosen,
                    settings=settings,
                    counts=counts,
                    manifest=digest,
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                # The split is judged against the charter: a split that overrides its strategy (say random
                # where rows are ordered in time) is kept, but the check fails until someone accepts it.
                store.evidence.record(
                    Check.DATA_SPLIT,
                    subject_kind="split",
                    subject_id=split_id,
                    value=float(chosen != implied),
                    limit=Limit(0, "<="),
                    measured=Measurement(sample_size=len(rows), method="split strategy vs the charter's"),
                    details=details,
                    session=session,
                )
    except IntegrityError:
        # Another process made the same split between our lookup and our commit: theirs stands.
        existing = _find(store, split_id)
        if existing is None:
            raise
        return SplitResult(existing, is_new=False)
    return SplitResult(Split._from_row(row), is_new=True)


def current_split(store: Store, dataset_id: str | None = None) -> Split | None:
    """The newest split of a dataset version (default: of the newest version); None when there is none.

    A windowed split (``window_days``, made by `taxiway ct run`) is never the current one: it belongs to
    one retrain, and `taxiway train` by hand, CI and the data checks keep to the split of every row.
    """
    if dataset_id is None:
        newest = latest_dataset(store)
        if newest is None:
            return None
        dataset_id = newest.id
    query = (
        select(SplitRow)
        .where(SplitRow.dataset_id == dataset_id)
        .order_by(SplitRow.created_at.desc(), SplitRow.id)
    )
    with store.session() as session:
        for row in session.scalars(query):  # a version has a few splits: filter the JSON settings here
            if "window_days" not in row.settings:
                return Split._from_row(row)
    return None


def splits_of(store: Store, dataset_ids: Sequence[str]) -> dict[str, list[Split]]:
    """Every split of each dataset version, newest first."""
    found: dict[str, list[Split]] = {dataset_id: [] for dataset_id in dataset_ids}
    query = (
        select(SplitRow)
        .where(SplitRow.dataset_id.in_(list(dataset_ids)))
        .order_by(SplitRow.created_at.desc(), SplitRow.id)
    )
    with store.session() as session:
        for row in session.scalars(query):
            found[row.dataset_id].append(Split._from_row(row))
    return found


def get_split(store: Store, ref: str) -> Split:
    """Look a split up by its full id or a unique prefix of at least 4 characters.

    Raises:
        NotFoundError: no split id starts with ``ref``.
        TaxiwayError: ``ref`` is too short, or several split ids start with it.
    """
    prefix = ref.strip().lower()
    hint = "run `taxiway data split` to make one; `taxiway data check --format json` shows the current one"
    if len(prefix) < MIN_PREFIX_LENGTH:
        raise TaxiwayError(
            f"split '{ref}' is too short: give at least {MIN_PREFIX_LENGTH} characters of its id", hint=hint
        )
    query = select(SplitRow).where(SplitRow.id.startswith(prefix, autoescape=True)).order_by(SplitRow.id)
    with store.session() as session:
        rows = list(session.scalars(query.limit(5)))
    if not rows:
        raise NotFoundError(f"no split starts with '{prefix}'", hint=hint)
    if len(rows) > 1:
        matches = ", ".join(row.id[:12] for row in rows[:4])
        raise TaxiwayError(
            f"split '{prefix}' is ambiguous: it matches {matches}", hint="give more characters"
        )
    return Split._from_row(rows[0])


def load_manifest(store: Store, split: Split) -> pd.DataFrame:
    """The split's manifest: one row per assigned row, in dataset order (row_key, position, split)."""
    table = pq.read_table(pa.BufferReader(store.artifacts.get_bytes(split.manifest)))
    return cast(pd.DataFrame, table.to_pandas())


def split_frames(store: Store, split: Split, frame: pd.DataFrame | None = None) -> SplitFrames:
    """The train, validation and test rows of ``split``, from ``frame`` or the stored dataset version.

    Rows dropped by a time split's gap are in none of the three.

    Raises:
        DataError: ``frame`` is not the dataset version the split was made from.
    """
    manifest = load_manifest(store, split)
    if frame is None:
        frame = load_dataset(store, get_dataset(store, split.dataset_id))
    keys = row_keys(frame, split.settings["key_column"])
    positions = manifest["position"].to_numpy()
    if len(frame) != split.counts["rows"] or not np.array_equal(
        keys.to_numpy()[positions], manifest["row_key"].to_numpy()
    ):
        raise DataError(
            f"the rows given are not the rows of dataset version {split.dataset_id[:12]}, "
            f"which split {split.short_id} was made from",
            hint="pass that version's rows (taxiway.data.load_dataset), or none to have them loaded",
        )
    indexed = frame.set_axis(keys.to_numpy(), axis=0).rename_axis("row_key")
    names = manifest["split"].to_numpy()
    parts = {name: indexed.iloc[positions[names == name]] for name in SPLIT_NAMES}
    return SplitFrames(**parts)


def _split_id(dataset_id: str, strategy: str, settings: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"dataset_id": dataset_id, "strategy": strategy, "settings": settings},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _find(store: Store, split_id: str) -> Split | None:
    with store.session() as session:
        row = session.get(SplitRow, split_id)
        return Split._from_row(row) if row is not None else None


def _inherited_cuts(store: Store, version: DatasetVersion, base: dict[str, Any]) -> dict[str, Any] | None:
    """The cuts of the nearest ancestor's time split made with the same column, fractions and gap."""
    wanted = {key: base[key] for key in ("time_column", "valid_fraction", "test_fraction", "gap_days")}
    parent = version.parent_id
    with store.session() as session:
        for _ in range(_MAX_ANCESTORS):
            if parent is None:
                return None
            query = (
                select(SplitRow)
                .where(SplitRow.dataset_id == parent, SplitRow.strategy == "time")
                .order_by(SplitRow.created_at.desc(), SplitRow.id)
            )
            for row in session.scalars(query):
                if "window_days" in row.settings:  # a window's cuts describe its rows only
                    continue
                if all(row.settings.get(key) == value for key, value in wanted.items()):
                    return {key: row.settings[key] for key in ("valid_start", "test_start", "cuts_from")}
            ancestor = session.get(DatasetVersionRow, parent)
            parent = ancestor.parent_id if ancestor is not None else None
    return None


def _write_manifest(
    path: Path, keys: NDArray[Any], positions: NDArray[np.intp], labels: NDArray[Any]
) -> None:
    table = pa.table(
        {
            "row_key": pa.array(keys.tolist(), pa.string()),
            "position": pa.array(positions, pa.int64()),
            "split": pa.array(labels.tolist(), pa.string()),
        }
    )
    pq.write_table(table, path)
