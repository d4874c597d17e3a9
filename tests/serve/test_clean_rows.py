"""The fast path for a few clean rows answers exactly as the vectorised validator and coercion would."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest

from taxiway.data.schema import ColumnSpec, DatasetSchema
from taxiway.serve.clean_rows import MAX_ROWS, clean_rows
from taxiway.serve.contract import InputContract, build_contract

# The wire format and the batcher: the store holds nothing these check (make test-postgres leaves them out).
pytestmark = pytest.mark.store_agnostic

SCHEMA = DatasetSchema(
    columns={
        "age": ColumnSpec(type="integer", nullable=False, min=0, max=100),
        "score": ColumnSpec(type="float", nullable=True, min=-1.0, max=1.0),
        "city": ColumnSpec(type="string", nullable=True, categories=["Lyon", "Oslo", "Rome"]),
        "member": ColumnSpec(type="boolean", nullable=True),
        "note": ColumnSpec(type="string", nullable=True),  # not a model input: accepted, ignored
        "weight": ColumnSpec(type="float", nullable=False, min=0.0, max=10.0),
    }
)
PROFILE: Any = {
    "columns": [
        {"name": "age", "min": 0, "max": 100, "categories": None, "null_count": 0},
        {"name": "score", "min": -1.0, "max": 1.0, "categories": None, "null_count": 0},
        {"name": "city", "min": None, "max": None, "categories": ["Lyon", "Oslo", "Rome"], "null_count": 3},
        {"name": "member", "min": None, "max": None, "categories": None, "null_count": 1},
        {"name": "weight", "min": 0.0, "max": 10.0, "categories": None, "null_count": 0},
    ]
}
VALUES: dict[str, list[Any]] = {
    "age": [0, 7, 99, 100, 130, -5, 7.0, 7.5, "7", True, None, 2**70],
    "score": [0.5, -1.0, 1.0, 3.2, 2, None, float("nan"), float("inf"), "x", False],
    "city": ["Lyon", "Rome", "Paris", None, 5, ""],
    "member": [True, False, None, 1, "true"],
    "weight": [0.0, 1.5, 7, 12.0, None, "x", float("inf"), 2**70],
}
MIXED = ["age", "score", "city", "member"]
ALL_FLOAT = ["score", "weight"]  # one float block: the fast path builds the table another way


@pytest.fixture(scope="module")
def contract() -> InputContract:
    return build_contract(SCHEMA, MIXED, profile=PROFILE, margin=0.1)


def _rows(rng: random.Random, n: int, features: list[str] = MIXED) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        row = {name: rng.choice(VALUES[name]) for name in features}
        if rng.random() < 0.1:
            row.pop(rng.choice(list(row)))
        if rng.random() < 0.05:
            row["note"] = "kept out of the model"
        if rng.random() < 0.03:
            row["colour"] = "unknown field"
        rows.append(row)
    return rows


@pytest.mark.parametrize("features", [MIXED, ALL_FLOAT], ids=["mixed", "all-float"])
def test_fast_and_vectorised_paths_agree(features: list[str]) -> None:
    contract = build_contract(SCHEMA, features, profile=PROFILE, margin=0.1)
    rng = random.Random(7)
    fast_batches = refused_batches = 0
    for _ in range(2_000):
        records = _rows(rng, rng.randint(1, 4), features)
        frame = pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records)))
        problems = contract.problems(frame)
        fast = clean_rows(contract, records)
        if fast is None:
            refused_batches += 1
            continue
        fast_batches += 1
        assert not any(problems), (records, problems)  # never passes a row the validator refuses
        slow = contract.coerce(frame)
        # the same names in the same order; the fast path keeps them as plain objects (see column_index)
        assert fast.inputs.columns.tolist() == slow.columns.tolist()
        pd.testing.assert_frame_equal(fast.inputs, slow, check_index_type=False, check_column_type=False)
        assert fast.unfamiliar == contract.unfamiliar(slow), records
    assert fast_batches > 40 and refused_batches > 40  # both paths were exercised


def test_every_row_the_validator_refuses_leaves_the_fast_path(contract: InputContract) -> None:
    rng = random.Random(11)
    for _ in range(300):
        records = _rows(rng, 1)
        problems = contract.problems(pd.DataFrame.from_records(records, index=pd.RangeIndex(1)))
        if any(problems):
            assert clean_rows(contract, records) is None, (records, problems)


def test_big_batches_go_to_the_vectorised_path(contract: InputContract) -> None:
    row = {"age": 40, "score": 0.1, "city": "Lyon", "member": True}
    assert clean_rows(contract, [row] * MAX_ROWS) is not None
    assert clean_rows(contract, [row] * (MAX_ROWS + 1)) is None
