"""validate_frame: each kind of violation, counts and examples, hand-edited schemas, and per-row answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxiway.data.profile import profile_frame
from taxiway.data.reading import read_table
from taxiway.data.schema import ColumnSpec, DatasetSchema, from_profile, parse_schema
from taxiway.data.schema_check import (
    MAX_EXAMPLES,
    FieldProblem,
    ValidationReport,
    row_failures,
    validate_frame,
)

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


def _found(report: ValidationReport) -> list[tuple[str, str, int, tuple[int, ...], tuple[object, ...]]]:
    return [(v.column, v.kind, v.count, v.rows, v.examples) for v in report.violations]


def _table(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(3000, 500, rows).round(2),
            "city": rng.choice(["Lyon", "Oslo", "Rome"], rows),
            "plate": [f"AB-{i:03d}-CD" for i in range(rows)],
            "size": pd.Categorical(rng.choice(["S", "M", "L"], rows), categories=["S", "M", "L"]),
            "day": pd.date_range("2024-01-01", periods=rows, freq="D"),
            "member": rng.random(rows) < 0.5,
            "label": rng.integers(0, 2, rows),
        }
    )


def test_the_data_a_schema_was_inferred_from_is_valid(tmp_path: Path) -> None:
    frame = _table()
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    read_back = read_table(path)  # as `data validate` sees it: read from CSV
    schema = from_profile(profile_frame(read_back), target="label")
    report = validate_frame(schema, read_back)
    assert report.is_valid and report.n_violations == 0 and report.counts() == {}
    assert validate_frame(from_profile(profile_frame(frame)), frame).is_valid
    assert row_failures(report) == [[] for _ in range(len(frame))]


def test_a_hand_edited_schema_reports_exactly_its_edits(tmp_path: Path) -> None:
    frame = _table()
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    read_back = read_table(path)
    inferred = from_profile(profile_frame(read_back), target="label")
    # The team tightens age to at most 80 and no longer accepts Rome.
    edited = inferred.columns | {
        "age": inferred.columns["age"].model_copy(update={"max": 80}),
        "city": inferred.columns["city"].model_copy(update={"categories": ["Lyon", "Oslo"]}),
    }
    report = validate_frame(DatasetSchema(columns=edited), read_back)

    too_old = np.flatnonzero(frame["age"].to_numpy() > 80)
    in_rome = np.flatnonzero(frame["city"].to_numpy() == "Rome")
    assert _found(report) == [
        ("age", "out_of_range", len(too_old), tuple(too_old[:5]), tuple(frame["age"].iloc[too_old[:5]])),
        ("city", "unknown_category", len(in_rome), tuple(in_rome[:5]), ("Rome",) * 5),
    ]
    assert report.counts() == {
        "age": {"out_of_range": len(too_old)},
        "city": {"unknown_category": len(in_rome)},
    }
    assert report.violations[0].expected == "between 18 and 80"
    assert report.violations[1].expected == "one of Lyon, Oslo"
    assert all(isinstance(value, int) for value in report.violations[0].examples)


def test_every_kind_of_violation_is_found_with_rows_and_examples() -> None:
    schema = parse_schema(
        """
columns:
  age: {type: integer, nullable: false, min: 0, max: 120}
  income: {type: float, min: 0}
  city: {type: string, categories: [Lyon, Oslo]}
  plate: {type: string, pattern: '[A-Z]{2}-\\d{3}'}
  size: {type: category, categories: [S, M]}
  day: {type: datetime, min: '2024-01-01', max: '2024-12-31'}
  member: {type: boolean}
  missing: {type: float}
