"""How a split places rows: settings from the charter, salted hashes, time cuts, and the checks on the result.

See :mod:`taxiway.data.split` for the rules; this module holds the arithmetic so that one stays readable.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taxiway.charter import Charter
from taxiway.charter.model import SplitStrategy
from taxiway.data._frames import json_value, normalised
from taxiway.errors import DataError

if TYPE_CHECKING:  # versions counts duplicates with row_hashes when a version is added
    from taxiway.data.versions import DatasetVersion

Labels = NDArray[np.object_]  # "train" / "valid" / "test", or None: a row a time split's gap or window drops
_NS_PER_DAY = 86_400 * 10**9
_NAMES = ("train", "valid", "test")
_SHOWN_COLUMNS = 20


def row_hashes(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> NDArray[np.uint64]:
    """A 64-bit hash of each row's values over ``columns`` (default all), independent of column order.

    Numbers (and booleans) hash as float64, so 3 and 3.0 agree; times as UTC nanoseconds; the rest as text.

    Example:
        >>> a = pd.DataFrame({"x": [1, 2], "y": ["u", None]})
        >>> b = pd.DataFrame({"y": ["u", None], "x": [1.0, 2.0]})
        >>> bool((row_hashes(a) == row_hashes(b)).all())
        True
    """
    names = [str(c) for c in frame.columns] if columns is None else list(columns)
    positions = sorted(range(len(names)), key=lambda i: names[i])
    source = frame if columns is None else frame[list(columns)]
    normal = pd.DataFrame(
        {f"c{i}": normalised(source.iloc[:, position]) for i, position in enumerate(positions)}
    )
    return np.asarray(pd.util.hash_pandas_object(normal, index=False), dtype=np.uint64)


def row_keys(frame: pd.DataFrame, key_column: str | None = None) -> pd.Series:
    """Each row's key as text: the key column's value, else 16 hex digits hashing the row's content.

    The content hash ignores column order and treats integers and equal floats alike, so re-exporting the
    same rows (CSV or Parquet, a column that gained a missing value) gives the same keys.

    Example:
        >>> frame = pd.DataFrame({"a": [1, 1], "b": ["x", "x"]})
        >>> keys = row_keys(frame)
        >>> keys[0] == keys[1], len(keys[0])
        (True, 16)
        >>> row_keys(frame.assign(id=[7, 8]), "id").tolist()
        ['7', '8']
    """
    if key_column is None:
        values = [f"{value:016x}" for value in row_hashes(frame).tolist()]
    else:
        values = [str(value) for value in frame[key_column].tolist()]
    return pd.Series(values, index=frame.index, name="row_key", dtype="str")


def base_settings(
    rows: pd.DataFrame,
    version: DatasetVersion,
    charter: Charter,
    strategy: SplitStrategy,
    window_days: float | None = None,
) -> dict[str, Any]:
    """The settings that decide the split, after checking the charter's columns against the data.

    ``window_days`` (time splits only) keeps the rows less than that many days older than the newest.
    """
    data, split = charter.data, charter.split
    target = charter.problem.target
    _require(rows, target, "problem.target", version)
    _learnable(rows[target], target, version)
    settings: dict[str, Any] = {
        "target": target,
        "task": charter.problem.task,
        "key_column": data.key_column,
        "valid_fraction": split.valid_fraction,
        "test_fraction": split.test_fraction,
    }
    if charter.problem.task == "regression" and not pd.api.types.is_numeric_dtype(rows[target].dtype):
        raise DataError(
            f"target '{target}' holds {rows[target].dtype} values, not numbers, "
            "but problem.task is regression",
            hint='set problem.task = "classification" in taxiway.toml, or convert the column to numbers',
        )
    if data.key_column is not None:
        _require(rows, data.key_column, "data.key_column", version)
        _no_nulls(rows, data.key_column, "data.key_column")
        duplicated = rows[data.key_column].duplicated()
        if duplicated.any():
            example = rows[data.key_column][duplicated].iloc[0]
            raise DataError(
                f"key column '{data.key_column}' (data.key_column) repeats {int(duplicated.sum()):,} values "
                f"(e.g. {example!r}); a key must name one row",
                hint="choose a column that is unique per row, "
                "or remove data.key_column to key rows by their content",
            )
    if strategy == "group":
        column = _required_setting(data.group_column, "group", "data.group_column")
        _require(rows, column, "data.group_column", version)
        _no_nulls(rows, column, "data.group_column")
        settings |= {"group_column": column, "seed": split.seed}
    elif strategy == "time":
        column = _required_setting(data.time_column, "time", "data.time_column")
        _require(rows, column, "data.time_column", version)
        settings |= {"time_column": column, "gap_days": split.gap_days, "holdout": split.time_holdout}
        if split.time_holdout == "shuffled":
            settings["seed"] = split.seed
    else:
        settings |= {"seed": split.seed}
    if window_days is not None:
        if strategy != "time":
            raise DataError(
                f"a {window_days:g}-day window (ct.window_days) needs a time split, not a {strategy} split",
                hint='set split.strategy = "time" in taxiway.toml (or remove it), or remove ct.window_days',
            )
        settings["window_days"] = float(window_days)
    return settings


def assign(
    rows: pd.DataFrame,
    keys: pd.Series,
    version: DatasetVersion,
    base: dict[str, Any],
    inherited: dict[str, Any] | None,
) -> tuple[dict[str, Any], Labels]:
    """Each row's split (``keys``: from :func:`row_keys`), and the full settings (time splits add cuts)."""
    valid, test = base["valid_fraction"], base["test_fraction"]
    if "time_column" not in base:
        if "group_column" in base:
            values = rows[base["group_column"]]
        else:
            values = keys
        uniform = _uniform([str(value) for value in values.tolist()], base["seed"])
        labels = np.full(len(rows), "train", dtype=object)
        labels[uniform >= 1 - valid - test] = "valid"
        labels[uniform >= 1 - test] = "test"
        return base, labels
    times = time_ns(rows, base["time_column"])
    inside = np.ones(len(rows), dtype=bool)
    if "window_days" in base:
        # Counted back from the newest time in the data, not from today: a replay of old files, or a file
        # that arrives late, windows the same rows. Cuts are the window's own quantiles (never inherited).
        newest = times.max()
        inside = times > newest - round(base["window_days"] * _NS_PER_DAY)
        base = base | {"window_from": _iso(times[inside].min()), "window_to": _iso(newest)}
        inherited = None
    if inherited is None:
        ordered = np.sort(times[inside])
        first, second = (
            ordered[min(len(ordered) - 1, round(q * len(ordered)))] for q in (1 - valid - test, 1 - test)
        )
        inherited = {"valid_start": _iso(first), "test_start": _iso(second), "cuts_from": version.id}
    settings = base | inherited
    first, second = (pd.Timestamp(settings[key]).value for key in ("valid_start", "test_start"))
    gap = round(base["gap_days"] * _NS_PER_DAY)
    labels = np.full(len(rows), None, dtype=object)
    labels[inside & (times < first - gap)] = "train"
    if settings.get("holdout", "sequential") == "shuffled":
        # Validation and test drawn at random from the same recent period, so that they share its
        # distribution (dev and test must agree), while training stays in the past. A row's draw is its
        # salted key hash, so it keeps its place when later rows are added.
        recent = times >= first
        uniform = _uniform([str(value) for value in keys.tolist()], base["seed"])
        to_valid = uniform < valid / (valid + test)
        labels[recent & to_valid] = "valid"
        labels[recent & ~to_valid] = "test"
        return settings, labels
    labels[(times >= first) & (times < second - gap)] = "valid"
    labels[times >= second] = "test"
    return settings, labels


