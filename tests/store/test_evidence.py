"""The evidence log on every backend, and from several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxiway.store import Store, StoreLocation
from taxiway.store.checks import Check


def test_records_keep_every_field(store: Store) -> None:
    recorded = store.evidence.record(
        Check.DATA_LEAKAGE,
        subject_kind="split",
        subject_id="s1",
        status="fail",
        value=3.0,
        threshold=0.0,
        details={"duplicates": [1, 2, 3]},
    )
    latest = store.evidence.latest([Check.DATA_LEAKAGE])[Check.DATA_LEAKAGE]
    assert latest == recorded
    assert latest.details == {"duplicates": [1, 2, 3]}
    assert latest.recorded_at.tzinfo is not None
    assert latest.origin == "manual"


def test_latest_picks_the_newest_record_of_each_check(store: Store) -> None:
    for status in ("fail", "pass"):
        store.evidence.record(Check.DATA_SCHEMA, subject_kind="dataset", subject_id="d", status=status)
    store.evidence.record(Check.DATA_VERSION, subject_kind="dataset", subject_id="d", status="pass")
    latest = store.evidence.latest()
    assert latest[Check.DATA_SCHEMA].status == "pass"
    assert set(latest) == {Check.DATA_SCHEMA, Check.DATA_VERSION}
    assert [e.status for e in store.evidence.history(Check.DATA_SCHEMA)] == ["pass", "fail"]


def test_origin_is_ci_when_ci_is_set(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    recorded = store.evidence.record(Check.CI_CHECK, subject_kind="project", subject_id="p", status="pass")
    assert recorded.origin == "ci" and recorded.is_automatic
    explicit = store.evidence.record(
        Check.CT_RETRAIN, subject_kind="run", subject_id="r", status="pass", origin="ct"
    )
    assert explicit.origin == "ct"


def test_a_failed_transaction_leaves_no_record(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session, session.begin():
        store.evidence.record(
            Check.DATA_SPLIT, subject_kind="split", subject_id="x", status="pass", session=session
        )
        raise RuntimeError("the work failed half-way")
    assert store.evidence.count() == 0


_WRITER = """
import sys
from taxiway.store import Store, StoreLocation
from taxiway.store.checks import Check
database, artifacts, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store.open(StoreLocation(database, artifacts))
for i in range(count):
    store.evidence.record(
        Check.MONITOR_REQUESTS, subject_kind="deployment", subject_id=worker, status="pass", value=i
    )
    store.evidence.latest()
print(store.evidence.count())
"""


def test_two_processes_write_and_read_one_store_at_once(tmp_path: Path, empty_store_uri: str) -> None:
    database, artifacts = empty_store_uri, str(tmp_path / "artifacts")
    count = 150
    # Both processes also open (and may both try to create) the brand-new database at the same moment.
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, database, artifacts, f"worker-{n}", str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs
    assert all(int(out) >= count for out, _ in outputs)
    store = Store.open(StoreLocation(database, artifacts))
    assert store.evidence.count() == 2 * count
    values = sorted(
        e.value for e in store.evidence.history(Check.MONITOR_REQUESTS, limit=1000) if e.value is not None
    )
    assert values == sorted([float(i) for i in range(count)] * 2)
    store.close()
