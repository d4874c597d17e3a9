"""The validation gates, as data: each a small function of the evaluation and the charter's limits.

Every gate returns a :class:`~taxiway.registry.blessing.GateResult` with what it measured, the limit it
applied and whether that held. A gate the charter does not ask for (no slice columns, calibration not
required) is ``skip``: it is shown, and does not stop the blessing.

- ``beats_baseline``: gain over the best baseline of the split on the same validation rows (paired
  bootstrap) >= ``problem.smallest_improvement``, with a p-value below ``validation.significance``;
- ``good_enough``: the ranking metric on validation reaches ``problem.good_enough``;
- ``slices``: no slice falls behind the production model (else the best baseline) on the same rows by
  more than ``validation.slice_tolerance``;
- ``inclusion``: the largest quality gap across a protected column's groups is at most
  ``validation.max_inclusion_gap``;
- ``calibration``: expected calibration error <= ``validation.max_calibration_error`` (when required);
- ``numerically_stable``: no NaN / infinity in any output, probabilities in [0, 1] summing to 1;
- ``latency_p99``, ``memory``, ``throughput``: p99 single-row latency, peak memory and batch rows per
  second of a fresh process that loads the packaged model, against ``serving.p99_latency_ms``,
  ``serving.max_memory_mb`` and ``serving.min_throughput_rps`` (or their documented defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.measure.metrics import METRICS
from taxiway.registry.blessing import GateResult, jsonable
from taxiway.validate.evaluation import Evaluation
from taxiway.validate.slices import largest_drop, worst_slice

__all__ = ["GATES", "Gate", "Limits", "run_gates"]


@dataclass(frozen=True)
class Limits:
    """The thresholds the gates apply: the charter's answers, else the defaults taxiway documents.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"},
        ...                             "serving": {"p99_latency_ms": 20}})
        >>> Limits.from_charter(c).p99_latency_ms, Limits.from_charter(c).max_memory_mb
        (20.0, 1024.0)
    """

    smallest_improvement: float
    good_enough: float | None
    significance: float
    slice_tolerance: float
    min_slice_rows: int
    max_inclusion_gap: float
    require_calibration: bool
    max_calibration_error: float
    p99_latency_ms: float
    max_memory_mb: float
    min_throughput_rps: float

    @classmethod
    def from_charter(cls, charter: Charter) -> Limits:
        def answer(value: float | None, path: str) -> float:
            return float(value if value is not None else question(path).default)

        serving, settings = charter.serving, charter.validation
        return cls(
            smallest_improvement=answer(charter.problem.smallest_improvement, "problem.smallest_improvement"),
            good_enough=charter.problem.good_enough,
            significance=settings.significance,
            slice_tolerance=settings.slice_tolerance,
            min_slice_rows=settings.min_slice_rows,
            max_inclusion_gap=settings.max_inclusion_gap,
            require_calibration=settings.require_calibration,
            max_calibration_error=settings.max_calibration_error,
            p99_latency_ms=answer(serving.p99_latency_ms, "serving.p99_latency_ms"),
            max_memory_mb=answer(serving.max_memory_mb, "serving.max_memory_mb"),
            min_throughput_rps=answer(serving.min_throughput_rps, "serving.min_throughput_rps"),
        )


Gate = Callable[[Evaluation, Limits], GateResult]
_NOT_FINITE = "the validation predictions hold NaN or infinity, so quality cannot be measured"


def beats_baseline(ev: Evaluation, limits: Limits) -> GateResult:
    """Better than the best baseline by the smallest improvement that matters, and significantly so."""
    name, threshold = "beats_baseline", limits.smallest_improvement
    if not ev.is_finite:
        return GateResult(name, "fail", None, threshold, _NOT_FINITE)
    b = ev.baseline
    if b is None:
        return GateResult(
            name, "fail", None, threshold, "no baseline to compare with: train on this split (taxiway train)"
        )
    significant = b.gain > 0 and b.p_value < limits.significance
    large_enough = b.gain >= threshold
    interval = f"{b.gain:+.4g} [{b.low:+.4g}, {b.high:+.4g}] {ev.metric}, p = {b.p_value:.3g}"
    if large_enough and significant:
        summary = f"beats {b.name} by {interval}"
    elif not large_enough:
        summary = f"gain over {b.name} {interval}: below the smallest improvement {threshold:g}"
    else:
        summary = f"gain over {b.name} {interval}: not significant at {limits.significance:g}"
    details = {
        "metric": ev.metric,
        "baseline_run_id": b.run_id,
        "baseline": b.name,
        "candidate_value": b.candidate_value,
        "baseline_value": b.baseline_value,
        "low": b.low,
        "high": b.high,
        "level": b.level,
        "p_value": b.p_value,
        "significance": limits.significance,
        "significant": significant,
        "resamples": b.resamples,
        "rows": b.rows,
    }
    return GateResult(name, _status(large_enough and significant), b.gain, threshold, summary, details)


def good_enough(ev: Evaluation, limits: Limits) -> GateResult:
    """At least the charter's "good enough" value of the ranking metric on validation."""
    name, bar = "good_enough", limits.good_enough
    if bar is None:
        return GateResult(name, "skip", ev.valid_value, None, "the charter sets no problem.good_enough")
    if ev.valid_value is None:
        return GateResult(name, "fail", None, bar, _NOT_FINITE)
    greater = METRICS[ev.metric].greater_is_better
    reached = ev.valid_value >= bar if greater else ev.valid_value <= bar
    relation = "reaches" if reached else "misses"
    summary = f"{ev.metric} {ev.valid_value:.4g} {relation} good enough {bar:g}"
    return GateResult(name, _status(reached), ev.valid_value, bar, summary, {"metric": ev.metric})


