"""Schema inference: kinds, nulls, ranges and categories, all JSON-safe."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from taxiway.data.profile import MAX_CATEGORIES, ColumnSchema, Schema, profile_frame
from taxiway.errors import DataError

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


def _columns(schema: Schema) -> dict[str, ColumnSchema]:
    return {column["name"]: column for column in schema["columns"]}


def _assert_plain_json(value: Any) -> None:
    """Only JSON's own types, all the way down: no numpy scalars, no NaN or infinity."""
    if isinstance(value, dict):
        assert all(isinstance(key, str) for key in value)
        for item in value.values():
            _assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain_json(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)
        if isinstance(value, float):
            assert np.isfinite(value)


@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "count": [3, 1, 2, 5],
            "nullable_count": pd.array([3, None, 7, 1], dtype="Int64"),
            "price": [1.5, np.nan, -np.inf, 2.25],
            "flag": [True, False, True, True],
            "maybe": [True, None, False, True],  # a CSV column of booleans with a gap arrives as objects
            "city": ["Oslo", "Lyon", None, "Oslo"],
            "size": pd.Categorical(["M", "S", "L", "M"], categories=["S", "M", "L"], ordered=True),
            "seen": pd.to_datetime(
                pd.Series(["2024-05-02", "2024-05-01", None, "2024-06-30 12:00"]), format="ISO8601"
            ),
            "seen_utc": pd.to_datetime(["2024-05-02T00:00Z"] * 4, utc=True),
            "empty": [None, None, None, None],
        }
    )


def test_kinds(mixed: pd.DataFrame) -> None:
    kinds = {name: column["kind"] for name, column in _columns(profile_frame(mixed)).items()}
    assert kinds == {
        "count": "integer",
        "nullable_count": "integer",
        "price": "float",
        "flag": "boolean",
        "maybe": "boolean",
        "city": "string",
        "size": "category",
        "seen": "datetime",
        "seen_utc": "datetime",
        "empty": "string",
    }


def test_shape_and_column_order(mixed: pd.DataFrame) -> None:
    schema = profile_frame(mixed)
    assert (schema["schema_version"], schema["n_rows"], schema["n_columns"]) == (1, 4, 10)
    assert [column["name"] for column in schema["columns"]] == list(mixed.columns)
    assert list(schema["columns"][0]) == [
        "name",
        "kind",
        "dtype",
        "nullable",
        "null_count",
        "distinct_count",
        "min",
        "max",
        "categories",
    ]


def test_nulls(mixed: pd.DataFrame) -> None:
    columns = _columns(profile_frame(mixed))
    assert (columns["count"]["nullable"], columns["count"]["null_count"]) == (False, 0)
    assert (columns["nullable_count"]["nullable"], columns["nullable_count"]["null_count"]) == (True, 1)
    assert (columns["price"]["nullable"], columns["price"]["null_count"]) == (True, 1)  # -inf is a value
    assert columns["maybe"]["null_count"] == 1
    assert columns["seen"]["null_count"] == 1
    assert columns["empty"]["null_count"] == 4


def test_ranges_are_plain_numbers_and_iso_times(mixed: pd.DataFrame) -> None:
    columns = _columns(profile_frame(mixed))
    assert (columns["count"]["min"], columns["count"]["max"]) == (1, 5)
    assert type(columns["count"]["min"]) is int
    assert (columns["nullable_count"]["min"], columns["nullable_count"]["max"]) == (1, 7)
    assert (columns["price"]["min"], columns["price"]["max"]) == (1.5, 2.25)  # -inf ignored
    assert type(columns["price"]["max"]) is float
    assert (columns["seen"]["min"], columns["seen"]["max"]) == ("2024-05-01T00:00:00", "2024-06-30T12:00:00")
    assert columns["seen_utc"]["min"] == "2024-05-02T00:00:00+00:00"
    for name in ("flag", "maybe", "city", "size", "empty"):
        assert (columns[name]["min"], columns[name]["max"]) == (None, None), name


def test_categories(mixed: pd.DataFrame) -> None:
    columns = _columns(profile_frame(mixed))
    assert columns["city"]["categories"] == ["Lyon", "Oslo"]
    assert columns["city"]["distinct_count"] == 2
    assert columns["size"]["categories"] == ["S", "M", "L"]  # the declared order, not sorted
    assert columns["empty"]["categories"] == []
    assert columns["count"]["categories"] is None


def test_many_distinct_strings_give_a_count_only() -> None:
    many = pd.DataFrame({"id": [f"user-{i:03d}" for i in range(MAX_CATEGORIES + 1)]})
    column = profile_frame(many)["columns"][0]
    assert (column["categories"], column["distinct_count"]) == (None, MAX_CATEGORIES + 1)
    at_limit = profile_frame(many.iloc[:MAX_CATEGORIES])["columns"][0]
    assert at_limit["categories"] is not None and len(at_limit["categories"]) == MAX_CATEGORIES


def test_all_missing_numbers_have_no_range() -> None:
    column = profile_frame(pd.DataFrame({"x": [np.nan, np.nan]}))["columns"][0]
    assert (column["kind"], column["min"], column["max"], column["nullable"]) == ("float", None, None, True)


def test_schema_is_plain_json(mixed: pd.DataFrame) -> None:
    schema = profile_frame(mixed)
    _assert_plain_json(schema)
    assert json.loads(json.dumps(schema, allow_nan=False)) == schema


def test_iris() -> None:
    frame = load_iris(as_frame=True).frame
    schema = profile_frame(frame)
    assert (schema["n_rows"], schema["n_columns"]) == (150, 5)
    columns = _columns(schema)
    assert columns["target"]["kind"] == "integer"
    target = columns["target"]
    assert (target["min"], target["max"], target["distinct_count"]) == (0, 2, 3)
    assert columns["sepal length (cm)"]["kind"] == "float"
    assert (columns["sepal length (cm)"]["min"], columns["sepal length (cm)"]["max"]) == (4.3, 7.9)
    assert not any(column["nullable"] for column in schema["columns"])


@pytest.mark.parametrize(
    ("values", "described"),
    [
        (pd.to_timedelta([1, 2], unit="s"), "type timedelta64"),
        ([b"a", b"b"], "values of type bytes"),
        ([[1], [2, 3]], "values of type mixed"),
        ([dt.time(1), dt.time(2)], "values of type time"),
    ],
)
def test_columns_a_schema_cannot_describe(values: Any, described: str) -> None:
    with pytest.raises(DataError, match=f"column 'odd' has {described}") as caught:
        profile_frame(pd.DataFrame({"fine": [1, 2], "odd": values}))
    assert "integer, float, boolean, string, category, datetime" in caught.value.hint
