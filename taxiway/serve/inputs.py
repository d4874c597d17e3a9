"""Request rows in one shape for every protocol: columns of plain values, checked and cast for the model.

JSON records, MLflow's ``dataframe_split``, tensors and CSV all become :class:`Rows`; concurrent requests
are then concatenated column by column (cheap list joins) into one DataFrame per micro-batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taxiway.data.validate import row_failures, validate_frame
from taxiway.serve.fallback import split_report
from taxiway.serve.problems import RequestError, schema_error

Column = Sequence[Any] | np.ndarray | pd.Series


@dataclass(frozen=True)
class Rows:
    """One request's rows, column by column; ``keys`` are the row keys when the request sent them.

    Example:
        >>> rows = Rows.from_records([{"x": 1, "c": "a"}, {"x": 2}])
        >>> rows.n_rows, rows.columns["c"]
        (2, ['a', None])
    """

    columns: Mapping[str, Column]
    n_rows: int
    keys: Sequence[Any] | None = None

    @classmethod
    def from_records(cls, records: Any) -> Rows:
        """Rows from a list of JSON objects; a field left out of one row is a missing value there."""
        if not isinstance(records, list):
            raise RequestError(422, f"expected a list of rows (JSON objects), got {_json_type(records)}")
        names: dict[str, None] = {}
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(422, f"row {index} is {_json_type(record)}, not an object of fields")
            names.update(dict.fromkeys(record))
        columns = {name: [record.get(name) for record in records] for name in names}
        return cls(columns, len(records))

    @classmethod
    def from_split(cls, columns: Any, data: Any) -> Rows:
        """Rows from column names and a list of rows of values (pandas' ``split`` orientation)."""
        if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
            raise RequestError(422, "'columns' must be a list of column names")
        if not isinstance(data, list):
            raise RequestError(422, f"'data' must be a list of rows, got {_json_type(data)}")
        for index, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise RequestError(
                    422, f"row {index} of 'data' must be a list of {len(columns)} values, one per column"
                )
        if len(set(columns)) != len(columns):
            raise RequestError(422, "'columns' names a column twice")
        return cls({name: [row[i] for row in data] for i, name in enumerate(columns)}, len(data))

    @classmethod
    def from_columns(cls, columns: Any) -> Rows:
        """Rows from an object of equally long lists, one per column."""
        if not isinstance(columns, dict) or not columns:
            raise RequestError(422, f"expected an object of columns, got {_json_type(columns)}")
        lengths = {name: len(values) if isinstance(values, list) else -1 for name, values in columns.items()}
        if any(length < 0 for length in lengths.values()) or len(set(lengths.values())) != 1:
            raise RequestError(422, f"every column must be a list of the same length; got lengths {lengths}")
        return cls(columns, next(iter(lengths.values())))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Rows:
        """Rows from a DataFrame read from CSV, Parquet or a file (``taxiway predict``)."""
        if len(set(frame.columns)) != len(frame.columns):
            raise RequestError(422, "the table names a column twice")
        return cls({str(name): frame[name] for name in frame.columns}, len(frame))


def check_columns(rows: Rows, features: Sequence[str], ignored: frozenset[str], schema: Any) -> Rows:
    """The rows with only the model's columns, in its order; a 422 when a column is missing or unknown.

    Columns in ``ignored`` (the row key, dropped columns) are accepted and removed; the row key is kept
    in ``keys``. Messages come from the schema validator, so they read as everywhere else.
    """
    sent = set(rows.columns)
    if sent - ignored == set(features):
        columns = {name: rows.columns[name] for name in features}
        return Rows(columns, rows.n_rows, keys=rows.keys)
    kept = {name: values for name, values in rows.columns.items() if name not in ignored}
    report = validate_frame(schema, pd.DataFrame(kept, index=range(rows.n_rows)))
    rejected, _ = split_report(report)
    raise schema_error(row_failures(rejected))


def combine(parts: Sequence[Rows], features: Sequence[str]) -> tuple[dict[str, Column], int]:
    """The columns of several requests joined (all already through :func:`check_columns`), and their rows.

    Example:
        >>> a, b = Rows({"x": [1.0]}, 1), Rows({"x": [2.0, 3.0]}, 2)
        >>> combine([a, b], ["x"])
        ({'x': [1.0, 2.0, 3.0]}, 3)
    """
    if len(parts) == 1:
        only = parts[0]
        return {name: only.columns[name] for name in features}, only.n_rows
    total = sum(part.n_rows for part in parts)
    columns: dict[str, Column] = {
        name: list(itertools.chain.from_iterable(p.columns[name] for p in parts)) for name in features
    }
    return columns, total


def model_frame(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """The validated rows cast to the dtypes the model was trained on (JSON has no int/float/str dtypes).

    A column that already has its training dtype (the usual case) is passed through untouched.

    Example:
        >>> raw = pd.DataFrame({"n": [1, "2"], "c": [7, "b"]}, dtype=object)
        >>> cast = model_frame(raw, {"n": "int64", "c": "str"})
        >>> cast["n"].dtype.name, cast["c"].tolist()
        ('int64', ['7', 'b'])
    """
    cast: dict[str, Any] = {}
    changed = False
    for name in frame.columns:
        column = frame[name]
        dtype = dtypes.get(str(name), "")
        if str(column.dtype) != dtype:
            column = _cast(column, dtype)
            changed = True
        cast[name] = column
    return pd.DataFrame(cast, index=frame.index) if changed else frame


def _cast(column: pd.Series, dtype: str) -> pd.Series:
    types = pd.api.types
    if dtype.startswith(("int", "uint", "float", "Int", "Float")):
        numbers = column if types.is_numeric_dtype(column.dtype) else pd.to_numeric(column, errors="coerce")
        if dtype.startswith(("int", "uint")) and not numbers.isna().any():
            return numbers.astype(np.dtype(dtype))
        return numbers.astype(np.float64)
    if dtype.startswith("bool"):
        return column.map(_boolean, na_action="ignore")
    if dtype.startswith("datetime"):
        moments = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
        return moments if "UTC" in dtype or "tz" in dtype else moments.dt.tz_localize(None)
    if dtype in ("str", "string", "object", "category"):
        if types.is_string_dtype(column.dtype) and column.dtype != object:
            return column
        return column.astype(pd.StringDtype(na_value=np.nan)).where(column.notna())
    return column


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "1.0")
    return bool(value)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
