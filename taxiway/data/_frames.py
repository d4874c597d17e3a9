"""Helpers the data checks share: which columns are inputs, turning columns into numbers, JSON-safe values."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Scalar = str | int | float | bool | None
_EXAMPLES = 3  # rows shown per finding: enough to recognise the problem, short enough to read


def feature_columns(frame: pd.DataFrame, settings: dict[str, Any], drop: Iterable[str] = ()) -> list[str]:
    """The columns a model may read: all but the target, the key column and the charter's drop_columns.

    Example:
        >>> frame = pd.DataFrame({"id": [1], "x": [2.0], "y": [0]})
        >>> feature_columns(frame, {"target": "y", "key_column": "id"})
        ['x']
    """
    skip = {settings["target"], settings.get("key_column"), *drop}
    return [str(column) for column in frame.columns if column not in skip]


def is_numeric(series: pd.Series) -> bool:
    """Whether a column is read as numbers (booleans and datetimes count: both have an order)."""
    dtype = series.dtype
    types = pd.api.types
    return bool(
        types.is_bool_dtype(dtype) or types.is_numeric_dtype(dtype) or types.is_datetime64_any_dtype(dtype)
    )


def categories(series: pd.Series) -> list[str]:
    """The distinct non-missing values of a column as text, sorted: the codebook of :func:`as_numbers`."""
    return sorted({str(value) for value in series.dropna().unique()})


def as_numbers(series: pd.Series, codebook: Sequence[str] | None = None) -> NDArray[np.float64]:
    """A column as float64: numbers as they are, datetimes as seconds, text as its position in ``codebook``.

    Missing values, and text absent from the codebook (default: the column's own values), become NaN.

    Example:
        >>> as_numbers(pd.Series(["b", "a", None, "z"]), ["a", "b"]).tolist()
        [1.0, 0.0, nan, nan]
    """
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = pd.DatetimeIndex(series)
        seconds = stamps.as_unit("ns").asi8.astype(np.float64) / 1e9
        return np.where(stamps.isna(), np.nan, seconds)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return np.asarray(series.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))
    book = categories(series) if codebook is None else list(codebook)
    codes = pd.Index(book, dtype=object).get_indexer(pd.Index(as_text(series), dtype=object))
    return np.where(codes < 0, np.nan, codes.astype(np.float64))


def as_text(series: pd.Series, missing: str | None = None) -> NDArray[np.object_]:
    """Each value as ``str(value)``, and missing values as ``missing``, in an object array.

    A column of strings is taken as it is (C speed); other columns go value by value.

    Example:
        >>> as_text(pd.Series(["a", None, "b"]), missing="?").tolist(), as_text(pd.Series([1, None])).tolist()
        (['a', '?', 'b'], ['1.0', None])
    """
    values = series.astype(object).to_numpy()
    missing_at = pd.isna(values)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        out = values.copy()
        out[missing_at] = missing
        return out
    return np.asarray(
        [
            missing if gone else str(value)
            for value, gone in zip(values.tolist(), missing_at.tolist(), strict=True)
        ],
        dtype=object,
    )


def numeric_matrix(
    frame: pd.DataFrame, columns: Sequence[str], reference: pd.DataFrame | None = None
) -> NDArray[np.float64]:
    """Columns as one float64 matrix; text is coded by the values ``reference`` (e.g. the train rows) holds.

    Example:
        >>> frame = pd.DataFrame({"x": [1, 2], "c": ["u", "v"]})
        >>> numeric_matrix(frame, ["x", "c"], reference=frame.iloc[:1]).tolist()
        [[1.0, 0.0], [2.0, nan]]
    """
    source = frame if reference is None else reference
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for i, column in enumerate(columns):
        book = None if is_numeric(frame[column]) else categories(source[column])
        out[:, i] = as_numbers(frame[column], book)
    return out


def subsample(frame: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """At most ``cap`` rows, drawn reproducibly, in their original order.

    Example:
        >>> len(subsample(pd.DataFrame({"x": range(10)}), 4, seed=0))
        4
    """
    if len(frame) <= cap:
        return frame
    chosen = np.sort(np.random.default_rng(seed).choice(len(frame), size=cap, replace=False))
    return frame.iloc[chosen]


def json_value(value: Any) -> Scalar:
    """A pandas/numpy value as plain JSON: numpy scalars unwrapped, times as ISO 8601, NaN as None.

    Example:
        >>> json_value(np.int64(3)), json_value(float("nan")), json_value(pd.Timestamp("2024-05-01"))
        (3, None, '2024-05-01T00:00:00')
    """
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return str(value.isoformat())
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def examples(frame: pd.DataFrame, columns: Sequence[str], limit: int = _EXAMPLES) -> list[dict[str, Scalar]]:
    """The first few rows of ``frame`` as JSON-safe dicts, with the row key first.

    Example:
        >>> frame = pd.DataFrame({"x": [1.5, 2.0]}, index=pd.Index(["k1", "k2"], name="row_key"))
        >>> examples(frame, ["x"], limit=1)
        [{'row_key': 'k1', 'x': 1.5}]
    """
    rows = []
    for key, row in frame.head(limit)[list(columns)].iterrows():
        rows.append({"row_key": json_value(key), **{str(c): json_value(row[c]) for c in columns}})
    return rows


_NULL_TEXT = "\x00null"  # stands for a missing value when text is hashed; no real value holds a NUL byte
_NULL_TIME = np.iinfo(np.int64).min


def normalised(series: pd.Series) -> NDArray[Any] | pd.Series:
    """A column as the values its hash is taken over: floats, UTC nanoseconds or text (see row_hashes)."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = pd.DatetimeIndex(series)
        stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        return np.where(stamps.isna(), _NULL_TIME, stamps.as_unit("ns").asi8)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        values = series.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN pattern; -0.0 becomes 0.0
    return as_text(series, missing=_NULL_TEXT)
