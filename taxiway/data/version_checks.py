"""Checks of one dataset version against the team's expectations: schema.yaml (D1) and personal data (D5).

Each runs the check and records its evidence, so the same check run from Python or from the CLI leaves
the same record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taxiway.data.pii import PiiReport, assess_pii
from taxiway.data.schema import SCHEMA_FILE, DatasetSchema
from taxiway.data.schema_check import ValidationReport, validate_frame
from taxiway.data.versions import DatasetVersion, load_dataset
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement

if TYPE_CHECKING:
    from taxiway.charter.model import DataSection
    from taxiway.store import Store


def validate_version(
    store: Store, version: DatasetVersion, expected: DatasetSchema, *, schema_file: str = SCHEMA_FILE
) -> ValidationReport:
    """Check every value of ``version`` against ``expected`` and record the outcome (``data.schema``).

    It passes only with no violation at all: the count of violations is the measured value, 0 the limit.
    """
    report = validate_frame(expected, load_dataset(store, version))
    store.evidence.record(
        Check.DATA_SCHEMA,
        subject_kind="dataset",
        subject_id=version.id,
        value=float(report.n_violations),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=report.n_rows, method=f"every value checked against {schema_file}"),
        details={
            "schema_file": schema_file,
            "inferred": False,
            "n_rows": report.n_rows,
            "n_violations": report.n_violations,
            "columns": report.counts(),
        },
    )
    return report


def screen_pii(store: Store, version: DatasetVersion, section: DataSection) -> PiiReport:
    """Screen ``version`` for personal data and record the outcome (``data.pii``).

    A flagged column that the charter neither allows (``data.allowed_pii``) nor drops fails it.
    """
    report = assess_pii(
        load_dataset(store, version), allowed_pii=section.allowed_pii, drop_columns=section.drop_columns
    )
    store.evidence.record(
        Check.DATA_PII,
        subject_kind="dataset",
        subject_id=version.id,
        value=float(len(report.unhandled)),
        limit=Limit(0, "<="),
        measured=Measurement(method="personal-data screen of every column"),
        details=report.details(),
    )
    return report
