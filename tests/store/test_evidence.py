"""The evidence log on every backend, and from several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxiway.store import Store, StoreLocation
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, started_by


def test_records_keep_every_field(store: Store) -> None:
    recorded = store.evidence.record(
        Check.DATA_LEAKAGE,
        subject_kind="split",
        subject_id="s1",
        value=3.0,
        limit=Limit(0, "<="),
        details={"duplicates": [1, 2, 3]},
    )
    latest = store.evidence.latest([Check.DATA_LEAKAGE])[Check.DATA_LEAKAGE]
    assert latest == recorded
    assert latest.details == {"duplicates": [1, 2, 3]}
    assert latest.recorded_at.tzinfo is not None
    assert latest.origin == "manual"


def test_latest_picks_the_newest_record_of_each_check(store: Store) -> None:
    for violations in (4.0, 0.0):
        store.evidence.record(
            Check.DATA_SCHEMA, subject_kind="dataset", subject_id="d", value=violations, limit=Limit(0, "<=")
        )
    store.evidence.record(
        Check.DATA_VERSION, subject_kind="dataset", subject_id="d", value=0, limit=Limit(0, "<=")
    )
    latest = store.evidence.latest()
    assert latest[Check.DATA_SCHEMA].status == "pass"
    assert set(latest) == {Check.DATA_SCHEMA, Check.DATA_VERSION}
    assert [e.status for e in store.evidence.history(Check.DATA_SCHEMA)] == ["pass", "fail"]


def test_the_ci_variable_does_not_make_a_record_automatic(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    recorded = store.evidence.record(
        Check.CI_CHECK, subject_kind="project", subject_id="p", value=0, limit=Limit(0, "<=")
    )
    assert recorded.origin == "manual" and not recorded.is_automatic
    with started_by("ci", commit="ab12"):
        inside = store.evidence.record(
            Check.CI_CHECK, subject_kind="commit", subject_id="ab12", value=0, limit=Limit(0, "<=")
        )
    assert (inside.origin, inside.details["commit"], inside.status) == ("ci", "ab12", "pass")
    explicit = store.evidence.record(
        Check.CT_RETRAIN, subject_kind="run", subject_id="r", value=0, limit=Limit(0, "<="), origin="ct"
    )
    assert explicit.origin == "ct"


def test_a_verdict_cannot_be_handed_in(store: Store) -> None:
    with pytest.raises(TypeError):
        store.evidence.record(  # type: ignore[call-arg]
            Check.DATA_SPLIT, subject_kind="split", subject_id="x", status="pass"
        )
    with pytest.raises(ValueError, match="needs the measured value and the limit"):
        store.evidence.record(Check.DATA_SPLIT, subject_kind="split", subject_id="x", value=1.0)
    assert store.evidence.count() == 0


def test_an_acceptance_keeps_the_value_and_limit_it_accepts(store: Store) -> None:
    failed = store.evidence.record(
        Check.DATA_LEAKAGE, subject_kind="split", subject_id="s", value=2, limit=Limit(0, "<=")
    )
    accepted = store.evidence.accept(
        Check.DATA_LEAKAGE, subject_kind="split", subject_id="s", reason="known duplicates", by="ana"
    )
    assert failed.status == "fail" and accepted.status == "accepted"
    assert (accepted.value, accepted.limit, accepted.details["accepts"]) == (2.0, failed.limit, failed.id)


def test_a_failed_transaction_leaves_no_record(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session, session.begin():
        store.evidence.record(
            Check.DATA_SPLIT,
            subject_kind="split",
            subject_id="x",
            value=0,
            limit=Limit(0, "<="),
            session=session,
        )
        raise RuntimeError("the work failed half-way")
    assert store.evidence.count() == 0


_WRITER = """
import sys
from taxiway.store import Store, StoreLocation
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit
database, artifacts, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store.open(StoreLocation(database, artifacts))
for i in range(count):
    store.evidence.record(
        Check.MONITOR_REQUESTS, subject_kind="deployment", subject_id=worker, value=i, limit=Limit(0, ">=")
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


def test_a_record_is_a_judgement_of_a_value_against_a_limit(store: Store) -> None:
    limit = Limit(50.0, "<=", key="serving.p99_latency_ms", warn_at=40.0)
    judged = [
        store.evidence.record(
            Check.MONITOR_LATENCY, subject_kind="deployment", subject_id="1", value=v, limit=limit
        )
        for v in (30.0, 45.0, 99.6)
    ]
    assert [e.status for e in judged] == ["pass", "warn", "fail"]
    stored = store.evidence.latest_about(Check.MONITOR_LATENCY, "deployment", "1")
    assert stored is not None and stored.limit == limit and stored.value == 99.6
    with pytest.raises(ValueError, match="measured value"):
        store.evidence.record(Check.MONITOR_LATENCY, subject_kind="deployment", subject_id="1", limit=limit)


def test_an_acceptance_names_who_why_and_what(store: Store) -> None:
    failed = store.evidence.record(
        Check.DATA_SPLIT, subject_kind="split", subject_id="s", value=0.8, limit=Limit(0.6, "<=")
    )
    accepted = store.evidence.accept(
        Check.DATA_SPLIT, subject_kind="split", subject_id="s", reason="seasonal", by="ana"
    )
    assert failed.status == "fail" and accepted.status == "accepted"
    assert accepted.details == {"reason": "seasonal", "by": "ana", "accepts": failed.id}
    with pytest.raises(ValueError, match="reason"):
        store.evidence.accept(Check.DATA_SPLIT, subject_kind="split", subject_id="s", reason=" ", by="ana")