def in_window(rows: pd.DataFrame, settings: dict[str, Any]) -> NDArray[np.bool_]:
    """Which rows a split's window keeps (all of them when the split has no ``window_days``).

    Example:
        >>> rows = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09"])})
        >>> in_window(rows, {"time_column": "t", "window_from": "2024-01-05T00:00:00+00:00"}).tolist()
        [False, True, True]
    """
    if "window_from" not in settings:
        return np.ones(len(rows), dtype=bool)
    return np.asarray(time_ns(rows, settings["time_column"]) >= pd.Timestamp(settings["window_from"]).value)


def check_assignment(
    rows: pd.DataFrame, labels: Labels, settings: dict[str, Any], version: DatasetVersion
) -> None:
    """Refuse a split that leaves a split empty, or (classification) a split without a class of the target.

    With a window, only the rows in it count: a class seen only before the window is not asked for, and a
    window whose rows hold a single value of the target is refused.
    """
    sizes = {name: int(np.sum(labels == name)) for name in _NAMES}
    shown = ", ".join(f"{name} {size:,}" for name, size in sizes.items())
    inside = in_window(rows, settings)
    if "window_days" in settings:
        shown += f"; {int(inside.sum()):,} rows in the window, {int((~inside).sum()):,} before it"
        _learnable_window(rows[settings["target"]][inside], settings, version)
    for name, size in sizes.items():
        if size == 0:
            raise DataError(
                f"this split of dataset version {version.short_id} ({len(rows):,} rows) leaves {name} "
                f"empty ({shown})",
                hint=_empty_hint(settings),
            )
    if settings["task"] != "classification":
        return
    target = rows[settings["target"]]
    everywhere = target[inside].value_counts(dropna=True)
    for name in _NAMES:
        present = set(target[labels == name].dropna().unique().tolist())
        for label, total in everywhere.items():
            if label not in present:
                where = "in the window" if "window_days" in settings else "in the dataset"
                widen = "widen ct.window_days, " if "window_days" in settings else ""
                raise DataError(
                    f"class '{label}' of target '{settings['target']}' has no rows in {name} "
                    f"({int(total):,} rows of it {where}; {shown})",
                    hint="a model cannot be trained or validated on a class a split lacks: "
                    f"{widen}gather more rows of it, merge it with a similar class, or change split.seed "
                    "in taxiway.toml",
                )


