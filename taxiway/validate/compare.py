"""Comparing runs: is run B really better than run A on the validation rows both were scored on?

The runs' stored per-row predictions are joined on ``row_key``: only rows present in every run count,
and a row whose true label differs between runs (different data behind the same key) is left out. Each
metric is then bootstrapped *paired*: every resample draws the same rows for all runs, so what makes a
row hard cancels out, and the interval of each difference is much narrower than two separate intervals.

Resamples are drawn as blocks of an index matrix, as :mod:`taxiway.measure.bootstrap` draws them (the
same seed gives the same resamples), turned into counts per row and scored for each run by
:mod:`taxiway.train.replicates`: 1,000 resamples of 50,000 rows take about a second. Runs scored on the
same rows have each their own replicates (metrics per resample), which training stores: comparing such
runs (:func:`compare_runs`) then only subtracts stored vectors, and a comparison stores those it computed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from taxiway.errors import TaxiwayError
from taxiway.measure.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, PairedDifference
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions
from taxiway.store import Store
from taxiway.train.replicates import (
    Replicates,
    ReplicateSettings,
    compute_replicates,
    load_replicates,
    run_threshold,
    save_replicates,
)
from taxiway.train.runs import Run, get_run

Better = Literal["reference", "other", "neither"]

__all__ = [
    "Comparison",
    "MetricComparison",
    "align",
    "compare_predictions",
    "compare_runs",
    "verdict",
]


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one run against the reference run, on the rows both predicted.

    ``difference`` is ``other - reference`` in the metric's units with its paired interval; ``gain`` turns
    it around for metrics where lower is better, so a positive gain always means ``other`` is better.
    """

    metric: str
    reference_id: str
    other_id: str
    reference_value: float
    other_value: float
    difference: PairedDifference
    greater_is_better: bool

    @property
    def gain(self) -> tuple[float, float, float]:
        """(estimate, low, high) of how much better ``other`` is; negative when it is worse."""
        d = self.difference
        return (d.estimate, d.low, d.high) if self.greater_is_better else (-d.estimate, -d.high, -d.low)

    @property
    def better(self) -> Better:
        """Which run is better: only when the whole interval lies on one side of zero."""
        _, low, high = self.gain
        if low > 0:
            return "other"
        if high < 0:
            return "reference"
        return "neither"


@dataclass(frozen=True)
class Comparison:
    """Runs compared with the first as the reference: each metric's paired difference, and why any is missing.

    ``rows`` counts the validation rows every run predicted; ``notes`` says what could not be compared.
    """

    runs: tuple[Run, ...]
    rows: int
    metrics: tuple[MetricComparison, ...]
    notes: tuple[str, ...]
    resamples: int
    level: float

    def of(self, metric: str, other_id: str) -> MetricComparison | None:
        """The comparison of ``metric`` between the reference and run ``other_id``, if it was made."""
        for item in self.metrics:
            if item.metric == metric and item.other_id == other_id:
                return item
        return None


