"""The validation gates, as data: each a small function of the evaluation and the charter's limits.

Every gate returns a :class:`~taxiway.registry.blessing.GateResult` with what it measured, the limit it
applied and whether that held. A gate the charter does not ask for (no slice columns, calibration not
required) is ``skip``: it is shown, and does not stop the blessing.

- ``beats_baseline``: gain over the best baseline of the split on the same validation rows (paired
  bootstrap) >= ``problem.smallest_improvement`` (unanswered: the smallest gain the dev set can detect),
  with a p-value below ``validation.significance``;
- ``good_enough``: the ranking metric on validation reaches ``problem.good_enough``;
- ``plausible``: the validation score is not far beyond the state of the art the charter states (its error
  at least :data:`SOTA_ERROR_RATIO` of the state of the art's), nor, without one, far beyond the best
  baseline with one column carrying most of the model (error below :data:`BASELINE_ERROR_RATIO` of the
  baseline's and :data:`CONCENTRATION` of the permutation importance in one column): too good to be true is
  a leak until shown otherwise; the columns most responsible are named;
- ``held_out_test``: the test split's error within :data:`TEST_ERROR_RATIO` times validation's, either
  way, unless the two are within :data:`TEST_Z` standard errors (test RMSE twice validation's when prices
  doubled in the test period is a finding, not a blessing);
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
from taxiway.validate.plausibility import error_of
from taxiway.validate.serving import ServingMeasurement
from taxiway.validate.slices import largest_drop, worst_slice

__all__ = ["GATES", "Gate", "Limits", "latency_result", "run_gates"]

# A candidate that leaves at most half the errors of the best published result has found something the
# field missed, or a leak: flights with post-departure columns reach ROC AUC 0.99 against a stated 0.75
# (0.04 of its errors); an honest gain over the state of the art is a few points (0.8 -> 0.82: 0.9).
SOTA_ERROR_RATIO = 0.5
# Without a state of the art: a tenth of the best baseline's errors, with one column carrying half of the
# model's permutation importance. Honest boosted trees on the weather rows of tests/validate/test_gates.py
# make 0.47 of the linear baseline's log loss (dew point carrying 78% of the importance).
BASELINE_ERROR_RATIO = 0.1
CONCENTRATION = 0.5
# Test against validation: errors 1.5x apart, and at least 3 standard errors (bootstrap) apart.
TEST_ERROR_RATIO = 1.5
TEST_Z = 3.0
_RESPONSIBLE = 3  # columns named by the plausibility gate


@dataclass(frozen=True)
class Limits:
    """The thresholds the gates apply: the charter's answers, else the defaults taxiway documents.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"},
        ...                             "serving": {"p99_latency_ms": 20}})
        >>> limits = Limits.from_charter(c, derived_improvement=0.012)
        >>> limits.p99_latency_ms, limits.max_memory_mb, limits.smallest_improvement
        (20.0, 1024.0, 0.012)
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
    def from_charter(cls, charter: Charter, *, derived_improvement: float | None = None) -> Limits:
        """The charter's limits; ``derived_improvement`` stands in for an unanswered smallest improvement
        (see :func:`taxiway.data.power.smallest_improvement`)."""

        def answer(value: float | None, path: str) -> float:
            return float(value if value is not None else question(path).default)

        serving, settings = charter.serving, charter.validation
        smallest = charter.problem.smallest_improvement
        if smallest is None:
            if derived_improvement is None:
                raise ValueError("an unanswered problem.smallest_improvement needs the derived value")
            smallest = derived_improvement
        return cls(
            smallest_improvement=float(smallest),
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


def plausible(ev: Evaluation, limits: Limits) -> GateResult:
    """Not far beyond the state of the art, nor (without one) far beyond the baselines through one column."""
    name = "plausible"
    if ev.valid_value is None:
        return GateResult(name, "skip", None, None, "no finite validation score to judge")
    error = error_of(ev.metric, ev.valid_value)
    responsible, shares = _responsible(ev)
    named = ", ".join(f"{c} ({shares[c]:.0%} of the permutation importance)" for c in responsible)
    details = {
        "metric": ev.metric,
        "valid_value": ev.valid_value,
        "error": error,
        "responsible": [{"column": c, "share": shares[c]} for c in responsible],
    }
    advice = (
        f"; most responsible: {named}. Look for leakage (`taxiway data check`), list leaking columns in "
        "data.drop_columns and retrain, or, if the gain is real, update problem.state_of_the_art"
    )
    sota = ev.state_of_the_art
    if sota is not None:
        reference = error_of(ev.metric, sota.value)
        ratio = error / reference if reference > 0 else (0.0 if error == 0 else 1.0)
        details |= {"state_of_the_art": sota.value, "source": sota.source, "error_ratio": ratio}
        if ratio > SOTA_ERROR_RATIO:
            summary = (
                f"{ev.metric} {ev.valid_value:.4g} against the state of the art {sota.value:g} (from "
                f"{sota.source}): {ratio:.2f} of its errors (limit {SOTA_ERROR_RATIO:g})"
            )
            return GateResult(name, "pass", ratio, SOTA_ERROR_RATIO, summary, details)
        summary = (
            f"too good to be true: {ev.metric} {ev.valid_value:.4g} on validation leaves {ratio:.2f} of the "
            f"errors of the state of the art, {sota.value:g} (from {sota.source}; limit "
            f"{SOTA_ERROR_RATIO:g})" + advice
        )
        return GateResult(name, "fail", ratio, SOTA_ERROR_RATIO, summary, details)
    b = ev.baseline
    if b is None:
        return GateResult(
            name,
            "skip",
            None,
            None,
            f"nothing to judge the score against: {ev.state_of_the_art_note}, and no baseline",
            details,
        )
    reference = error_of(ev.metric, b.baseline_value)
    ratio = error / reference if reference > 0 else 1.0
    top = shares[responsible[0]] if responsible else 0.0
    details |= {
        "baseline": b.name,
        "baseline_value": b.baseline_value,
        "error_ratio": ratio,
        "top_share": top,
    }
    if ratio > BASELINE_ERROR_RATIO or top < CONCENTRATION:
        summary = (
            f"{ev.metric} {ev.valid_value:.4g} leaves {ratio:.2f} of baseline {b.name}'s errors (limit "
            f"{BASELINE_ERROR_RATIO:g} with one column over {CONCENTRATION:.0%} of the importance; top "
            f"{top:.0%}); no state of the art to compare with: {ev.state_of_the_art_note}"
        )
        return GateResult(name, "pass", ratio, BASELINE_ERROR_RATIO, summary, details)
    summary = (
        f"too good to be true: {ev.metric} {ev.valid_value:.4g} leaves {ratio:.2f} of baseline {b.name}'s "
        f"errors (limit {BASELINE_ERROR_RATIO:g}), and one column carries {top:.0%} of the model" + advice
    )
    return GateResult(name, "fail", ratio, BASELINE_ERROR_RATIO, summary, details)


def held_out_test(ev: Evaluation, limits: Limits) -> GateResult:
    """The held-out test score is not far from validation's: same errors within a factor, or noise."""
    name, gap = "held_out_test", ev.test_gap
    if gap is None:
        why = ev.test.get("error") or f"{ev.metric} has no bootstrap standard error"
        return GateResult(name, "skip", None, TEST_ERROR_RATIO, f"test not compared: {why}")
    ratio, z = gap.error_ratio, gap.z
    far = max(ratio, 1 / ratio) if ratio > 0 else float("inf")
    details = {
        "metric": gap.metric,
        "valid": gap.valid,
        "test": gap.test,
        "valid_se": gap.valid_se,
        "test_se": gap.test_se,
        "z": z,
        "test_rows": gap.test_rows,
        "valid_rows": gap.valid_rows,
        "max_z": TEST_Z,
    }
    ok = far < TEST_ERROR_RATIO or z < TEST_Z
    summary = (
        f"{gap.metric} {gap.test:.4g} on {gap.test_rows:,} test rows vs {gap.valid:.4g} on validation: test "
        f"errors {ratio:.2f}x validation's (limit {TEST_ERROR_RATIO:g}x either way), {z:.1f} standard errors "
        "apart"
    )
    if not ok:
        summary += (
            " — the test rows differ from what validation showed (a later period on a time split?): see "
            "`taxiway data check` (same distribution), and expect the test figure in production; retrain "
            "on more recent rows, or re-split"
        )
    return GateResult(name, _status(ok), ratio, TEST_ERROR_RATIO, summary, details)


def _responsible(ev: Evaluation) -> tuple[list[str], dict[str, float]]:
    """The columns that carry the most permutation importance, and each column's share of the total."""
    positive = {f.feature: max(f.importance, 0.0) for f in ev.feature_values}
    total = sum(positive.values())
    if total <= 0:
        return [], {}
    shares = {c: v / total for c, v in positive.items()}
    return sorted(shares, key=lambda c: -shares[c])[:_RESPONSIBLE], shares


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
    return latency_result(ev.serving, limits.p99_latency_ms)


def latency_result(serving: ServingMeasurement, limit_ms: float) -> GateResult:
    """The latency gate on what the probe measured: the p99 normalised for contention, against ``limit_ms``.

    The summary and details say how the figure was read: CPU time, each row's best round, and the raw p99
    with the factor it was divided by (see :mod:`taxiway.validate.contention`).

    Example:
        >>> from taxiway.validate.serving import ServingMeasurement
        >>> m = ServingMeasurement(p50_ms=2.5, p99_ms=3.0, single_rows=100, batch_rows=1000,
        ...                        batch_seconds=0.1, peak_memory_mb=200, load_seconds=1, rounds=3,
        ...                        raw_p99_ms=4.2, contention=1.4, reference_ms=3.1, host_reference_ms=2.2)
        >>> result = latency_result(m, 10)
        >>> result.status, result.value
        ('pass', 3.0)
        >>> result.summary  # doctest: +NORMALIZE_WHITESPACE
        "p99 3 ms of CPU time over 100 single-row predictions, each row's best of 3 rounds, normalised for a
        busy machine: 4.2 ms as timed / 1.4 (a reference predict took 3.1 ms against this host's quiet
        2.2 ms) (limit 10 ms)"
    """
    value, s = serving.p99_ms, serving
    how = (
        f"{value:.3g} ms of CPU time over {s.single_rows} single-row predictions, "
        f"each row's best of {s.rounds} rounds"
    )
    if s.contention > 1.005:  # shown from half a percent: below that the two figures print alike
        how += (
            f", normalised for a busy machine: {s.raw_p99_ms:.3g} ms as timed / {s.contention:.2g} "
            f"(a reference predict took {s.reference_ms:.2g} ms against this host's quiet "
            f"{s.host_reference_ms:.2g} ms)"
        )
    details = {
        "p50_ms": serving.p50_ms,
        "rounds": serving.rounds,
        "raw_p99_ms": serving.raw_p99_ms,
        "contention": serving.contention,
        "reference_ms": serving.reference_ms,
        "host_reference_ms": serving.host_reference_ms,
    }
    summary = f"p99 {how} (limit {limit_ms:g} ms)"
    return GateResult("latency_p99", _status(value <= limit_ms), value, limit_ms, summary, details)


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
    plausible,
    held_out_test,
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
