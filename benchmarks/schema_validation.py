"""Schema validation speed: taxiway's vectorised validator vs pandera, on the same table and the same rules.

Generates a table of mixed types (integers, floats, text categories, category dtype, text with a pattern,
datetimes, a boolean; some nulls; a few hundred planted violations), writes the equivalent rules once as a
taxiway ``DatasetSchema`` and once as a pandera ``DataFrameSchema``, checks that both find the same number
of failing values, then times each (warm: one untimed run first; median of ``--repeat`` runs).

Run (needs the ``bench`` extra: ``pip install -e '.[bench]'``)::

    .venv/bin/python benchmarks/schema_validation.py --rows 1000000 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pandera
import pandera.pandas as pa
import pyarrow

from taxiway.data.schema import ColumnSpec, DatasetSchema
from taxiway.data.schema_check import validate_frame

GOAL_SECONDS = 1.0  # 1,000,000 rows x 20 columns, on a 2-core machine
COLORS = ["red", "green", "blue", "yellow", "black"]
CITIES = ["Lyon", "Oslo", "Rome", "Lima", "Pune", "Kobe", "Oulu", "Graz"]
PLANTED = 100  # violations planted per rule that gets some


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """20 columns of mixed types, with nulls where the schema allows them and planted violations."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(5):
        data[f"int_{i}"] = rng.integers(0, 1_000, rows)
    for i in range(5):
        data[f"float_{i}"] = rng.normal(50, 10, rows).clip(0, 100)
    data["float_0"][rng.choice(rows, rows // 100, replace=False)] = np.nan  # nullable
    for i, values in enumerate((COLORS, CITIES, COLORS[:3])):
        data[f"text_{i}"] = pd.Series(rng.choice(values, rows), dtype="str")
    data["cat_0"] = pd.Categorical(rng.choice(CITIES, rows))
    data["cat_1"] = pd.Categorical(rng.choice(COLORS, rows))
    codes = rng.integers(0, 10_000, rows)
    data["code_0"] = pd.Series(np.char.add("AB-", codes.astype(str)), dtype="str")
    data["code_1"] = pd.Series(np.char.add("user_", np.char.zfill(codes.astype(str), 5)), dtype="str")
    start = np.datetime64("2024-01-01T00:00:00", "s")
    for i in range(2):
        seconds = rng.integers(0, 365 * 24 * 3600, rows)
        data[f"time_{i}"] = pd.Series(start + seconds.astype("timedelta64[s]"))
    data["flag"] = rng.random(rows) < 0.3
    frame = pd.DataFrame(data)

    def plant(column: str, value: Any) -> None:
        rows_hit = rng.choice(rows, PLANTED, replace=False)
        frame.loc[rows_hit, column] = value

    plant("int_0", 5_000)  # out of range
    plant("float_1", np.nan)  # null where not nullable
    plant("float_2", 250.0)  # out of range
    plant("text_0", "purple")  # unknown category
    frame["cat_0"] = frame["cat_0"].cat.add_categories(["Paris"])
    plant("cat_0", "Paris")  # unknown category
    plant("code_0", "ab-12")  # pattern mismatch
    plant("time_1", pd.Timestamp("2030-01-01"))  # out of range
    return frame


def taxiway_schema() -> DatasetSchema:
    columns: dict[str, ColumnSpec] = {}
    for i in range(5):
        columns[f"int_{i}"] = ColumnSpec(type="integer", nullable=False, min=0, max=999)
    for i in range(5):
        columns[f"float_{i}"] = ColumnSpec(type="float", nullable=i == 0, min=0.0, max=100.0)
    for i, values in enumerate((COLORS, CITIES, COLORS[:3])):
        columns[f"text_{i}"] = ColumnSpec(type="string", nullable=False, categories=list(values))
    columns["cat_0"] = ColumnSpec(type="category", nullable=False, categories=list(CITIES))
    columns["cat_1"] = ColumnSpec(type="category", nullable=False, categories=list(COLORS))
    columns["code_0"] = ColumnSpec(type="string", nullable=False, pattern=r"[A-Z]{2}-\d{1,4}")
    columns["code_1"] = ColumnSpec(type="string", nullable=False, pattern=r"user_\d{5}")
    for i in range(2):
        columns[f"time_{i}"] = ColumnSpec(
            type="datetime", nullable=False, min="2024-01-01T00:00:00", max="2024-12-31T23:59:59"
        )
    columns["flag"] = ColumnSpec(type="boolean", nullable=False)
    return DatasetSchema(columns=columns)


def pandera_schema(schema: DatasetSchema, frame: pd.DataFrame) -> pa.DataFrameSchema:
    """The same rules in pandera: dtype, nullability, range, allowed values, full-match pattern."""
    columns: dict[str, pa.Column] = {}
    for name, spec in schema.columns.items():
        checks: list[pa.Check] = []
        low, high = spec.bounds()
        if low is not None and high is not None:
            checks.append(pa.Check.in_range(low, high))
        if spec.categories is not None:
            checks.append(pa.Check.isin(spec.categories))
        if spec.pattern is not None:
            checks.append(pa.Check.str_matches(rf"^(?:{spec.pattern})$"))
        columns[name] = pa.Column(frame[name].dtype, checks=checks, nullable=spec.nullable)
    return pa.DataFrameSchema(columns, strict=True)


def count_taxiway(schema: DatasetSchema, frame: pd.DataFrame) -> int:
    return validate_frame(schema, frame).n_violations


def count_pandera(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> int:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return len(errors.failure_cases)
    return 0


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # warm: caches, imports, compiled regexes
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per tool (at least 5)")
    args = parser.parse_args()
    repeat = max(args.repeat, 5)
    frame = make_table(args.rows)
    ours = taxiway_schema()
    theirs = pandera_schema(ours, frame)
    found_ours, found_theirs = count_taxiway(ours, frame), count_pandera(theirs, frame)
    print(f"table: {len(frame):,} rows x {frame.shape[1]} columns")
    print(f"violations found: taxiway {found_ours:,}, pandera {found_theirs:,}")
    if found_ours != found_theirs:
        raise SystemExit("the two validators disagree: fix the benchmark before reading its times")
    seconds_ours = median_seconds(lambda: count_taxiway(ours, frame), repeat)
    seconds_theirs = median_seconds(lambda: count_pandera(theirs, frame), repeat)
    print(f"taxiway validate_frame: {seconds_ours:.3f} s (median of {repeat}, warm)")
    print(f"pandera {pandera.__version__} validate(lazy=True): {seconds_theirs:.3f} s (median of {repeat})")
    print(f"ratio: pandera / taxiway = {seconds_theirs / seconds_ours:.1f}x")
    goal = "met" if seconds_ours < GOAL_SECONDS else "MISSED"
    if args.rows == 1_000_000:
        print(f"goal < {GOAL_SECONDS:.0f} s for 1,000,000 x 20: {goal}")
    print(
        f"python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"pyarrow {pyarrow.__version__}, {os.cpu_count()} CPUs, {platform.machine()}"
    )


if __name__ == "__main__":
    main()