def compare_runs(
    store: Store,
    run_ids: Sequence[str],
    metric_names: Sequence[str] | None = None,
    *,
    costs: ErrorCosts | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Comparison:
    """Compare two or more runs on the validation rows they share, the first run being the reference.

    Runs scored on the same rows whose bootstrap replicates are stored for these costs, resamples and seed
    (training stores them for the charter's) are compared from those, without resampling: the same result.
    Otherwise the resamples are scored, and the replicates of each run whose own rows were all compared
    are stored for the next comparison (a failure to store is logged, not raised).

    Args:
        run_ids: full ids or unique prefixes; the first is the reference every other run is compared to.
        metric_names: the metrics to compare (default: every metric the runs' predictions allow).
        costs: the error costs of ``expected_cost`` (default 1 per error; pass ``Charter.error_costs()``).

    Raises:
        TaxiwayError: fewer than two runs, the same run twice, or an unknown metric name.
        NotFoundError: a run id names no run.
        ArtifactCorruptError: a run's stored predictions were changed after they were written.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 2000)
        >>> ids = []
        >>> for noise in (0.5, 3.0):
        ...     score = 1 / (1 + np.exp(-(y - 0.5 + rng.normal(0, noise, 2000))))
        ...     p = Predictions(row_key=np.arange(2000), y_true=y, y_pred=(score > 0.5).astype(int),
        ...                     proba=np.column_stack([1 - score, score]), classes=np.array([0, 1]))
        ...     with start_run(store=store) as run:
        ...         run.set_predictions(run.log_bytes("predictions.parquet", p.to_parquet()))
        ...     ids.append(run.id)
        >>> comparison = compare_runs(store, ids, ["roc_auc"], resamples=200)
        >>> comparison.rows, comparison.metrics[0].better
        (2000, 'reference')
        >>> store.close()
    """
    if len(run_ids) < 2:
        raise TaxiwayError(
            f"comparing needs at least two runs, got {len(run_ids)}", hint="select two or more runs"
        )
    runs = tuple(get_run(store, ref) for ref in run_ids)
    if len({run.id for run in runs}) < len(runs):
        raise TaxiwayError("the same run is selected twice", hint="select different runs to compare them")
    for name in metric_names or ():
        if name not in METRICS:
            raise TaxiwayError(f"unknown metric '{name}'", hint=f"known metrics: {', '.join(METRICS)}")
    notes = [
        f"run {run.id} ({run.name}) stored no predictions: its metrics have no interval"
        for run in runs
        if run.predictions_artifact is None
    ]
    settings = ReplicateSettings(costs or ErrorCosts(), resamples, seed)
    scored = [run for run in runs if run.predictions_artifact is not None]
    stored = [load_replicates(store, run, settings) for run in scored]
    shared = _shared_rows(runs[0], scored, stored)
    if shared is not None:  # every run's replicates stored, all of the same rows: only subtract them
        return _compared(runs, scored, shared, metric_names, notes, resamples, level)
    predictions: dict[str, Predictions] = {}
    for run in scored:
        assert run.predictions_artifact is not None
        predictions[run.id] = Predictions.from_parquet(store.artifacts.get_bytes(run.predictions_artifact))
    thresholds = {run.id: run_threshold(run) for run in runs}
    comparison, own = _compare(
        runs, predictions, metric_names, costs, thresholds, notes, resamples, level, seed, every_metric=True
    )
    for run, found in zip(scored, stored, strict=True):
        if found is None and run.id in own:  # computed on all its rows: the next comparison reads them
            save_replicates(store, run, settings, own[run.id], predictions[run.id])
    return comparison


def compare_predictions(
    runs: Sequence[Run],
    predictions: dict[str, Predictions],
    metric_names: Sequence[str] | None = None,
    *,
    costs: ErrorCosts | None = None,
    thresholds: dict[str, float | None] | None = None,
    notes: Sequence[str] = (),
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Comparison:
    """:func:`compare_runs` on predictions already loaded (run id → predictions; runs without are skipped).

    With ``metric_names``, only those metrics are scored (cheaper: the ranking behind ROC AUC is skipped
    when not asked for); their sums can then differ from :func:`compare_runs`'s in the last float32 bits.
    """
    every_metric = not metric_names
    return _compare(
        runs, predictions, metric_names, costs, thresholds, notes, resamples, level, seed, every_metric
    )[0]


def _compare(
    runs: Sequence[Run],
    predictions: dict[str, Predictions],
    metric_names: Sequence[str] | None,
    costs: ErrorCosts | None,
    thresholds: dict[str, float | None] | None,
    notes: Sequence[str],
    resamples: int,
    level: float,
    seed: int,
    every_metric: bool,
) -> tuple[Comparison, dict[str, Replicates]]:
    """The comparison, and the replicates computed on all of a run's own rows (none joined or dropped)."""
    said = list(notes)
    reference = runs[0]
    comparable = [run for run in runs if run.id in predictions]

    def empty_with(notes: list[str]) -> tuple[Comparison, dict[str, Replicates]]:
        return Comparison(tuple(runs), 0, (), tuple(notes), resamples, level), {}

    if reference.id not in predictions or len(comparable) < 2:
        return empty_with(said)
    if len({predictions[run.id].task for run in comparable}) > 1:
        said.append("the runs solve different tasks (classification and regression): no intervals")
        return empty_with(said)
    aligned, dropped = align([predictions[run.id] for run in comparable])
    if dropped:
        said.append(f"{dropped:,} rows left out: their true values differ between runs")
    if len(aligned[0].y_true) == 0:
        said.append("the runs share no validation rows (they were scored on different data): no intervals")
        return empty_with(said)
    computed = compute_replicates(
        aligned,
        costs=costs,
        thresholds=[(thresholds or {}).get(run.id) for run in comparable],
        resamples=resamples,
        seed=seed,
        metric_names=None if every_metric else set(metric_names or ()),
    )
    own = {  # align hands back the very same predictions when it joined and dropped nothing
        run.id: found
        for run, p, found in zip(comparable, aligned, computed, strict=True)
        if p is predictions[run.id] and every_metric
    }
    return _compared(runs, comparable, computed, metric_names, said, resamples, level), own


def _shared_rows(
    reference: Run, scored: list[Run], stored: list[Replicates | None]
) -> list[Replicates] | None:
    """The stored replicates, when the reference and at least one other run have them, all of the same
    rows (so align would keep every row, in order) and of the same task; otherwise None."""
    found = [item for item in stored if item is not None]
    if len(found) < max(2, len(scored)) or scored[0].id != reference.id:
        return None
    first = found[0]
    same = all(
        item.rows_digest is not None
        and item.rows_digest == first.rows_digest
        and (item.task, item.rows) == (first.task, first.rows)
        for item in found
    )
    return found if same else None


def _compared(
    runs: Sequence[Run],
    comparable: Sequence[Run],
    replicates: Sequence[Replicates],
    metric_names: Sequence[str] | None,
    notes: Sequence[str],
    resamples: int,
    level: float,
) -> Comparison:
    """Each run against the first of ``comparable``: the differences of their replicates, paired."""
    reference = comparable[0]
    names = [
        name
        for name in (metric_names or list(METRICS))
        if name in METRICS and all(name in found.values for found in replicates)
    ]
    compared = []
    for i, run in enumerate(comparable[1:], start=1):
        for name in names:
            base, other = replicates[0].estimates[name], replicates[i].estimates[name]
            if math.isnan(base) or math.isnan(other):
                continue
            difference = _paired(other - base, replicates[i].values[name] - replicates[0].values[name], level)
            if difference is None:
                continue
            greater = METRICS[name].greater_is_better
            compared.append(MetricComparison(name, reference.id, run.id, base, other, difference, greater))
    return Comparison(tuple(runs), replicates[0].rows, tuple(compared), tuple(notes), resamples, level)


def align(predictions: Sequence[Predictions]) -> tuple[list[Predictions], int]:
    """The rows every set of predictions has, in the first set's order, and how many were left out as
    having different true values.

    A key that appears twice in one set (two identical rows) pairs its first occurrences, then its second.

    Example:
        >>> a = Predictions(np.array(["x", "y", "z"]), np.array([1.0, 2, 3]), np.array([1.0, 2, 2]))
        >>> b = Predictions(np.array(["z", "x"]), np.array([3.0, 1]), np.array([3.0, 0]))
        >>> aligned, dropped = align([a, b])
        >>> aligned[1].row_key.tolist(), aligned[1].y_pred.tolist(), dropped
        (['x', 'z'], [0.0, 3.0], 0)
    """
    texts = [_texts(p.row_key) for p in predictions]
    if all(keys == texts[0] for keys in texts[1:]):
        # Runs scored on the same rows in the same order (the usual case): nothing to join. Comparing the
        # lists takes ~1 ms for 50,000 keys, the join below ~60 ms.
        taken = list(predictions)
    else:
        taken = _joined(predictions, texts)
    same = np.ones(len(taken[0].y_true), dtype=bool)
    for other in taken[1:]:
        same &= _equal(taken[0].y_true, other.y_true)
    dropped = int((~same).sum())
    if dropped:
        taken = [_take(p, np.flatnonzero(same)) for p in taken]
    return taken, dropped


def _joined(predictions: Sequence[Predictions], texts: list[list[Hashable]]) -> list[Predictions]:
    """The rows whose key every set has, in the first set's order (see :func:`align`)."""
    if any(len(set(keys)) < len(keys) for keys in texts):
        texts = [_with_occurrence(keys) for keys in texts]
    lookups = [{key: i for i, key in enumerate(keys)} for keys in texts[1:]]
    first = [i for i, key in enumerate(texts[0]) if all(key in lookup for lookup in lookups)]
    positions = [np.array(first, dtype=np.intp)] + [
        np.array([lookup[texts[0][i]] for i in first], dtype=np.intp) for lookup in lookups
    ]
    return [_take(p, index) for p, index in zip(predictions, positions, strict=True)]


def verdict(item: MetricComparison, reference: str, other: str) -> str:
    """A plain sentence: which run is better, by how much and its interval; or that they can't be told apart.

    Example:
        >>> d = PairedDifference(0.012, 0.004, 0.020, 0.004, 0.95, 1000, 0.002)
        >>> verdict(MetricComparison("roc_auc", "r-a", "r-b", 0.80, 0.812, d, True), "A", "B")
        'B is better by 0.012 [0.004, 0.020]'
    """
    estimate, low, high = item.gain
    if item.better == "neither":
        return "can't tell apart"
    digits = decimals(low, high)
    if item.better == "other":
        return f"{other} is better by {estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{reference} is better by {-estimate:.{digits}f} [{-high:.{digits}f}, {-low:.{digits}f}]"


def decimals(low: float, high: float) -> int:
    """Decimal places that show an interval's width to two significant digits (4 when it has none).

    Example:
        >>> decimals(0.004, 0.020), decimals(-1.5, 12.0), decimals(0.0, 0.0)
        (3, 0, 4)
    """
    width = abs(high - low)
    if width == 0 or not math.isfinite(width):
        return 4
    return max(0, 1 - math.floor(math.log10(width)))


def _paired(estimate: float, differences: NDArray[np.float64], level: float) -> PairedDifference | None:
    kept = differences[~np.isnan(differences)]
    if kept.size == 0:
        return None
    low, high = np.quantile(kept, [(1 - level) / 2, (1 + level) / 2])
    std_error = float(np.std(kept, ddof=1)) if kept.size > 1 else 0.0
    tail = min(float(np.mean(kept <= 0)), float(np.mean(kept >= 0)))
    return PairedDifference(
        estimate, float(low), float(high), std_error, level, int(kept.size), float(min(1.0, 2 * tail))
    )


def _texts(row_key: NDArray[np.generic]) -> list[Hashable]:
    # Keys compare as text, so a run that stored 7 and one that stored "7" pair up. Python lists and dicts:
    # 50,000 keys take ~10 ms, where pandas 3's string index takes ~0.3 s for the same join.
    return list(row_key.tolist() if row_key.dtype.kind in "OU" else row_key.astype(str).tolist())


def _with_occurrence(keys: list[Hashable]) -> list[Hashable]:
    seen: Counter[Hashable] = Counter()
    numbered: list[Hashable] = []
    for key in keys:
        numbered.append((key, seen[key]))
        seen[key] += 1
    return numbered


def _take(p: Predictions, index: NDArray[np.intp]) -> Predictions:
    return Predictions(
        row_key=p.row_key[index],
        y_true=p.y_true[index],
        y_pred=p.y_pred[index],
        proba=p.proba[index] if p.proba is not None else None,
        classes=p.classes,
    )


def _equal(a: NDArray[np.generic], b: NDArray[np.generic]) -> NDArray[np.bool_]:
    same = np.asarray(a == b, dtype=bool)
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        same |= np.isnan(a) & np.isnan(b)
    return same
