"""O2 and O6 as a monitor pass writes them: input invariants on live traffic, regressions from validation.

Refusals come from serving snapshots in a real store; each judgement is recorded and read back as evidence,
failing and passing.
"""

from __future__ import annotations

import datetime as dt

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.drift import Drift
from taxiway.monitor.inputs import judge_inputs, refused_requests
from taxiway.monitor.regression import judge_regression
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Measurement
from taxiway.store.tables import ServingSnapshotRow

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


def regression(store: Store, **figures: object) -> tuple[str, float, dict[str, object]] | None:
    arguments: dict[str, object] = {
        "prediction_drift": None,
        "confidence_drift": None,
        "estimated": {},
        "realised": {},
        "metric": "roc_auc",
        "higher_is_better": True,
        "offline": 0.90,
        **figures,
    }
    judgement = judge_regression(
        "v1",
        settings=SETTINGS,
        measured=Measurement(800, T0, T0 + dt.timedelta(hours=1)),
        **arguments,  # type: ignore[arg-type]
    )
    if judgement is None:
        return None
    judgement.record(store, expires_at=None)
    found = store.evidence.latest_about(Check.MONITOR_RESOURCE_REGRESSION, "deployment", "v1")
    assert found is not None and found.threshold == 1.0
    return found.status, float(found.value or 0.0), judgement.details


def test_realised_quality_below_validation_is_a_regression(store: Store) -> None:
    found = regression(store, realised={"roc_auc": 0.82, "labelled_rows": 400})
    assert found is not None
    status, value, details = found
    assert status == "fail" and round(value, 6) == 1.6 and details["worst"] == "realised quality"


def test_a_shifted_answer_distribution_is_a_regression(store: Store) -> None:
    shifted = Drift("prediction", "categorical", 800, 0.04, 0.01, True, "1: 40% -> 60%")
    steady = Drift("confidence", "numeric", 800, 0.002, 0.01, False, "")
    found = regression(store, prediction_drift=shifted, confidence_drift=steady)
    assert found is not None and found[0] == "fail" and found[2]["worst"] == "prediction distribution"


def test_a_model_as_validated_passes_and_an_untrusted_estimate_is_not_used(store: Store) -> None:
    steady = Drift("prediction", "categorical", 800, 0.002, 0.01, False, "")
    untrusted = {"roc_auc": 0.60, "trusted": False}
    found = regression(store, prediction_drift=steady, estimated=untrusted, realised={"roc_auc": 0.89})
    assert found is not None
    status, value, details = found
    assert status == "pass" and value <= 1.0 and "estimated quality" not in details["parts"]  # type: ignore[operator]
    assert regression(store) is None  # nothing to compare with validation yet: no record, no pass
