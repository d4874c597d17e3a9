"""schema.yaml: inferred profile -> file -> schema round trip, hand edits, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxiway.data.profile import profile_frame
from taxiway.data.schema import (
    SCHEMA_FILE,
    ColumnSpec,
    DatasetSchema,
    dump_schema,
    from_profile,
    load_schema,
    parse_schema,
    save_schema,
)
from taxiway.errors import DataError

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


def _mixed() -> pd.DataFrame:
    """Every kind a schema describes, with gaps, a category dtype, free text and zoned times."""
    rows = 60
    return pd.DataFrame(
        {
            "count": np.arange(rows),
            "score": [None if i % 7 == 0 else i / 3 for i in range(rows)],
            "flag": [i % 2 == 0 for i in range(rows)],
            "city": ["Lyon", "Oslo", "yes"] * (rows // 3),
            "code": [f"c{i:03d}" for i in range(rows)],  # 60 distinct: free text, no categories
            "size": pd.Categorical(["S", "M", "L"] * (rows // 3), categories=["S", "M", "L"]),
            "day": pd.date_range("2024-05-01", periods=rows, freq="D"),
            "seen": pd.date_range("2024-05-01T10:00", periods=rows, freq="h", tz="Europe/Paris"),
            "label": [0, 1] * (rows // 2),
        }
    )


def test_profile_to_yaml_and_back_is_the_same_schema(tmp_path: Path) -> None:
    inferred = from_profile(profile_frame(_mixed()), target="label")
    assert [spec.type for spec in inferred.columns.values()] == [
        "integer",
        "float",
        "boolean",
        "string",
        "string",
        "category",
        "datetime",
        "datetime",
        "integer",
    ]
    assert inferred.columns["score"].nullable and not inferred.columns["count"].nullable
    assert (inferred.columns["count"].min, inferred.columns["count"].max) == (0, 59)
    assert inferred.columns["city"].categories == ["Lyon", "Oslo", "yes"]
    assert inferred.columns["code"].categories is None
    assert inferred.columns["size"].categories == ["S", "M", "L"]
    assert inferred.columns["day"].min == "2024-05-01T00:00:00"
    assert inferred.target == "label"

    path = tmp_path / SCHEMA_FILE
    save_schema(inferred, path, origin="Written from dataset version abc.")
    assert load_schema(path) == inferred
    assert parse_schema(dump_schema(inferred)) == inferred
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# schema.yaml: what taxiway expects of every column")
    assert "EDIT IT BY HAND" in text and "# Written from dataset version abc." in text
    assert "categories: [Lyon, Oslo, 'yes']" in text  # flow style; YAML's yes quoted so it stays text
    assert [p.name for p in tmp_path.iterdir()] == [SCHEMA_FILE]  # no temporary file left behind


def test_hand_edits_are_read_as_written() -> None:
    text = """
# a team's file
schema_version: 1
columns:
  age: {type: integer, nullable: false, min: 18, max: 65}
  zip: {type: string, categories: [75001, 1000]}   # unquoted numbers in a string column are text
  day: {type: datetime, min: 2024-05-01, max: 2024-12-31 23:00:00}   # YAML dates, unquoted
  plate: {type: string, pattern: '[A-Z]{2}-\\d{3}-[A-Z]{2}'}
  churned: {type: boolean, target: true}