"""
    )
    frame = pd.DataFrame(
        {
            "age": ["31", "x", None, "130", "7.5", "40"],
            "income": [10.0, -1.0, None, np.inf, 5.0, -2.5],
            "city": ["Lyon", "Rome", None, "Oslo", "Paris", "Lyon"],
            "plate": ["AB-123", "ab-123", "AB-1234", None, "CD-999", "AB-12"],
            "size": pd.Categorical(["S", "M", "L", None, "S", "XL"]),
            "day": ["2024-05-01", "2023-12-31", "soon", None, "2025-01-01T10:00:00Z", "2024-06-01"],
            "member": [True, "maybe", "false", None, 1, "0"],
            "extra": [1, None, 3, None, None, None],
        }
    )
    report = validate_frame(schema, frame)
    assert _found(report) == [
        ("age", "wrong_type", 2, (1, 4), ("x", "7.5")),
        ("age", "null", 1, (2,), (None,)),
        ("age", "out_of_range", 1, (3,), ("130",)),
        ("income", "out_of_range", 2, (1, 5), (-1.0, -2.5)),
        ("city", "unknown_category", 2, (1, 4), ("Rome", "Paris")),
        ("plate", "pattern_mismatch", 3, (1, 2, 5), ("ab-123", "AB-1234", "AB-12")),
        ("size", "unknown_category", 2, (2, 5), ("L", "XL")),
        ("day", "wrong_type", 1, (2,), ("soon",)),
        ("day", "out_of_range", 2, (1, 4), ("2023-12-31", "2025-01-01T10:00:00Z")),
        ("member", "wrong_type", 1, (1,), ("maybe",)),
        ("missing", "missing_column", 6, (), ()),
        ("extra", "unexpected_column", 6, (0, 1, 2, 3, 4), (1.0, None, 3.0, None, None)),
    ]
    assert not report.is_valid
    assert report.n_violations == 2 + 1 + 1 + 2 + 2 + 3 + 2 + 1 + 2 + 1 + 6 + 6
    assert {v.kind for v in report.violations} == {
        "missing_column",
        "unexpected_column",
        "wrong_type",
        "null",
        "out_of_range",
        "unknown_category",
        "pattern_mismatch",
    }


def test_counts_are_complete_and_examples_capped() -> None:
    schema = DatasetSchema(columns={"n": ColumnSpec(type="integer", max=10)})
    report = validate_frame(schema, pd.DataFrame({"n": np.arange(1_000)}))
    (violation,) = report.violations
    assert violation.count == 989
    assert violation.rows == (11, 12, 13, 14, 15) and len(violation.examples) == MAX_EXAMPLES


def test_casts_follow_what_a_csv_or_a_json_request_may_hold() -> None:
    schema = DatasetSchema(
        columns={
            "n": ColumnSpec(type="integer", min=0),
            "x": ColumnSpec(type="float"),
            "b": ColumnSpec(type="boolean"),
            "code": ColumnSpec(type="string", categories=["7", "8"]),
            "at": ColumnSpec(type="datetime", min="2024-05-01T00:00:00"),
        }
    )
    frame = pd.DataFrame(
        {
            "n": [1.0, None, 3.0],  # an integer column with a gap is read as float
            "x": ["1.5", "2", None],
            "b": ["True", "false", "1"],
            "code": [7, 8, None],  # a CSV reads category "7" as the number 7
            "at": pd.to_datetime(["2024-05-01T02:00:00+02:00", "2024-06-01T00:00:00+00:00", None], utc=True),
        }
    )
    assert validate_frame(schema, frame).is_valid
    wrong = pd.DataFrame(
        {"n": [1.5, -1.0], "x": [True, False], "b": [2, 1], "code": ["9", "7"], "at": [1, 2]}
    )
    assert [(v.column, v.kind, v.count) for v in validate_frame(schema, wrong).violations] == [
        ("n", "wrong_type", 1),
        ("n", "out_of_range", 1),
        ("x", "wrong_type", 2),
        ("b", "wrong_type", 1),
        ("code", "unknown_category", 1),
        ("at", "wrong_type", 2),
    ]
    assert validate_frame(schema, wrong).violations[1].examples == (-1,)  # shown as the integer it is


def test_nullable_extension_dtypes_are_range_checked() -> None:
    schema = DatasetSchema(columns={"n": ColumnSpec(type="integer", max=5, nullable=False)})
    frame = pd.DataFrame({"n": pd.array([1, None, 9], dtype="Int64")})
    assert [(v.kind, v.rows) for v in validate_frame(schema, frame).violations] == [
        ("null", (1,)),
        ("out_of_range", (2,)),
    ]


def test_serving_gets_one_list_of_field_problems_per_row() -> None:
    schema = DatasetSchema(
        columns={
            "age": ColumnSpec(type="integer", nullable=False, min=0, max=120),
            "city": ColumnSpec(type="string", categories=["Lyon", "Oslo"]),
            "plan": ColumnSpec(type="string", pattern=r"[a-z]+"),
            "label": ColumnSpec(type="boolean", target=True),
        }
    )
    requests = pd.DataFrame.from_records(
        [
            {"age": 31, "city": "Lyon", "plan": "pro"},
            {"age": "old", "city": "Rome", "plan": "pro"},
            {"age": None, "city": "Oslo", "plan": "PRO", "coupon": "X1"},
            {"age": 130, "city": "Oslo"},
        ]
    )
    report = validate_frame(schema.without_target(), requests)
    problems = row_failures(report)
    assert problems[0] == []
    assert problems[1] == [
        FieldProblem("age", "wrong_type", "age: 'old' is not an integer"),
        FieldProblem("city", "unknown_category", "city: 'Rome' is not one of Lyon, Oslo"),
    ]
    assert [p.message for p in problems[2]] == [
        "age: is missing (the schema says it is not nullable)",
        "plan: 'PRO' is not text matching [a-z]+",
        "coupon: unexpected field (not in the schema)",
    ]
    assert [p.message for p in problems[3]] == ["age: 130 is not between 0 and 120"]
    missing = row_failures(validate_frame(schema.without_target(), requests.drop(columns=["plan"])))
    assert FieldProblem("plan", "missing_column", "plan: is required (string values)") in missing[0]


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_tables(rows: int) -> None:
    schema = DatasetSchema(columns={"c": ColumnSpec(type="category", categories=["a"], nullable=False)})
    frame = pd.DataFrame({"c": pd.Categorical([None] * rows, categories=[])})
    report = validate_frame(schema, frame)
    assert [(v.kind, v.count) for v in report.violations] == ([("null", 1)] if rows else [])
