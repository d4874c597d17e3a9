"""A run's bootstrap replicates: its metrics on every resample of its validation rows, computed once and kept.

Comparing runs (:mod:`taxiway.validate.compare`) scores them all on the same resamples of their shared rows,
drawn from a seed (:mod:`taxiway.measure.resampling`). When runs were scored on the same rows (the same keys
in the same order, the same true values: runs trained on one dataset version and split), every resample draws
the same row positions for each run, so a run's metric on each resample (its *replicates*) depends only on its
own predictions, the resample count and seed, the error costs (``expected_cost``) and its decision threshold.
Comparing such runs is then a subtraction of stored vectors: milliseconds, where scoring 1,000 resamples of
50,000 rows takes about a second. Training stores them as soon as a run's predictions are stored
(:func:`record_replicates`); a comparison stores those it had to compute.

Each run is scored on its own: one matrix product over its own metrics' columns, the same in a comparison as
for storing, so stored and computed replicates agree to the last bit. (The float32 sums of a column can differ
in their last bits with the columns beside it in the product: comparisons used to score every run in one
product, whose sums could differ from these by ~1e-7, relatively.)

Where they live: a run artifact (``run_artifacts``) named ``replicates/<key>.npz``, where ``<key>`` hashes
everything that changes the numbers: the format version, the predictions' digest (so their rows, true values
and outputs), the costs, the decision threshold, the resample count and the seed. A charter cost change,
another threshold or resample count names another artifact and misses; entries made under other settings stay
valid for those. A run tag holding a digest (as the failure predictor has) was the other choice, but it holds
one entry per run, and storing lazily, after a run ended, would rewrite the tags of a finished run; a named
artifact is one insert, and shows on the run page as what it is. The name is found without reading the
predictions; the entry holds the digest of its rows (keys and true values, in order), and a comparison uses
stored replicates only when every run has an entry for its key and they all share that digest. Anything else
(other rows, rows joined or dropped, an unreadable entry) falls back to scoring the resamples, as before. An
entry also holds the time it was computed, so that one computed again after its blob was damaged is stored
under a new digest instead of the damaged one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxiway.charter import Charter
from taxiway.measure.bootstrap import DEFAULT_RESAMPLES
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import Task
from taxiway.measure.predictions import Predictions
from taxiway.measure.resampling import score_resamples
from taxiway.measure.weighted import Floats, MetricSet, row_metrics
from taxiway.store import Store
from taxiway.store.store import record_artifact
from taxiway.store.tables import RunArtifactRow, utcnow
from taxiway.train.runs import Run, get_run, run_artifacts

FORMAT = 1  # of the stored entry; part of its key, so a new format misses the old entries
PREFIX = "replicates/"  # listed after "predictions.parquet", which they are derived from
MEDIA_TYPE = "application/x-npz"
_TASKS: tuple[Task, ...] = ("classification", "regression")
_log = logging.getLogger("taxiway.train")

__all__ = [
    "ReplicateSettings",
    "Replicates",
    "compute_replicates",
    "load_replicates",
    "record_replicates",
    "replicates_name",
    "rows_digest",
    "run_threshold",
    "save_replicates",
]


@dataclass(frozen=True)
class ReplicateSettings:
    """What a run's replicates depend on besides its predictions and threshold.

    Example:
        >>> from taxiway.charter import parse_charter
        >>> charter = parse_charter('[project]\\nname = "x"\\n[problem]\\ntarget = "y"\\n'
        ...                         '[problem.costs]\\nfalse_negative = 5.0\\n')
        >>> settings = ReplicateSettings.from_charter(charter)
        >>> settings.costs.false_negative, settings.resamples, settings.seed
        (5.0, 1000, 0)
    """

    costs: ErrorCosts = dataclasses.field(default_factory=ErrorCosts)
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0

    @classmethod
    def from_charter(cls, charter: Charter) -> ReplicateSettings:
        """The settings of the dashboard's compare page: the charter's costs and resample count, seed 0."""
        return cls(charter.error_costs(), charter.validation.bootstrap_resamples)


@dataclass(frozen=True, eq=False)
class Replicates:
    """One run's metrics on all its rows (``estimates``) and on each resample of them (``values``, NaN where
    a resample leaves a metric undefined), by metric name.

    ``every_metric`` says whether they hold every metric the predictions allow (only those are stored);
    ``rows_digest`` names the rows they were computed on (see :func:`rows_digest`) once stored or loaded.
    """

    task: Task
    rows: int
    estimates: dict[str, float]
    values: dict[str, Floats]
    every_metric: bool = True
    rows_digest: str | None = None


def compute_replicates(
    predictions: Sequence[Predictions],
    *,
    costs: ErrorCosts | None = None,
    thresholds: Sequence[float | None] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    metric_names: Collection[str] | None = None,
    block_indices: int | None = None,
) -> list[Replicates]:
    """The replicates of each set of predictions, on the same resamples of their rows: paired.

    The sets must hold the same number of rows, row ``i`` of each being the same validation row. The
    resamples are drawn once and each set is scored on them alone, over every metric ``row_metrics``
    allows at its threshold (or only ``metric_names``): a set's replicates are the same beside others as
    alone. Resamples are turned into counts per row and scored as taxiway.measure.weighted does; blocks
    of ``block_indices`` indices are drawn in order and scored on a thread per core (up to 2).

    Raises:
        ValueError: the sets hold different numbers of rows, or none.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 500)
        >>> score = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
        >>> p = Predictions(np.arange(500), y, (score > 0.5).astype(int), np.column_stack([1 - score, score]),
        ...                 np.array([0, 1]))
        >>> [alone] = compute_replicates([p], resamples=200)
        >>> beside = compute_replicates([p, p], resamples=200)[1]
        >>> alone.values["roc_auc"].shape, np.array_equal(alone.values["log_loss"], beside.values["log_loss"])
        ((200,), True)
    """
    rows = len(predictions[0].y_true) if predictions else 0
    if rows == 0 or any(len(p.y_true) != rows for p in predictions):
        raise ValueError("paired replicates need sets of predictions of the same rows, at least one row")
    chosen = list(thresholds) if thresholds is not None else [None] * len(predictions)
    sets = []
    for p, threshold in zip(predictions, chosen, strict=True):
        metrics = row_metrics(p, costs=costs, threshold=threshold)
        if metric_names is not None:
            metrics = {name: metric for name, metric in metrics.items() if name in metric_names}
        sets.append(MetricSet(metrics))
    ones = np.ones((1, rows), dtype=np.int64)
    estimates = [{name: float(value[0]) for name, value in metric_set(ones).items()} for metric_set in sets]
    values = score_resamples(sets, rows, resamples, seed, block_indices)
    return [
        Replicates(p.task, rows, estimate, value, every_metric=metric_names is None)
        for p, estimate, value in zip(predictions, estimates, values, strict=True)
    ]


def record_replicates(
    store: Store, run_id: str, settings: ReplicateSettings, predictions: Predictions | None = None
) -> Replicates | None:
    """Compute run ``run_id``'s replicates from its stored predictions and store them (if not already).

    ``predictions``: the run's stored predictions when the caller holds them already (training just wrote
    them), so they are not read back.

    What training calls once a run's predictions are stored. The decision threshold is the run's
    ``decision_threshold`` param, as comparisons read it: flush an active run's params first. Never raises:
    when the replicates cannot be computed or stored, logs why (a warning) and returns None; comparisons
    then compute them.

    Example:
        >>> import os, tempfile
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> y = np.arange(300) % 2
        >>> p = Predictions(np.arange(300), y, y, np.column_stack([1 - y * 0.8, y * 0.8]), np.array([0, 1]))
        >>> with start_run(store=store) as run:
        ...     run.set_predictions(run.log_bytes("predictions.parquet", p.to_parquet()))
        >>> recorded = record_replicates(store, run.id, ReplicateSettings(resamples=100))
        >>> recorded is not None and recorded.estimates["accuracy"]
        1.0
        >>> list(run_artifacts(store, run.id))[1].startswith("replicates/")
        True
        >>> store.close()
    """
    try:
        run = get_run(store, run_id)
        if run.predictions_artifact is None:
            raise ValueError("the run stored no predictions")
        found = load_replicates(store, run, settings)
        if found is not None:
            return found
        if predictions is None:
            predictions = Predictions.from_parquet(store.artifacts.get_bytes(run.predictions_artifact))
        [computed] = compute_replicates(
            [predictions],
            costs=settings.costs,
            thresholds=[run_threshold(run)],
            resamples=settings.resamples,
            seed=settings.seed,
        )
    except Exception as error:  # noqa: BLE001 - never fails the caller: a comparison computes them instead
        _log.warning(
            "bootstrap replicates of run %s not computed: %s: %s", run_id, type(error).__name__, error
        )
        return None
    return save_replicates(store, run, settings, computed, predictions)


def save_replicates(
    store: Store, run: Run, settings: ReplicateSettings, replicates: Replicates, predictions: Predictions
) -> Replicates | None:
    """Store ``replicates`` of ``run``'s stored ``predictions``; returns them with their rows' digest.

    ``replicates`` must be :func:`compute_replicates`'s of exactly these predictions (all rows, every
    metric) at the run's threshold with ``settings``. Never raises: logs why and returns None when they
    cannot be stored (incomplete, rows that a digest cannot pair, a store that refuses the write).

    Example:
        >>> import os, tempfile
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> p = Predictions(np.arange(50), np.linspace(0, 1, 50), np.linspace(0, 1.2, 50))
        >>> with start_run(store=store) as active:
        ...     active.set_predictions(active.log_bytes("predictions.parquet", p.to_parquet()))
        >>> run = get_run(store, active.id)
        >>> [computed] = compute_replicates([p], resamples=20)
        >>> save_replicates(store, run, ReplicateSettings(resamples=20), computed, p) is not None
        True
        >>> load_replicates(store, run, ReplicateSettings(resamples=20)).values["mae"].shape
        (20,)
        >>> store.close()
    """
    try:
        if run.predictions_artifact is None:
            raise ValueError("the run stored no predictions")
        if not replicates.every_metric or replicates.rows != len(predictions.y_true):
            raise ValueError("only the replicates of every metric on all the run's rows are stored")
        digest_of_rows = rows_digest(predictions)
        if digest_of_rows is None:
            raise ValueError("a row key or true value is not equal to itself (NaN among objects)")
        key = _key(run.predictions_artifact, settings, run_threshold(run))
        stored = dataclasses.replace(replicates, rows_digest=digest_of_rows)
        data = _to_bytes(stored, key)
        digest = store.artifacts.put_bytes(data)
        with store.write_session() as session, session.begin():
            record_artifact(session, digest, size_bytes=len(data), media_type=MEDIA_TYPE)
            name = replicates_name(run.predictions_artifact, settings, run_threshold(run))
            session.merge(RunArtifactRow(run_id=run.id, name=name, digest=digest, created_at=utcnow()))
    except Exception as error:  # noqa: BLE001 - storing is an optimisation: it must not fail its caller
        _log.warning("bootstrap replicates of run %s not stored: %s: %s", run.id, type(error).__name__, error)
        return None
    return stored


def load_replicates(store: Store, run: Run, settings: ReplicateSettings) -> Replicates | None:
    """``run``'s stored replicates for ``settings`` and its threshold; None when there are none.

    An entry that cannot be read (a damaged blob, another format, a key that does not match) counts as
    none: it is logged, and the comparison computes the replicates again. See :func:`save_replicates`.

    Example:
        >>> import os, tempfile
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> p = Predictions(np.arange(40), np.arange(40.0), np.arange(40.0) + 1)
        >>> with start_run(store=store) as active:
        ...     active.set_predictions(active.log_bytes("predictions.parquet", p.to_parquet()))
        >>> stored = record_replicates(store, active.id, ReplicateSettings(resamples=30))
        >>> run = get_run(store, active.id)
        >>> load_replicates(store, run, ReplicateSettings(resamples=30)).estimates["mae"]
        1.0
        >>> dearer = ReplicateSettings(ErrorCosts(over_prediction=2), resamples=30)  # another key: a miss
        >>> load_replicates(store, run, dearer) is None
        True
        >>> store.close()
    """
    if run.predictions_artifact is None:
        return None
    threshold = run_threshold(run)
    digest = run_artifacts(store, run.id).get(replicates_name(run.predictions_artifact, settings, threshold))
    if digest is None:
        return None
    try:
        return _from_bytes(
            store.artifacts.get_bytes(digest), _key(run.predictions_artifact, settings, threshold)
        )
    except Exception as error:  # noqa: BLE001 - an unreadable entry is computed again, never trusted
        _log.warning(
            "stored bootstrap replicates of run %s unreadable, computing them again: %s: %s",
            run.id,
            type(error).__name__,
            error,
        )
        return None


def replicates_name(predictions_digest: str, settings: ReplicateSettings, threshold: float | None) -> str:
    """The run artifact name of the replicates of these predictions, settings and threshold.

    Example:
        >>> name = replicates_name("ab" * 32, ReplicateSettings(), 0.5)
        >>> other = replicates_name("ab" * 32, ReplicateSettings(), 0.4)
        >>> name.startswith("replicates/"), name == other
        (True, False)
    """
    text = json.dumps(_key(predictions_digest, settings, threshold), sort_keys=True)
    return f"{PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"


def rows_digest(predictions: Predictions) -> str | None:
    """SHA-256 of the rows' keys and true values, in order, with their types: equal digests mean runs
    scored on the same rows, which :func:`taxiway.validate.compare.align` keeps whole and in order.

    None when a key or true value is not equal to itself (NaN among Python objects, NaT as a true value):
    align would not pair such rows.

    Example:
        >>> a = Predictions(np.array(["x", "y"]), np.array([1, 0]), np.array([1, 1]))
        >>> b = Predictions(np.array(["x", "y"]), np.array([1, 0]), np.array([0, 0]))
        >>> c = Predictions(np.array(["y", "x"]), np.array([0, 1]), np.array([1, 1]))
        >>> rows_digest(a) == rows_digest(b), rows_digest(a) == rows_digest(c)
        (True, False)
    """
    hasher = hashlib.sha256(b"taxiway rows 1")
    for column in (predictions.row_key, predictions.y_true):
        parts = _encoded(np.asarray(column))
        if parts is None:
            return None
        for part in parts:
            hasher.update(len(part).to_bytes(8, "little"))
            hasher.update(part)
    return hasher.hexdigest()


def run_threshold(run: Run) -> float | None:
    """The decision threshold comparisons score ``run``'s expected cost at: its ``decision_threshold`` param.

    Example:
        >>> import datetime as dt
        >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        >>> run_threshold(Run("r-1", "c", "candidate", "finished", None, None, None,
        ...                   {"decision_threshold": 0.3}, {}, {}, {}, {}, None, None, None, t, t))
        0.3
    """
    value = run.params.get("decision_threshold")
    return float(value) if isinstance(value, int | float) else None


def _key(predictions_digest: str, settings: ReplicateSettings, threshold: float | None) -> dict[str, Any]:
    """Everything that changes a run's replicates, as JSON values (costs as floats: 1 and 1.0 agree)."""
    costs = settings.costs
    return {
        "format": FORMAT,
        "predictions": predictions_digest,
        "costs": [
            float(costs.false_positive),
            float(costs.false_negative),
            float(costs.over_prediction),
            float(costs.under_prediction),
        ],
        "threshold": None if threshold is None else float(threshold),
        "resamples": int(settings.resamples),
        "seed": int(settings.seed),
    }


