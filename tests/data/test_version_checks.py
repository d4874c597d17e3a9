"""Checks of a dataset version run from Python record the same evidence as the CLI does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from taxiway.charter.model import DataSection
from taxiway.data.schema import ColumnSpec, DatasetSchema
from taxiway.data.version_checks import screen_pii, validate_version
from taxiway.data.versions import DatasetVersion, add_dataset
from taxiway.store import Store
from taxiway.store.checks import Check


def _version(store: Store, tmp_path: Path, frame: pd.DataFrame) -> DatasetVersion:
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return add_dataset(store, path).version


def test_a_value_outside_the_schema_fails_the_schema_check(store: Store, tmp_path: Path) -> None:
    version = _version(store, tmp_path, pd.DataFrame({"age": [31, 47, 230], "label": [0, 1, 0]}))
    expected = DatasetSchema(
        columns={"age": ColumnSpec(type="integer", min=0, max=120), "label": ColumnSpec(type="integer")}
    )
    report = validate_version(store, version, expected)
    record = store.evidence.latest([Check.DATA_SCHEMA])[Check.DATA_SCHEMA]
    assert (report.n_violations, record.status, record.value, record.threshold) == (1, "fail", 1.0, 0.0)
    assert record.subject_id == version.id

    fixed = DatasetSchema(
        columns={"age": ColumnSpec(type="integer", min=0, max=250), "label": ColumnSpec(type="integer")}
    )
    validate_version(store, version, fixed)
    record = store.evidence.latest([Check.DATA_SCHEMA])[Check.DATA_SCHEMA]
    assert (record.status, record.value) == ("pass", 0.0)


def test_an_email_column_fails_until_the_charter_drops_or_allows_it(store: Store, tmp_path: Path) -> None:
    emails = [f"person{i}@example.org" for i in range(40)]
    version = _version(
        store, tmp_path, pd.DataFrame({"contact": emails, "label": [i % 2 for i in range(40)]})
    )
    report = screen_pii(store, version, DataSection())
    record = store.evidence.latest([Check.DATA_PII])[Check.DATA_PII]
    assert (report.status, record.status, record.value) == ("fail", "fail", 1.0)

    screen_pii(store, version, DataSection(drop_columns=["contact"]))
    assert store.evidence.latest([Check.DATA_PII])[Check.DATA_PII].status == "pass"
