"""Stored bootstrap replicates: a comparison read from them is the comparison computed from the predictions,
to the last bit; anything that changes the numbers or the rows misses them, and a damaged entry is computed
again. Runs are recorded in a real SQLite store through the tracking API, as training records them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taxiway.measure import resampling
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions
from taxiway.measure.weighted import MetricSet, row_metrics
from taxiway.project import Project
from taxiway.store import Store
from taxiway.store.tables import RunArtifactRow
from taxiway.train import replicates as replicates_module
from taxiway.train.replicates import (
    PREFIX,
    Replicates,
    ReplicateSettings,
    compute_replicates,
    load_replicates,
    record_replicates,
    replicates_name,
    rows_digest,
    run_threshold,
)
from taxiway.train.runs import Run, get_run, list_runs, run_artifacts
from taxiway.train.tracking import start_run
from taxiway.validate.compare import Comparison, compare_predictions, compare_runs
from tests.validate.test_compare import _binary, _multiclass, _regression
from tests.validate.trained_model import trained_copy

COSTS = ErrorCosts(false_positive=1, false_negative=4, over_prediction=2, under_prediction=1)
SETTINGS = ReplicateSettings(COSTS, resamples=200, seed=3)
_REFERENCE: list[bool] = []  # set while the expected comparison is computed


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many sets of predictions comparisons scored on resamples (0: they only read stored replicates)."""
    calls: list[int] = []
    real = replicates_module.compute_replicates

    def counting(predictions: list[Predictions], **options: Any) -> list[Replicates]:
        if not _REFERENCE:
            calls.append(len(predictions))
        return real(predictions, **options)

    monkeypatch.setattr("taxiway.validate.compare.compute_replicates", counting)
    return calls


def _other(p: Predictions, seed: int) -> Predictions:
    """Another model's predictions of the same rows."""
    rng = np.random.default_rng(seed)
    if p.proba is None:
        return Predictions(p.row_key, p.y_true, p.y_pred + rng.normal(0, 1.5, len(p.y_pred)))
    assert p.classes is not None
    proba = p.proba + rng.uniform(0, 0.6, p.proba.shape)
    proba /= proba.sum(axis=1, keepdims=True)
    return Predictions(p.row_key, p.y_true, p.classes[proba.argmax(axis=1)], proba, p.classes)


def _logged(store: Store, p: Predictions, threshold: float | None = None) -> Run:
    with start_run(store=store) as run:
        if threshold is not None:
            run.log_param("decision_threshold", threshold)
        run.set_predictions(run.log_bytes("predictions.parquet", p.to_parquet()))
    return get_run(store, run.id)


def _from_predictions(store: Store, runs: list[Run], settings: ReplicateSettings) -> Comparison:
    """The comparison computed from the stored predictions, without stored replicates (not counted)."""
    _REFERENCE.append(True)
    try:
        return _compared_predictions(store, runs, settings)
    finally:
        _REFERENCE.pop()


def _compared_predictions(store: Store, runs: list[Run], settings: ReplicateSettings) -> Comparison:
    loaded = {
        run.id: Predictions.from_parquet(store.artifacts.get_bytes(run.predictions_artifact))
        for run in runs
        if run.predictions_artifact is not None
    }
    return compare_predictions(
        runs,
        loaded,
        costs=settings.costs,
        thresholds={run.id: run_threshold(run) for run in runs},
        notes=[
            f"run {run.id} ({run.name}) stored no predictions: its metrics have no interval"
            for run in runs
            if run.predictions_artifact is None
        ],
        resamples=settings.resamples,
        seed=settings.seed,
    )


def _compare(
    store: Store, runs: list[Run], settings: ReplicateSettings = SETTINGS, **options: Any
) -> Comparison:
    return compare_runs(
        store,
        [run.id for run in runs],
        costs=settings.costs,
        resamples=settings.resamples,
        seed=settings.seed,
        **options,
    )


