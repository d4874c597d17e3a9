"""The fast path: a batch whose every value is plainly fine skips the validator's per-column pandas work.

The schema validator is the one judge of a value (``taxiway.data.validate``); it reports each problem with a
message, which is why it works on pandas columns, and that costs ~1.5 ms even for one row of 12 columns:
as much as the model's own ``predict``. Most requests hold no problem at all. This module only decides,
with numpy on the raw values, that a batch is *certainly clean*: numbers that convert to floats, are finite,
integral where the schema says integer, inside the request schema's ranges and present where required;
text that is text and among the known categories. Anything else (a pattern, a date, a string in a number
column, a value out of range) sends the batch to the validator, which finds and words the problem, so the
answers never depend on which path ran. Clean columns come back typed for the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from taxiway.data.schema import ColumnSpec, DatasetSchema

_NUMBERS = ("integer", "float")
_TEXT = ("string", "category")


def clean_frame(
    schema: DatasetSchema, columns: Mapping[str, Any], dtypes: Mapping[str, str], n_rows: int
) -> pd.DataFrame | None:
    """The model's input frame when every value is certainly valid, else None (use the validator).

    Example:
        >>> from taxiway.data.schema import ColumnSpec
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float", nullable=False, min=0, max=5),
        ...                                 "c": ColumnSpec(type="string", categories=["a", "b"])})
        >>> typed = clean_frame(schema, {"x": [1, 2.5], "c": ["a", None]}, {"x": "float64", "c": "str"}, 2)
        >>> typed.dtypes.tolist()
        [dtype('float64'), <StringDtype(na_value=nan)>]
        >>> clean_frame(schema, {"x": [1, 9], "c": ["a", "b"]}, {}, 2) is None  # 9 is out of range
        True
    """
    typed: dict[str, Any] = {}
    for name, spec in schema.columns.items():
        values = columns.get(name)
        if values is None or spec.pattern is not None:
            return None
        column = (
            _numbers(spec, values) if spec.type in _NUMBERS else _text(spec, values, dtypes.get(name, ""))
        )
        if column is None:
            return None
        typed[name] = column
    return pd.DataFrame(typed, index=pd.RangeIndex(n_rows), copy=False)


def _numbers(spec: ColumnSpec, values: Sequence[Any]) -> np.ndarray | None:
    if isinstance(values, np.ndarray | pd.Series):
        return None  # columns from files take the validator path: their dtypes vary more
    if any(type(value) is bool or isinstance(value, str) for value in values):
        return None  # booleans and numbers sent as text: the validator decides
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.ndim != 1:
        return None  # lists sent as values: the validator words it
    missing = np.isnan(array)
    present = array[~missing]
    if (missing.any() and not spec.nullable) or not np.isfinite(present).all():
        return None
    if spec.type == "integer" and (np.mod(present, 1.0) != 0).any():
        return None
    low, high = spec.bounds()
    if (low is not None and (present < low).any()) or (high is not None and (present > high).any()):
        return None
    if spec.type == "integer" and not missing.any():
        return array.astype(np.int64)
    return array


def _text(spec: ColumnSpec, values: Sequence[Any], dtype: str) -> Any | None:
    if spec.type not in _TEXT or isinstance(values, np.ndarray | pd.Series):
        return None
    allowed = frozenset(spec.categories) if spec.categories is not None else None
    for value in values:
        if value is None:
            if not spec.nullable:
                return None
        elif type(value) is not str or (allowed is not None and value not in allowed):
            return None
    if dtype in ("str", "string"):
        return pd.array(values, dtype=pd.StringDtype(na_value=np.nan))
    return np.array(values, dtype=object)
