"""The first schema of a dataset: each column's kind, nulls, range and categories, as a JSON-safe dict.

The dict is stored with every dataset version (``dataset_versions.schema``) and its keys are stable::

    {
      "schema_version": 1,              # bumped when a key changes meaning
      "n_rows": 150,
      "n_columns": 2,
      "columns": [                      # in the file's column order
        {
          "name": "petal_width",
          "kind": "float",              # integer | float | boolean | string | category | datetime
          "dtype": "float64",           # the pandas dtype it was read as (informative only)
          "nullable": false,            # whether any value is missing
          "null_count": 0,
          "distinct_count": 22,         # distinct values, missing values not counted
          "min": 0.1,                   # numbers: finite values only (±inf ignored); datetimes: ISO 8601;
          "max": 2.5,                   #   null for other kinds and for columns with no such value
          "categories": null            # string/category columns with <= 50 distinct values: the values
        },                              #   (strings sorted; a category dtype keeps its own order); else null
        ...
      ]
    }

Everything in it is a plain ``str``, ``int``, ``float``, ``bool``, ``list``, ``dict`` or ``None``: no NaN,
no infinity, no numpy scalars, so it goes into JSON columns and ``json.dumps`` unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypedDict

import numpy as np
import pandas as pd

from taxiway.errors import DataError

SCHEMA_VERSION = 1
# Past this many distinct values a text column is free text or an id, not a set of categories worth listing.
MAX_CATEGORIES = 50

Kind = Literal["integer", "float", "boolean", "string", "category", "datetime"]
KINDS: tuple[Kind, ...] = ("integer", "float", "boolean", "string", "category", "datetime")
Scalar = str | int | float | bool | None

__all__ = [
    "KINDS",
    "MAX_CATEGORIES",
    "SCHEMA_VERSION",
    "ColumnSchema",
    "Kind",
    "Scalar",
    "Schema",
    "column_kind",
    "profile_frame",
]


class ColumnSchema(TypedDict):
    """One column of a :class:`Schema` (see the module docstring for what each key means)."""

    name: str
    kind: Kind
    dtype: str
    nullable: bool
    null_count: int
    distinct_count: int
    min: Scalar
    max: Scalar
    categories: list[Scalar] | None


class Schema(TypedDict):
    """What :func:`profile_frame` infers about a whole table."""

    schema_version: int
    n_rows: int
    n_columns: int
    columns: list[ColumnSchema]


def profile_frame(frame: pd.DataFrame) -> Schema:
    """Infer the schema of a table.

    Example:
        >>> frame = pd.DataFrame({"age": [31, None, 47], "city": ["Lyon", "Oslo", "Lyon"]})
        >>> schema = profile_frame(frame)
        >>> schema["n_rows"], [c["kind"] for c in schema["columns"]]
        (3, ['float', 'string'])
        >>> age, city = schema["columns"]
        >>> age["nullable"], age["null_count"], age["min"], age["max"]
        (True, 1, 31.0, 47.0)
        >>> city["categories"], city["distinct_count"]
        (['Lyon', 'Oslo'], 2)

    Raises:
        DataError: a column holds values of a type taxiway cannot describe (durations, lists, bytes, ...).
    """
    return Schema(
        schema_version=SCHEMA_VERSION,
        n_rows=len(frame),
        n_columns=int(frame.shape[1]),
        # By position, not by name: a file may repeat a column name.
        columns=[_profile_column(str(name), frame.iloc[:, i]) for i, name in enumerate(frame.columns)],
    )


def _profile_column(name: str, column: pd.Series) -> ColumnSchema:
    kind = column_kind(name, column)
    null_count = int(column.isna().sum())
    distinct_count = int(column.nunique(dropna=True))
    low: Scalar = None
    high: Scalar = None
    categories: list[Scalar] | None = None
    if kind in ("integer", "float"):
        low, high = _number_range(column)
    elif kind == "datetime":
        present = column.dropna()
        if not present.empty:
            low, high = present.min().isoformat(), present.max().isoformat()
    elif kind == "string" and distinct_count <= MAX_CATEGORIES:
        categories = [*sorted(str(value) for value in column.dropna().unique())]
    elif kind == "category":
        declared = column.cat.categories
        if len(declared) <= MAX_CATEGORIES:
            categories = [_json_scalar(value) for value in declared]
    return ColumnSchema(
        name=name,
        kind=kind,
        dtype=str(column.dtype),
        nullable=null_count > 0,
        null_count=null_count,
        distinct_count=distinct_count,
        min=low,
        max=high,
        categories=categories,
    )


def column_kind(name: str, column: pd.Series) -> Kind:
    """The kind of a column, from its dtype (and, for generic object columns, from its values).

    Example:
        >>> column_kind("flag", pd.Series([True, None, False]))
        'boolean'
    """
    dtype = column.dtype
    types = pd.api.types
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if types.is_bool_dtype(dtype):
        return "boolean"
    if types.is_integer_dtype(dtype):
        return "integer"
    if types.is_float_dtype(dtype):
        return "float"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if types.is_string_dtype(dtype) and dtype != object:
        return "string"
    if dtype == object:
        # A CSV column of True/False with gaps, or an all-missing column, arrives as plain objects.
        inferred = types.infer_dtype(column, skipna=True)
        if inferred in ("string", "empty"):
            return "string"
        if inferred == "boolean":
            return "boolean"
        described = f"values of type {inferred}"
    else:
        described = f"type {dtype}"
    raise DataError(
        f"column '{name}' has {described}, which taxiway cannot describe in a schema",
        hint=f"supported kinds are {', '.join(KINDS)}; convert the column (e.g. durations to seconds) "
        "or drop it before adding the file",
    )


def _number_range(column: pd.Series) -> tuple[Scalar, Scalar]:
    values = column.dropna()
    if pd.api.types.is_float_dtype(column.dtype):
        values = values[np.isfinite(values.to_numpy(dtype="float64"))]
    if values.empty:
        return None, None
    return _json_scalar(values.min()), _json_scalar(values.max())


def _json_scalar(value: Any) -> Scalar:
    """A pandas/numpy value as plain JSON: numpy scalars unwrapped, times as ISO 8601, NaN as None."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return str(value.isoformat())
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
