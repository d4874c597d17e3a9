"""Leaks planted in public data sets the way real projects have them are each found, with a clear message;
the same checks raise no leakage failure on the clean data sets (the table in docs/benchmarks.md is made by
benchmarks/leakage.py from the same cases, on more rows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from taxiway.data.findings import CheckReport, Finding
from taxiway.data.leakage import check_leakage
from taxiway.data.split import split_dataset, split_frames
from taxiway.store import Store, StoreLocation
from tests.data.leaky_data import Case, clean_cases, leaky_cases, raw_flights
from tests.data.split_helpers import add_frame, charter

FLIGHT_ROWS = 3_000  # small: the suite stays fast; the benchmark runs 20,000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(StoreLocation(f"sqlite:///{tmp_path / 'taxiway.db'}", str(tmp_path / "artifacts")))
    yield opened
    opened.close()


def run_case(store: Store, folder: Path, case: Case) -> CheckReport:
    """Add the case's rows, split them as its charter says, and check the split for leakage."""
    settings = charter(task=case.task, **case.sections)
    split = split_dataset(store, add_frame(store, folder, case.frame), settings).split
    context = split.settings | {
        "group_column": settings.data.group_column,
        "time_column": settings.data.time_column,
    }
    return check_leakage(
        split_frames(store, split), context, strategy=split.strategy, event=settings.problem.event
    )


def found(report: CheckReport, case: Case) -> list[Finding]:
    """The findings of the kinds the case expects, naming its column when it names one."""
    return [
        f
        for f in report.all_findings
        if f.check in case.expect and (case.column is None or case.column in f.columns)
    ]


CLEAN = {case.name: case for case in clean_cases(FLIGHT_ROWS)}
LEAKY = {case.name: case for case in leaky_cases(FLIGHT_ROWS)}


@pytest.mark.parametrize("name", list(CLEAN))
def test_clean_data_raises_no_leakage_failure(store: Store, tmp_path: Path, name: str) -> None:
    report = run_case(store, tmp_path, CLEAN[name])
    failed = [f.message for f in report.all_findings if f.verdict == "fail"]
    assert report.verdict != "fail" and report.status != "fail" and not failed, failed


@pytest.mark.parametrize("name", list(LEAKY))
def test_each_planted_leak_is_found(store: Store, tmp_path: Path, name: str) -> None:
    case = LEAKY[name]
    report = run_case(store, tmp_path, case)
    hits = found(report, case)
    assert hits, [f"{f.check}: {f.message}" for f in report.all_findings]
    # Every finding says what to do: the charter key, or how to fix the data.
    advice = ("data.drop_columns", "drop_duplicates", "check how those labels were made")
    assert all(any(a in f.message for a in advice) for f in hits), [f.message for f in hits]
    leak = case.planted not in ("duplicated rows", "conflicting labels")
    if leak:  # a leak fails the check; copies and label noise inside the data are warnings
        assert report.verdict == "fail" and report.status == "fail"
        assert any(f.verdict == "fail" for f in hits)


def test_post_event_columns_found_by_an_event_description_alone(store: Store, tmp_path: Path) -> None:
    """No time column: `problem.event` says rows are events; the departure delay is named."""
    frame = raw_flights(FLIGHT_ROWS).drop(columns=["arr_time", "air_time", "dep_time", "time_hour"])
    event = Case(
        "flights with an event",
        frame,
        sections={"problem": {"event": "the flight arrives 15+ minutes late; known at arrival"}},
        expect=("post_event",),
        column="dep_delay",
    )
    report = run_case(store, tmp_path, event)
    hits = found(report, event)
    assert hits and hits[0].verdict == "fail", [f.message for f in report.all_findings]
    assert "rows are events (problem.event 'the flight arrives 15+ minutes late" in hits[0].message
    assert "missing on" in hits[0].message and "add 'dep_delay' to data.drop_columns" in hits[0].message
    # Without the event (nor a time column) the same columns are not judged as post-event.
    plain = run_case(store, tmp_path, Case("flights", frame))
    part = next(p for p in plain.parts if p.name == "post_event")
    assert part.verdict == "skipped" and "problem.event" in part.summary


def test_near_duplicates_across_a_group_split(store: Store, tmp_path: Path) -> None:
    """The same records filed under another user id defeat a group split."""
    base = CLEAN["penguins"].frame.reset_index(drop=True)
    frame = base.assign(owner=[f"u{i % 40}" for i in range(len(base))])
    copies = frame.sample(n=60, random_state=1).assign(owner="copied")
    case = Case("by owner", pd.concat([frame, copies]), sections={"data": {"group_column": "owner"}})
    report = run_case(store, tmp_path, case)
    part = next(p for p in report.parts if p.name == "near_duplicates")
    assert part.verdict == "fail", part.summary
    assert "repeat a train row on every column but 'owner'" in part.findings[0].message
    assert "the same record under another group" in part.findings[0].message