def count(rows: pd.DataFrame, labels: Labels, settings: dict[str, Any]) -> dict[str, Any]:
    """Rows per split (and per class, or the target's mean for regression), as JSON."""
    counts: dict[str, Any] = {"rows": len(rows)}
    counts |= {name: int(np.sum(labels == name)) for name in _NAMES}
    counts["dropped"] = int(np.sum(labels == None))  # elementwise: None marks a row a gap or window drops
    if "window_days" in settings:
        counts["outside_window"] = int(np.sum(~in_window(rows, settings)))  # part of "dropped"
    target = rows[settings["target"]]
    if settings["task"] == "classification":
        present = target.notna().to_numpy()
        text = np.asarray([str(value) for value in target.tolist()], dtype=object)
        counts["classes"] = {
            label: {name: int(np.sum(present & (text == label) & (labels == name))) for name in _NAMES}
            for label in sorted(set(text[present].tolist()))
        }
    else:
        counts["target_mean"] = {name: float(target[labels == name].mean()) for name in _NAMES}
    return counts


def time_ns(rows: pd.DataFrame, column: str) -> NDArray[np.int64]:
    """The time column as UTC nanoseconds; naive times are taken as UTC.

    Raises:
        DataError: the column holds numbers, text that is not ISO 8601 datetimes, or missing values.
    """
    series = rows[column]
    hint = (
        "store the column as ISO 8601 datetimes (2024-05-01 or 2024-05-01T10:30:00Z), or fix data.time_column"
    )
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            raise DataError(
                f"time column '{column}' (data.time_column) holds {series.dtype} numbers, not datetimes",
                hint=hint,
            )
        try:
            series = pd.to_datetime(series, utc=True, format="ISO8601")
        except (ValueError, TypeError) as error:
            raise DataError(
                f"time column '{column}' (data.time_column) does not parse as datetimes: "
                f"{str(error).splitlines()[0]}",
                hint=hint,
            ) from None
    _no_nulls(rows.assign(**{column: series}), column, "data.time_column")
    stamps = pd.DatetimeIndex(series)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    return np.asarray(stamps.as_unit("ns").asi8, dtype=np.int64)