def slices(ev: Evaluation, limits: Limits) -> GateResult:
    """No slice worse than the production model's (else the best baseline's) by more than the tolerance."""
    name, tolerance = "slices", limits.slice_tolerance
    if not ev.is_finite:
        return GateResult(name, "fail", None, tolerance, _NOT_FINITE)
    if not ev.slices:
        return GateResult(name, "skip", None, tolerance, "the charter names no data.slice_columns")
    worst = worst_slice(list(ev.slices), min_rows=limits.min_slice_rows)
    dropped = largest_drop(list(ev.slices), min_rows=limits.min_slice_rows)
    details = {
        "metric": ev.metric,
        "reference": ev.reference,
        "worst_slice": jsonable(worst),
        "largest_drop": {**jsonable(dropped), "drop": dropped.drop} if dropped is not None else None,
        "slices": len(ev.slices),
        "min_rows": limits.min_slice_rows,
    }
    if dropped is None or dropped.drop is None:
        why = (
            "no reference model scored the slices (no baseline on this split, no production model)"
            if ev.reference is None
            else f"no slice has {limits.min_slice_rows} rows and a defined {ev.metric} for both models"
        )
        return GateResult(name, "skip", None, tolerance, why, details)
    where = f"{dropped.column}={dropped.value} ({dropped.rows} rows)"
    ok = dropped.drop <= tolerance
    summary = (
        f"{where}: {ev.metric} {dropped.estimate:.4g} vs {dropped.reference:.4g} for {ev.reference} "
        f"({'within' if ok else 'beyond'} the tolerance {tolerance:g})"
    )
    if worst is not None:
        summary += f"; worst slice {worst.column}={worst.value} at {worst.estimate:.4g}"
    return GateResult(name, _status(ok), dropped.drop, tolerance, summary, details)


