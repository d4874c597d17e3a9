"""Personal data detection (D5), its evidence at `data add`, and protected columns kept from models (D4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxiway.charter import Charter
from taxiway.data.pii import SAMPLE_SIZE, assess_pii, check_meta_requirements, detect_pii, luhn_valid
from taxiway.data.versions import add_dataset
from taxiway.store import Store
from taxiway.store.checks import Check

ROWS = 400


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def _with_check_digit(body: str) -> str:
    """Append the Luhn check digit to ``body``."""
    for digit in "0123456789":
        if luhn_valid(pd.Series([body + digit]))[0]:
            return body + digit
    raise AssertionError("unreachable: one check digit always fits")


def _people(rng: np.random.Generator) -> pd.DataFrame:
    digits = rng.integers(0, 10, (ROWS, 15))
    return pd.DataFrame(
        {
            "contact": [f"user.{i}@example.org" for i in range(ROWS)],
            "tel": [f"+33 6 {i % 90 + 10} {i % 80 + 10} 12 {i % 70 + 10}" for i in range(ROWS)],
            "office_phone": [f"(555) {100 + i % 800}-{1000 + i}" for i in range(ROWS)],
            "mobile": rng.integers(6_000_000_000, 6_999_999_999, ROWS),
            "card": [_with_check_digit("4" + "".join(map(str, row[1:]))) for row in digits],
            "first_name": rng.choice(["Ana", "Bo", "Chloé", "Jean-Luc", "Émile"], ROWS),
            "name": rng.choice(["Ana Lopez", "Bo Li", "Ludwig van Beethoven"], ROWS),
            "latitude": rng.uniform(-80, 80, ROWS).round(5),
            "lng": rng.uniform(-170, 170, ROWS).round(6),
            "postcode": rng.integers(10_000, 99_999, ROWS),
            "street_address": [f"{i} Main Street" for i in range(ROWS)],
        }
    )


def _clean(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 10, ROWS),
            "customer_id": rng.integers(0, 10**9, ROWS),
            "random_digits": ["".join(map(str, row)) for row in rng.integers(0, 10, (ROWS, 16))],
            "city": rng.choice(["Lyon", "Oslo"], ROWS),
            "product_name": rng.choice(["Ana Lopez", "Bo Li"], ROWS),  # a name shape, but not a person's
            "name_length": rng.integers(1, 20, ROWS),
            "day": ["2024-05-01"] * ROWS,
            "when": pd.date_range("2024-01-01", periods=ROWS, freq="h"),
            "version": ["1.2.3"] * ROWS,
            "ratio": rng.uniform(0, 1, ROWS),
            "lat_rounded": rng.uniform(-80, 80, ROWS).round(2),  # a town, not a house
            "big_number": [f"{v:.2f}" for v in rng.uniform(1e6, 1e7, ROWS)],
            "flag": rng.random(ROWS) < 0.5,
        }
    )


def test_personal_data_is_flagged_with_its_evidence(rng: np.random.Generator) -> None:
    found = {f.column: f for f in detect_pii(_people(rng))}
    kinds = {column: f.kind for column, f in found.items()}
    assert kinds == {
        "contact": "email",
        "tel": "phone",
        "office_phone": "phone",
        "mobile": "phone",
        "card": "card_number",
        "first_name": "person_name",
        "name": "person_name",
        "latitude": "location",
        "lng": "location",
        "postcode": "postcode",
        "street_address": "address",
    }
    assert (found["contact"].share, found["contact"].name_hint) == (1.0, None)
    assert (found["tel"].share, found["tel"].name_hint) == (1.0, "tel")
    assert found["card"].share == 1.0 and found["first_name"].name_hint == "first_name"
    assert found["latitude"].share is not None and found["latitude"].share > 0.8
    assert (found["postcode"].share, found["postcode"].name_hint) == (None, "postcode")
    assert all(f.sampled == ROWS for f in found.values())


def test_clean_columns_are_not_flagged(rng: np.random.Generator) -> None:
    assert detect_pii(_clean(rng)) == ()


def test_card_numbers_need_the_luhn_check() -> None:
    assert luhn_valid(
        pd.Series(
            ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "4111111111111112", None]
        )
    ).tolist() == [True, True, True, False, False]
    assert luhn_valid(pd.Series(["0000000000000", "12345", "abcd abcd abcd abcd"])).tolist() == [False] * 3
    assert luhn_valid(pd.Series([4111111111111111, 4111111111111112])).tolist() == [True, False]


def test_a_column_is_screened_on_a_sample(rng: np.random.Generator) -> None:
    frame = pd.DataFrame({"email": [f"u{i}@example.com" for i in range(SAMPLE_SIZE * 3)]})
    (finding,) = detect_pii(frame)
    assert (finding.kind, finding.sampled, finding.share, finding.name_hint) == (
        "email",
        SAMPLE_SIZE,
        1.0,
        "email",
    )


def test_mostly_clean_values_are_not_enough() -> None:
    values = ["ana@example.org"] * 40 + ["n/a"] * 60
    assert detect_pii(pd.DataFrame({"note": values})) == ()


def test_the_charter_decides_whether_a_flagged_column_passes(rng: np.random.Generator) -> None:
    frame = _people(rng)[["contact", "card", "latitude"]]
    failing = assess_pii(frame, allowed_pii=["contact"])
    assert (failing.status, failing.unhandled) == ("fail", ("card", "latitude"))
    passing = assess_pii(frame, allowed_pii=["contact"], drop_columns=["card", "latitude", "other"])
    assert (passing.status, passing.unhandled) == ("pass", ())
    details = passing.details()
    assert (details["flagged"], details["unhandled"]) == (3, [])
    assert details["columns"]["contact"] == {
        "kind": "email",
        "share": 1.0,
        "name_hint": None,
        "sampled": ROWS,
        "allowed": True,
        "dropped": False,
    }
    assert details["columns"]["card"]["dropped"] is True
    assert assess_pii(_clean(rng)).status == "pass"


def test_data_add_records_the_pii_evidence(store: Store, tmp_path: Path, rng: np.random.Generator) -> None:
    frame = _people(rng)[["contact", "latitude"]].assign(label=lambda f: np.arange(len(f)) % 2)
    frame.to_csv(tmp_path / "people.csv", index=False)
    added = add_dataset(store, tmp_path / "people.csv", target="label", allowed_pii=["contact"])
    assert added.pii is not None and added.pii.unhandled == ("latitude",)
    recorded = store.evidence.latest([Check.DATA_PII])[Check.DATA_PII]
    assert (recorded.subject_kind, recorded.subject_id, recorded.status) == (
        "dataset",
        added.version.id,
        "fail",
    )
    assert (recorded.value, recorded.threshold) == (1.0, 0.0)
    assert recorded.details["columns"]["latitude"]["kind"] == "location"
    assert recorded.details["columns"]["contact"]["allowed"] is True

    frame.iloc[:100].to_csv(tmp_path / "fewer.csv", index=False)
    add_dataset(store, tmp_path / "fewer.csv", allowed_pii=["contact"], drop_columns=["latitude"])
    assert store.evidence.latest([Check.DATA_PII])[Check.DATA_PII].status == "pass"
    assert add_dataset(store, tmp_path / "fewer.csv").pii is None  # already stored: nothing screened


def test_protected_columns_must_not_be_model_inputs() -> None:
    charter = Charter.model_validate(
        {
            "project": {"name": "x"},
            "problem": {"target": "y"},
            "data": {"protected_columns": ["gender", "age"], "drop_columns": ["email"]},
        }
    )
    assert check_meta_requirements(charter, ["income", "gender", "city", "age"]) == ["gender", "age"]
    assert check_meta_requirements(charter, ("income", "email")) == []
    bare = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
    assert check_meta_requirements(bare, ["gender"]) == []