def _uniform(values: list[str], seed: int) -> NDArray[np.float64]:
    """Salted hashes of ``values`` as uniform numbers in [0, 1): the top 53 bits over 2**53."""
    salt = hashlib.sha256(f"taxiway-split:{seed}".encode()).hexdigest()[:16]
    hashes = pd.util.hash_array(np.asarray(values, dtype=object), hash_key=salt)
    return (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _iso(ns: np.int64) -> str:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat()


def _require(rows: pd.DataFrame, column: str, setting: str, version: DatasetVersion) -> None:
    names = [str(name) for name in rows.columns]
    if column in names:
        return
    same_but_case = [name for name in names if name.lower() == column.lower()]
    guess = same_but_case or difflib.get_close_matches(column, names, n=1, cutoff=0.6)
    shown = ", ".join(names[:_SHOWN_COLUMNS]) + (", ..." if len(names) > _SHOWN_COLUMNS else "")
    suggestion = f"did you mean '{guess[0]}'? " if guess else ""
    raise DataError(
        f"column '{column}' ({setting} in taxiway.toml) is not in dataset version {version.short_id}; "
        f"its columns are: {shown}",
        hint=f"{suggestion}fix {setting} in taxiway.toml",
    )


def _too_few_values(values: pd.Series) -> str | None:
    """What ``values`` hold when it is fewer than two distinct values ("a single value (…)", "no value")."""
    distinct = values.dropna().unique()
    if len(distinct) >= 2:
        return None
    return f"a single value ({json_value(distinct[0])!r})" if len(distinct) else "no value"


def _learnable(values: pd.Series, target: str, version: DatasetVersion) -> None:
    """Refuse a target with fewer than two distinct values: a split of it has nothing to learn or judge."""
    held = _too_few_values(values)
    if held is None:
        return
    raise DataError(
        f"target '{target}' (problem.target) holds {held} in dataset version {version.short_id} "
        f"({len(values):,} rows): there is nothing to learn",
        hint="add the rows of the other outcomes as a new version (taxiway data add FILE), or set "
        "problem.target to another column",
    )


def _required_setting(column: str | None, strategy: str, setting: str) -> str:
    if column is None:
        raise DataError(
            f"a {strategy} split needs {setting}, which taxiway.toml does not set",
            hint=f"set {setting} in taxiway.toml, or choose another strategy (--strategy random)",
        )
    return column


def _no_nulls(rows: pd.DataFrame, column: str, setting: str) -> None:
    missing = rows[column].isna()
    if missing.any():
        raise DataError(
            f"column '{column}' ({setting}) has {int(missing.sum()):,} missing values "
            f"(first at row {int(np.flatnonzero(missing.to_numpy())[0])}); every row needs one to be placed",
            hint="fill or drop those rows, then add the file again as a new version",
        )


def _learnable_window(values: pd.Series, settings: dict[str, Any], version: DatasetVersion) -> None:
    """Refuse a window whose rows hold fewer than two values of the target."""
    held = _too_few_values(values)
    if held is None:
        return
    raise DataError(
        f"the {settings['window_days']:g}-day window (ct.window_days) of dataset version {version.short_id} "
        f"({len(values):,} rows, {settings['window_from']} to {settings['window_to']}) holds {held} of "
        f"target '{settings['target']}': there is nothing to learn",
        hint="widen ct.window_days in taxiway.toml, or remove it to train on every row",
    )


def _empty_hint(settings: dict[str, Any]) -> str:
    if "window_days" in settings:
        return (
            f"the {settings['window_days']:g}-day window (ct.window_days) holds too few distinct times for "
            "the split's fractions; widen ct.window_days in taxiway.toml, or remove it to train on every row"
        )
    if "time_column" in settings:
        return (
            "the time column has too few distinct times for the fractions; reduce split.gap_days, "
            "or raise split.valid_fraction / split.test_fraction"
        )
    if "group_column" in settings:
        return (
            "there are too few groups for the fractions: add rows with more groups, raise "
            "split.valid_fraction / split.test_fraction, or change split.seed"
        )
    return "add rows, or raise split.valid_fraction / split.test_fraction in taxiway.toml"
