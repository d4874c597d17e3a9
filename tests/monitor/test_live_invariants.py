"""O2 and O6 as a monitor pass writes them: input invariants on live traffic, resource regressions.

Refusals come from serving snapshots in a real store; each judgement is recorded and read back as evidence,
failing and passing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.inputs import judge_inputs, refused_requests
from taxiway.monitor.resource_regression import judge_resource_regression
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Measurement
from taxiway.store.tables import ServingSnapshotRow
from tests.checklist.world import build_world

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
SETTINGS = MonitoringSection()


def snapshots(store: Store, *figures: tuple[int, int, int]) -> None:
    """(seconds after T0, requests, rejected) per snapshot of one replica."""
    with store.write_session() as session, session.begin():
        for seconds, requests, rejected in figures:
            session.add(
                ServingSnapshotRow(
                    replica_id="r",
                    recorded_at=T0 + dt.timedelta(seconds=seconds),
                    window_seconds=10.0,
                    requests=requests,
                    rejected=rejected,
                )
            )


def inputs_judgement(store: Store, fallbacks: dict[str, int]) -> tuple[str, float, dict[str, object]]:
    refused, requests = refused_requests(store, T0, T0 + dt.timedelta(minutes=5))
    judgement = judge_inputs(
        "v1",
        rows=1000,
        fallbacks=fallbacks,
        refused=refused,
        requests=requests,
        settings=SETTINGS,
        measured=Measurement(1000, T0, T0 + dt.timedelta(minutes=5)),
    )
    recorded = judgement.record(store, expires_at=None)
    found = store.evidence.latest_about(Check.MONITOR_INPUT_SCHEMA, "deployment", "v1")
    assert found is not None and found.id == recorded.id
    assert found.limit_key == "monitoring.max_input_violation_rate" and found.threshold == 0.05
    return found.status, float(found.value or 0.0), judgement.details


def test_refused_requests_break_the_input_invariants(store: Store) -> None:
    snapshots(store, (10, 100, 12), (20, 100, 8), (900, 500, 500))  # the last one is after the window
    status, value, details = inputs_judgement(store, {"model_error": 3})
    assert (details["refused_requests"], details["requests"]) == (20, 200)
    assert status == "fail" and value == 0.1


def test_rows_outside_training_break_them_too(store: Store) -> None:
    snapshots(store, (10, 100, 0))
    status, value, details = inputs_judgement(store, {"unseen_category:city": 70, "missing:age": 10})
    assert status == "fail" and value == 0.08
    assert details["outside_training"] == {"unseen_category:city": 70, "missing:age": 10}


def test_clean_live_inputs_hold_the_invariants(store: Store) -> None:
    snapshots(store, (10, 100, 1), (20, 100, 0))
    status, value, _ = inputs_judgement(store, {"out_of_range:age": 20, "model_error": 50})
    assert status == "pass" and value == 0.02  # 2% of rows outside training; 0.5% of requests refused


def resource_regression(
    store: Store, now: tuple[float, float], first: tuple[float, float], **more: object
) -> tuple[str, float, dict[str, object]] | None:
    """(p99 ms, RSS MB) of the live window and of the version's first window after it went live at T0."""

    def snapshot(p99: float, rss: float, at: dt.datetime) -> ServingSnapshotRow:
        return ServingSnapshotRow(replica_id="r", recorded_at=at, p99_ms=p99, rss_mb=rss, requests=100)

    since = T0 + dt.timedelta(days=2)
    judgement = judge_resource_regression(
        "v1",
        now=[snapshot(*now, since + dt.timedelta(minutes=5))],
        first=[snapshot(*first, T0 + dt.timedelta(minutes=5))],
        since=since,
        until=since + dt.timedelta(hours=1),
        live_since=more.pop("live_since", T0),  # type: ignore[arg-type]
        max_growth=SETTINGS.max_resource_growth,
        **more,  # type: ignore[arg-type]
    )
    if judgement is None:
        return None
    judgement.record(store, expires_at=None)
    found = store.evidence.latest_about(Check.MONITOR_RESOURCE_REGRESSION, "deployment", "v1")
    assert found is not None and found.threshold == 1.5
    assert found.limit_key == "monitoring.max_resource_growth"
    return found.status, float(found.value or 0.0), judgement.details


def test_a_slow_memory_leak_is_a_resource_regression(store: Store) -> None:
    found = resource_regression(store, now=(21.0, 960.0), first=(20.0, 320.0))
    assert found is not None
    status, value, details = found
    assert status == "fail" and value == 3.0 and details["worst"] == "memory"


def test_latency_grown_past_the_limit_is_a_resource_regression(store: Store) -> None:
    found = resource_regression(store, now=(50.0, 330.0), first=(20.0, 320.0))
    assert found is not None and found[0] == "fail" and found[1] == 2.5 and found[2]["worst"] == "latency p99"


def test_throughput_lost_against_the_version_before_is_a_resource_regression(store: Store) -> None:
    found = resource_regression(store, (20.0, 320.0), (20.0, 320.0), capacity=100.0, capacity_before=400.0)
    assert found is not None and found[0] == "fail" and found[1] == 4.0 and found[2]["worst"] == "throughput"


def test_serving_as_it_did_when_it_went_live_passes(store: Store) -> None:
    found = resource_regression(store, now=(22.0, 352.0), first=(20.0, 320.0))
    assert found is not None
    status, value, _ = found
    assert status == "pass" and abs(value - 1.1) < 1e-9


def test_a_version_live_for_less_than_two_windows_is_not_judged(store: Store) -> None:
    recent = T0 + dt.timedelta(days=2) - dt.timedelta(minutes=30)  # its first window overlaps this one
    assert resource_regression(store, (90.0, 999.0), (20.0, 320.0), live_since=recent) is None
    assert resource_regression(store, (90.0, 999.0), (20.0, 320.0), live_since=None) is None
    assert store.evidence.latest_about(Check.MONITOR_RESOURCE_REGRESSION, "deployment", "v1") is None


def test_live_limits_judge_the_live_version_against_its_first_window(tmp_path: Path, make_project) -> None:  # type: ignore[no-untyped-def]
    """Through the minute hook's own function: when v1 went live comes from the deployment history, both
    windows' figures from the snapshots in the store."""
    from taxiway.monitor.live_limits import judge_live, live_since

    root = make_project(tmp_path / "p")
    world = build_world(root)
    began = live_since(world.store)
    assert began is not None
    with world.store.write_session() as session, session.begin():
        for minutes, rss in ((2, 300.0), (2 * 24 * 60 + 53, 700.0)):  # just after going live; two days on
            session.add(
                ServingSnapshotRow(
                    replica_id="r",
                    recorded_at=began + dt.timedelta(minutes=minutes),
                    window_seconds=10.0,
                    requests=100,
                    rows=100,
                    p99_ms=20.0,
                    rss_mb=rss,
                )
            )
    charter = world.project.charter.model_copy(
        update={"serving": world.project.charter.serving.model_copy(update={"max_memory_mb": 10_000})}
    )
    now = began + dt.timedelta(days=2, minutes=55)
    found = {str(j.check): j for j in judge_live(world.store, charter, now=now)}
    regression = found[Check.MONITOR_RESOURCE_REGRESSION]
    assert regression.status == "fail" and regression.value == 700.0 / 300.0
    assert regression.details["worst"] == "memory" and regression.subject_id == "v1"
    assert found[Check.MONITOR_MEMORY].status == "pass"  # under the absolute limit: only the growth shows it