CASES: dict[str, Callable[[], Predictions]] = {
    "binary": lambda: _binary(600, 1.0, 3),
    "binary with tied scores": lambda: _binary(600, 1.2, 5, rounding=1),
    "multiclass": lambda: _multiclass(500),
    "regression": lambda: _regression(500),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stored_replicates_give_the_comparison_computed_from_the_predictions(
    store: Store, computed: list[int], case: str
) -> None:
    first = CASES[case]()
    threshold = 0.4 if first.is_binary else None
    runs = [_logged(store, p, threshold) for p in (first, _other(first, 1), _other(first, 2))]
    expected = _from_predictions(store, runs, SETTINGS)
    assert len(expected.metrics) >= 2 * 4 and expected.rows == len(first.y_true)

    cold = _compare(store, runs)  # nothing stored yet: scored on resamples, then stored
    assert computed == [3] and cold == expected
    for run in runs:
        assert run_artifacts(store, run.id)[
            replicates_name(run.predictions_artifact or "", SETTINGS, threshold)
        ]
    stored = _compare(store, runs)
    assert computed == [3] and stored == expected  # read, not computed: the very same numbers
    reversed_pair = runs[::-1][:2]  # another reference, fewer runs, fewer metrics: still only read
    narrowed = _compare(store, reversed_pair, metric_names=["expected_cost", "accuracy"])
    whole = _compare(store, reversed_pair)
    assert computed == [3] and whole == _from_predictions(store, reversed_pair, SETTINGS)
    assert narrowed.metrics == tuple(
        sorted(
            (item for item in whole.metrics if item.metric in ("expected_cost", "accuracy")),
            key=lambda item: item.metric != "expected_cost",
        )
    )


def test_a_run_s_replicates_are_the_same_alone_and_beside_other_runs() -> None:
    a, b = _binary(700, 1.0, 3, rounding=2), _binary(700, 1.5, 4)
    both = compute_replicates([a, b], costs=COSTS, thresholds=[0.3, None], resamples=150, seed=2)
    alone = [
        compute_replicates([p], costs=COSTS, thresholds=[t], resamples=150, seed=2)[0]
        for p, t in ((a, 0.3), (b, None))
    ]
    for joint, single in zip(both, alone, strict=True):
        assert joint.estimates == single.estimates and list(joint.values) == list(single.values)
        for name, values in joint.values.items():
            assert np.array_equal(values, single.values[name], equal_nan=True), name


@pytest.mark.parametrize("case", list(CASES))
def test_replicates_equal_the_former_joint_scoring_of_all_runs(case: str) -> None:
    """Before replicates, every run's metrics were summed in one float32 product; a column's sum can differ
    in its last bits with its neighbours in the product, so the two agree to float32 precision."""
    first = CASES[case]()
    sets = [first, _other(first, 1)]
    rows = len(first.y_true)
    per_run = [row_metrics(p, costs=COSTS) for p in sets]
    names = [name for name in METRICS if all(name in metrics for metrics in per_run)]
    joint = MetricSet({(i, name): metrics[name] for i, metrics in enumerate(per_run) for name in names})
    blocks = list(resampling.index_blocks(rows, 120, 5))
    former = [joint(resampling.draw_counts(block, rows), exact=False) for block in blocks]
    now = compute_replicates(sets, costs=COSTS, resamples=120, seed=5)
    for i, replicates in enumerate(now):
        for name in names:
            before = np.concatenate([values[(i, name)] for values in former])
            assert replicates.values[name] == pytest.approx(before, rel=1e-6, abs=1e-9, nan_ok=True), name


def test_training_stores_the_replicates_the_compare_page_reads(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, computed: list[int]
) -> None:
    project = Project.load(trained_copy(tmp_path_factory, tmp_path / "weather"))
    try:
        store = project.store
        settings = ReplicateSettings.from_charter(project.charter)
        runs = [run for run in list_runs(store) if run.predictions_artifact is not None]
        assert {run.name for run in runs} >= {"constant", "linear", "candidate"}
        for run in runs:
            stored = load_replicates(store, run, settings)
            assert stored is not None and stored.rows_digest is not None, run.name
            assert run_threshold(run) is not None  # binary: keyed by the threshold training chose
        linear = next(run for run in runs if run.name == "linear")
        candidate = next(run for run in runs if run.name == "candidate")
        comparison = _compare(store, [linear, candidate], settings)
        assert computed == [] and comparison == _from_predictions(store, [linear, candidate], settings)
        assert comparison.rows > 0 and len(comparison.metrics) >= 10
    finally:
        project.store.close()


def test_other_costs_threshold_resamples_or_seed_miss_the_stored_replicates(
    store: Store, computed: list[int]
) -> None:
    runs = [_logged(store, p, 0.5) for p in (_binary(400, 1.0, 1), _binary(400, 1.3, 2))]
    for run in runs:
        assert record_replicates(store, run.id, SETTINGS) is not None
    _compare(store, runs)
    assert computed == []
    for changed in (
        dataclasses.replace(SETTINGS, costs=dataclasses.replace(COSTS, false_negative=5)),
        dataclasses.replace(SETTINGS, resamples=201),
        dataclasses.replace(SETTINGS, seed=4),
    ):
        assert load_replicates(store, runs[0], changed) is None
        assert _compare(store, runs, changed) == _from_predictions(store, runs, changed)
    assert computed == [2, 2, 2]
    moved = dataclasses.replace(runs[0], params={"decision_threshold": 0.45})
    assert load_replicates(store, moved, SETTINGS) is None
    assert load_replicates(store, runs[0], SETTINGS) is not None  # entries of other settings stay valid
    unset = _logged(store, _binary(400, 1.0, 1))  # no decision threshold: the cost-optimal one
    assert record_replicates(store, unset.id, SETTINGS) is not None
    assert replicates_name(unset.predictions_artifact or "", SETTINGS, None) in run_artifacts(store, unset.id)
    assert unset.predictions_artifact == runs[0].predictions_artifact  # same predictions, other threshold
    assert load_replicates(store, unset, SETTINGS) is not None and _compare(store, [unset, runs[1]]) == (
        _from_predictions(store, [unset, runs[1]], SETTINGS)
    )


def test_runs_on_other_rows_are_compared_from_their_predictions(store: Store, computed: list[int]) -> None:
    a = _binary(500, 1.0, 1)
    b = _binary(500, 1.4, 2)
    assert b.proba is not None
    order = np.random.default_rng(0).permutation(500)[:450]  # another order, and 50 rows fewer
    shuffled = Predictions(b.row_key[order], b.y_true[order], b.y_pred[order], b.proba[order], b.classes)
    relabelled = Predictions(a.row_key, a.y_true.copy(), b.y_pred, b.proba, b.classes)
    relabelled.y_true[:7] = 1 - relabelled.y_true[:7]  # different data behind the same keys
    texts = Predictions(a.row_key.astype(str), a.y_true, b.y_pred, b.proba, b.classes)  # "7" pairs with 7
    runs = [_logged(store, p, 0.5) for p in (a, shuffled, relabelled, texts)]
    for run in runs:
        assert record_replicates(store, run.id, SETTINGS) is not None
    for pair in ([runs[0], runs[1]], [runs[0], runs[2]], [runs[0], runs[3]], runs):
        computed.clear()
        comparison = _compare(store, pair)
        assert computed == [len(pair)] and comparison == _from_predictions(store, pair, SETTINGS)
    assert _compare(store, [runs[0], runs[1]]).rows == 450
    assert _compare(store, [runs[0], runs[2]]).notes == (
        "7 rows left out: their true values differ between runs",
    )
    digests = [load_replicates(store, run, SETTINGS) for run in runs]
    assert all(found is not None and found.rows_digest is not None for found in digests)


def test_a_damaged_or_foreign_entry_is_computed_again(
    store: Store, computed: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    runs = [_logged(store, p) for p in (_regression(300), _other(_regression(300), 3))]
    for run in runs:
        record_replicates(store, run.id, SETTINGS)
    name = replicates_name(runs[0].predictions_artifact or "", SETTINGS, None)
    damaged = run_artifacts(store, runs[0].id)[name]
    blob = Path(store.artifacts.path_of(damaged))
    blob.write_bytes(blob.read_bytes()[:-40] + b"\0" * 40)
    expected = _from_predictions(store, runs, SETTINGS)
    with caplog.at_level(logging.WARNING, logger="taxiway.train"):
        assert load_replicates(store, runs[0], SETTINGS) is None
        assert _compare(store, runs) == expected
    assert computed == [2] and f"stored bootstrap replicates of run {runs[0].id} unreadable" in caplog.text
    repaired = run_artifacts(store, runs[0].id)[name]
    assert repaired != damaged and load_replicates(store, runs[0], SETTINGS) is not None
    assert _compare(store, runs) == expected and computed == [2]
    # An entry of other settings stored under this name (by hand) is not believed either.
    other = run_artifacts(store, runs[1].id)[
        replicates_name(runs[1].predictions_artifact or "", SETTINGS, None)
    ]
    with store.write_session() as session, session.begin():
        session.merge(RunArtifactRow(run_id=runs[0].id, name=name, digest=other))
    with caplog.at_level(logging.WARNING, logger="taxiway.train"):
        assert load_replicates(store, runs[0], SETTINGS) is None


def test_storing_never_fails_its_caller(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with start_run(store=store) as bare:
        pass
    run = _logged(store, _binary(200, 1.0, 1), 0.5)

    def full(*args: object) -> bytes:
        raise OSError("No space left on device")

    monkeypatch.setattr(replicates_module, "_to_bytes", full)
    with caplog.at_level(logging.WARNING, logger="taxiway.train"):
        assert record_replicates(store, bare.id, SETTINGS) is None
        assert record_replicates(store, run.id, SETTINGS) is None
        assert _compare(store, [run, _logged(store, _binary(200, 1.5, 2), 0.5)]).metrics  # still compared
    assert (
        f"bootstrap replicates of run {bare.id} not computed: ValueError: the run stored no predictions"
        in (caplog.text)
    )
    assert f"bootstrap replicates of run {run.id} not stored: OSError: No space left on device" in caplog.text
    assert not [name for name in run_artifacts(store, run.id) if name.startswith(PREFIX)]


def test_rows_digests_tell_rows_apart_as_align_pairs_them() -> None:
    keys, y = np.array(["a", "b", "c"], dtype=object), np.array([1, 0, 1])
    base = rows_digest(Predictions(keys, y, y))
    assert base == rows_digest(Predictions(keys.copy(), y.copy(), 1 - y))  # outputs do not count
    assert base != rows_digest(Predictions(keys[::-1], y[::-1], y))  # order counts
    assert base != rows_digest(Predictions(np.array(["a", "bc", ""], dtype=object), y, y))  # boundaries count
    assert base != rows_digest(Predictions(keys, np.array([1, 1, 1]), y))
    assert rows_digest(Predictions(np.arange(3), y, y)) != rows_digest(
        Predictions(np.arange(3).astype(str), y, y)
    )
    mixed = np.array(["a", 1, None], dtype=object)
    assert rows_digest(Predictions(mixed, y, y)) == rows_digest(Predictions(mixed.copy(), y, y))
    assert rows_digest(Predictions(np.array(["a", float("nan"), "c"], dtype=object), y, y)) is None