def inclusion(ev: Evaluation, limits: Limits) -> GateResult:
    """Quality gaps across the groups of every protected column within the charter's limit."""
    name, limit = "inclusion", limits.max_inclusion_gap
    if not ev.is_finite:
        return GateResult(name, "fail", None, limit, _NOT_FINITE)
    if not ev.inclusion:
        return GateResult(name, "skip", None, limit, "the charter names no data.protected_columns")
    measured = [g for g in ev.inclusion if g.gap is not None]
    details = {"columns": [{**jsonable(g), "gap": g.gap} for g in ev.inclusion], "metric": ev.metric}
    if not measured:
        return GateResult(
            name, "skip", None, limit, "no protected column has two groups with enough rows", details
        )
    widest = max(measured, key=lambda g: g.gap or 0.0)
    gap = float(widest.gap or 0.0)
    relation = "within" if gap <= limit else "above"
    summary = f"{widest.column}: {widest.measure.replace('_', ' ')} {gap:.3g} ({relation} {limit:g})"
    return GateResult(name, _status(gap <= limit), gap, limit, summary, details)


def calibration(ev: Evaluation, limits: Limits) -> GateResult:
    """Expected calibration error within the limit, when the charter requires calibrated probabilities."""
    name, limit = "calibration", limits.max_calibration_error
    if ev.calibration is None:
        return GateResult(name, "skip", None, limit, "no probabilities to calibrate (regression)")
    error = ev.calibration.error
    summary = f"expected calibration error {error:.3g} ({ev.calibration.kind.replace('_', ' ')})"
    details = {"max_error": ev.calibration.max_error, "bins": len(ev.calibration.bins)}
    if not limits.require_calibration:
        return GateResult(name, "skip", error, limit, summary + "; not required by the charter", details)
    return GateResult(name, _status(error <= limit), error, limit, summary, details)


def numerically_stable(ev: Evaluation, limits: Limits) -> GateResult:
    """No NaN or infinity in any output, and probabilities in [0, 1] that sum to 1."""
    s = ev.stability
    if s.is_stable:
        summary = f"{s.rows:,} outputs checked (validation, test, training, single rows): all finite"
    else:
        summary = f"{s.bad_rows:,} of {s.rows:,} outputs broken: " + "; ".join(s.examples[:2])
    return GateResult(
        "numerically_stable", _status(s.is_stable), float(s.bad_rows), 0.0, summary, jsonable(s)
    )


def latency_p99(ev: Evaluation, limits: Limits) -> GateResult:
    """p99 latency of single-row predictions, measured in a fresh process, within the charter's limit."""
    value, limit = ev.serving.p99_ms, limits.p99_latency_ms
    summary = f"p99 {value:.3g} ms over {ev.serving.single_rows} single-row predictions (limit {limit:g} ms)"
    return GateResult(
        "latency_p99", _status(value <= limit), value, limit, summary, {"p50_ms": ev.serving.p50_ms}
    )


def memory(ev: Evaluation, limits: Limits) -> GateResult:
    """Peak memory of a fresh process that loads the model and predicts, within the charter's limit."""
    value, limit = ev.serving.peak_memory_mb, limits.max_memory_mb
    summary = f"peak {value:.0f} MB in a fresh process that loads and predicts (limit {limit:g} MB)"
    details = {"load_seconds": ev.serving.load_seconds}
    return GateResult("memory", _status(value <= limit), value, limit, summary, details)


def throughput(ev: Evaluation, limits: Limits) -> GateResult:
    """Batch predictions per second at least the charter's minimum."""
    value, limit = ev.serving.throughput_rps, limits.min_throughput_rps
    summary = f"{value:,.0f} rows/s in batches of {ev.serving.batch_rows} (minimum {limit:g})"
    return GateResult("throughput", _status(value >= limit), value, limit, summary)


GATES: tuple[Gate, ...] = (
    beats_baseline,
    good_enough,
    slices,
    inclusion,
    calibration,
    numerically_stable,
    latency_p99,
    memory,
    throughput,
)


def run_gates(ev: Evaluation, limits: Limits) -> list[GateResult]:
    """Every gate's result, in the order of :data:`GATES`."""
    return [gate(ev, limits) for gate in GATES]


def _status(ok: bool) -> Literal["pass", "fail"]:
    return "pass" if ok else "fail"