def _to_bytes(replicates: Replicates, key: dict[str, Any]) -> bytes:
    names = list(replicates.values)
    meta = {
        **key,
        "task": replicates.task,
        "rows": replicates.rows,
        "rows_digest": replicates.rows_digest,
        "metrics": names,
        "computed_at": utcnow().isoformat(),
    }
    values = (
        np.stack([replicates.values[name] for name in names]) if names else np.empty((0, key["resamples"]))
    )
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.array(json.dumps(meta)),
        estimates=np.array([replicates.estimates[name] for name in names], dtype=np.float64),
        values=values.astype(np.float64, copy=False),
    )
    return buffer.getvalue()


def _from_bytes(data: bytes, key: dict[str, Any]) -> Replicates:
    """The entry in ``data``; ValueError when it is not one of ``key`` or does not hold what it says."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"][()]))
        estimates, values = archive["estimates"], archive["values"]
    if not isinstance(meta, dict) or {name: meta.get(name) for name in key} != key:
        raise ValueError("the entry was stored for other predictions or settings")
    names, rows, task = meta["metrics"], meta["rows"], meta["task"]
    if (
        task not in _TASKS
        or not isinstance(rows, int)
        or rows < 1
        or not isinstance(meta["rows_digest"], str)
        or not all(isinstance(name, str) for name in names)
        or estimates.dtype != np.float64
        or values.dtype != np.float64
        or estimates.shape != (len(names),)
        or values.shape != (len(names), key["resamples"])
    ):
        raise ValueError("the entry does not hold what its description says")
    return Replicates(
        task,
        rows,
        {name: float(value) for name, value in zip(names, estimates, strict=True)},
        {name: values[index] for index, name in enumerate(names)},
        every_metric=True,
        rows_digest=meta["rows_digest"],
    )


def _encoded(values: NDArray[Any]) -> list[bytes] | None:
    """A column's content as bytes that tell columns apart (type, length and order included)."""
    kind = values.dtype.kind
    if kind in "mM" and bool(np.isnat(values).any()):
        return None
    if kind != "O":
        return [
            values.dtype.str.encode(),
            repr(values.shape).encode(),
            np.ascontiguousarray(values).tobytes(),
        ]
    items = values.tolist()
    if all(type(item) is str for item in items):  # the usual object column: text keys or labels
        lengths = np.array([len(item) for item in items], dtype=np.int64)
        return [b"str", lengths.tobytes(), "".join(items).encode("utf-8", "surrogatepass")]
    if any(isinstance(item, float) and math.isnan(item) for item in items):
        return None
    texts = [f"{type(item).__module__}.{type(item).__qualname__}:{item!r}" for item in items]
    lengths = np.array([len(text) for text in texts], dtype=np.int64)
    return [b"objects", lengths.tobytes(), "".join(texts).encode("utf-8", "surrogatepass")]