"""
    schema = parse_schema(text)
    assert schema.columns["age"] == ColumnSpec(type="integer", nullable=False, min=18, max=65)
    assert schema.columns["zip"].categories == ["75001", "1000"]
    assert (schema.columns["day"].min, schema.columns["day"].max) == ("2024-05-01", "2024-12-31T23:00:00")
    assert schema.columns["plate"].pattern == r"[A-Z]{2}-\d{3}-[A-Z]{2}"
    assert schema.target == "churned"
    assert list(schema.without_target().columns) == ["age", "zip", "day", "plate"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "columns:\n  age: {type: int}\n",
            "age.type: expected one of integer, float, boolean, string, category, datetime (got 'int')",
        ),
        (
            "columns:\n  age: {type: integer, maximum: 3}\n",
            "columns.age.maximum: unknown key (did you mean 'max'?); the keys are type, nullable, min, max",
        ),
        ("columns:\n  age: {nullable: true}\n", "schema.yaml: columns.age.type: is required but missing"),
        ("columns:\n  age: integer\n", "schema.yaml: columns.age: expected a mapping of keys"),
        (
            "columns:\n  age: {type: integer, min: 5, max: 1}\n",
            "columns.age: min (5) is greater than max (1)",
        ),
        (
            "columns:\n  age: {type: integer, min: ten}\n",
            "columns.age: min/max of a integer column are numbers",
        ),
        ("columns:\n  age: {type: integer, min: true}\n", "columns.age.min: a bound is a number"),
        ("columns:\n  x: {type: float, categories: [1, 2]}\n", "columns.x: categories apply to string and"),
        (
            "columns:\n  x: {type: float, pattern: 'a+'}\n",
            "columns.x: a pattern applies to string and category",
        ),
        (
            "columns:\n  x: {type: string, min: 1}\n",
            "columns.x: min/max apply to integer, float and datetime",
        ),
        (
            "columns:\n  x: {type: string, pattern: '(a'}\n",
            "columns.x.pattern: not a valid regular expression",
        ),
        ("columns:\n  x: {type: string, categories: [yes, no]}\n", "categories of a string column are text"),
        ("columns:\n  t: {type: datetime, min: 5}\n", "columns.t: min/max of a datetime column are ISO 8601"),
        ("columns:\n  t: {type: datetime, min: 'soon'}\n", "columns.t: 'soon' is not an ISO 8601 date"),
        (
            "columns:\n  a: {type: integer, target: true}\n  b: {type: integer, target: true}\n",
            "only one column can be the target; a, b all say target: true",
        ),
        ("columns: {}\n", "a schema needs at least one column"),
        ("schema_version: 2\ncolumns:\n  a: {type: integer}\n", "schema.yaml: schema_version:"),
        (
            "colums:\n  a: {type: integer}\n",
            "colums: unknown key (did you mean 'columns'?); the keys are schema_version, columns",
        ),
        ("- a\n- b\n", "schema.yaml: expected a mapping with a 'columns' key at the top (got list)"),
        (
            "columns:\n  a: {type: integer}\n  a: {type: float}\n",
            "not valid YAML at line 3, column 3: key 'a'",
        ),
        ("columns:\n  a: {type: [integer\n", "schema.yaml is not valid YAML at line"),
    ],
)
def test_invalid_schema_names_the_field_and_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        parse_schema(text)
    assert message in str(caught.value)
    assert str(caught.value).startswith("schema.yaml")
    assert "taxiway data schema --write --force" in caught.value.hint


def test_several_problems_report_the_first_and_how_many_more() -> None:
    with pytest.raises(DataError, match=r"columns\.a\.type: .* \(and 1 more problems\)"):
        parse_schema("columns:\n  a: {type: int}\n  b: {type: flt}\n")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no schema file at") as caught:
        load_schema(tmp_path / SCHEMA_FILE)
    assert caught.value.hint == "write one from a dataset version with `taxiway data schema --write`"
    latin = tmp_path / SCHEMA_FILE
    latin.write_bytes("columns:\n  caf\xe9: {type: integer}\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot be read"):
        load_schema(latin)


def test_an_unwritable_folder_is_bad_input(tmp_path: Path) -> None:
    schema = DatasetSchema(columns={"x": ColumnSpec(type="float")})
    with pytest.raises(DataError, match="cannot write .*schema.yaml") as caught:
        save_schema(schema, tmp_path / "missing" / SCHEMA_FILE)
    assert caught.value.hint == "check that the folder exists and is writable"


def test_a_profile_with_a_repeated_column_name_is_refused() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="column 'a' appears twice"):
        from_profile(profile_frame(frame))


def test_datetime_bounds_compare_in_utc() -> None:
    spec = ColumnSpec(type="datetime", min="2024-05-01T02:00:00+02:00", max="2024-05-02")
    assert spec.bounds() == (pd.Timestamp("2024-05-01T00:00:00"), pd.Timestamp("2024-05-02"))
    assert DatasetSchema(columns={"t": spec}).target is None
