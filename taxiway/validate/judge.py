"""`taxiway validate RUN`: evaluate a run, judge it by the gates, and record the blessing and its evidence.

The blessing and every evidence record it proves are written in one transaction: a validation that
fails half-way leaves neither a blessing nor evidence behind.

Evidence recorded (subject: the run), each a measured value against a limit:

- ``model.validated`` (I4): the blessing passed every gate;
- ``model.slices`` (M6), ``model.inclusion`` (M7), ``monitor.numerical`` (O5): their gates; ``warn`` when
  the charter names nothing to check (no slice or protected columns);
- ``model.staleness_impact`` (M4): quality lost per month of age; ``warn`` when not measurable;
- ``data.feature_value`` (D2): ``fail`` lists the features whose permutation importance is not above noise;
- ``data.feature_cost`` (D3): each feature's share of predict time; ``fail`` when one feature takes more
  than half of it, ``warn`` when the model's time cannot be split by feature.

The blessing's ``evaluation["failure_predictor"]`` holds the failure predictor's report on the test rows
(`taxiway.validate.failure`) when the run has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.data.split import SplitFrames
from taxiway.project import Project
from taxiway.registry.blessing import Blessing, GateResult, jsonable, save_blessing
from taxiway.store.checks import Check
from taxiway.store.evidence import Comparison, EvidenceLog, Limit, Measurement
from taxiway.train.failure import failure_predictor_artifact
from taxiway.train.runs import get_run
from taxiway.validate.evaluation import Evaluation, Progress, evaluate_run, start_probe
from taxiway.validate.failure import FailureReport, run_failure_report
from taxiway.validate.failure_switch import decide_failure_switch
from taxiway.validate.feature_cost import SHARE_LIMIT
from taxiway.validate.gates import Limits, run_gates
from taxiway.validate.run_context import load_context
from taxiway.validate.serving import Artifact, ServingProbe

__all__ = ["ValidationReport", "validate_run"]

FAILURE_PREDICTOR = "failure_predictor"  # the name the serving probe hands the failure predictor over by


@dataclass(frozen=True)
class ValidationReport:
    """What one validation produced: the stored blessing and the evaluation behind it."""

    blessing: Blessing
    evaluation: Evaluation
    failure: FailureReport | None = None  # the failure predictor on the test rows; None: the run has none


def validate_run(project: Project, run_ref: str, *, progress: Progress | None = None) -> ValidationReport:
    """Evaluate run ``run_ref`` (id or unique prefix), apply every gate and store the blessing.

    Raises:
        NotFoundError: no run matches ``run_ref``.
        TaxiwayError: the run cannot be validated (not finished, no model, no split), or its model does
            not load in a fresh process.
    """
    run = get_run(project.store, run_ref)
    if progress is not None:
        progress("loading the split; a fresh serving process loads the packaged model")
    probes: list[ServingProbe] = []
    predictor = failure_predictor_artifact(run)

    def from_the_probe(frames: SplitFrames, features: list[str]) -> Any:
        # The serving probe loads the artifact as serving would and hands the model over: this process
        # neither imports skops (0.8 s of CPU) nor loads the model a second time. It loads the failure
        # predictor too, once it has measured.
        others = (
            {
                FAILURE_PREDICTOR: Artifact(
                    project.store.artifacts.get_bytes(predictor[0]), predictor[1], predictor[2]
                )
            }
            if predictor is not None
            else None
        )
        probes.append(start_probe(project, run, frames, features, hand_over=True, others=others))
        return probes[0].loaded_model()

    try:
        ctx = load_context(project, run, model_from=from_the_probe)
        evaluation = evaluate_run(project, run, progress=progress, ctx=ctx, probe=probes[0])
        if progress is not None:
            progress("scoring the failure predictor on the test rows")
        # a report, not a gate: it never decides the blessing
        pipeline = probes[0].handed_over(FAILURE_PREDICTOR) if predictor is not None else None
        failure = run_failure_report(project, run, ctx, pipeline=pipeline) if pipeline is not None else None
    finally:
        for probe in probes:
            probe.close()
    limits = Limits.from_charter(project.charter, derived_improvement=evaluation.smallest_improvement)
    gates = run_gates(evaluation, limits)
    recorded = evaluation.to_json()
    if failure is not None:
        switch = decide_failure_switch(failure)  # serving reads `enabled` before it loads the predictor
        recorded["failure_predictor"] = {
            **failure.to_json(),
            "enabled": switch.enabled,
            "switch": switch.reason,
        }
    store = project.store
    with store.write_session() as session, session.begin():
        blessing = save_blessing(session, run.id, gates, test_metrics=evaluation.test, evaluation=recorded)
        _record_evidence(store.evidence, session, blessing, evaluation, project.charter)
    return ValidationReport(blessing, evaluation, failure)


def _record_evidence(
    log: EvidenceLog, session: Session, blessing: Blessing, ev: Evaluation, charter: Charter
) -> None:
    def record(
        check: Check, value: float, limit: Limit, details: Any, *, warn: str | None = None, method: str = ""
    ) -> None:
        log.record(
            check,
            subject_kind="run",
            subject_id=blessing.run_id,
            value=value,
            limit=limit,
            warn=warn,
            measured=Measurement(method=method or None),
            details=jsonable({"blessing_id": blessing.id, **details}),
            session=session,
        )

    record(
        Check.MODEL_VALIDATED,
        float(len(blessing.failed)),
        Limit(0, "<="),
        {"failed": blessing.failed, "gates": {g.gate: g.status for g in blessing.gates}},
        method="gates failed, of every validation gate",
    )
    for check, name in (
        (Check.MODEL_SLICES, "slices"),
        (Check.MODEL_INCLUSION, "inclusion"),
        (Check.MONITOR_NUMERICAL, "numerically_stable"),
    ):
        gate = blessing.gate(name)
        assert gate is not None  # every gate runs on every validation
        value, limit, warn = _gate_judgement(gate)
        record(check, value, limit, {"summary": gate.summary, **gate.details}, warn=warn, method=gate.summary)
    _record_staleness(record, ev, charter)
    if ev.feature_values:
        useless = [f.feature for f in ev.feature_values if not f.helps]
        values = [{**jsonable(f), "helps": f.helps} for f in ev.feature_values]
        summary = (
            f"{len(useless)} of {len(ev.feature_values)} features do not help: {', '.join(useless)}"
            if useless
            else "every feature helps"
        )
        record(
            Check.DATA_FEATURE_VALUE,
            float(len(useless)),
            Limit(0, "<="),
            {"summary": summary, "not_helping": useless, "features": values, "metric": ev.metric},
            method="permutation importance above noise, per feature",
        )
    costs = ev.feature_costs
    top = costs.most_costly
    per_batch = f"{costs.predict_seconds * 1000:.3g} ms per {costs.batch_rows} rows"
    if costs.method == "not_separable" or top is None:
        summary = f"predict takes {per_batch}; the model has no ColumnTransformer to split that by feature"
        value, nothing, warn = _nothing_measured(summary)
        record(Check.DATA_FEATURE_COST, value, nothing, {"summary": summary, **jsonable(costs)}, warn=warn)
    else:
        summary = f"costliest feature {top.feature}: {top.share:.0%} of the predict time ({per_batch})"
        # With a single feature it takes all the time by definition: its share is not a cost to judge.
        share = top.share if len(costs.features) >= 2 else 0.0
        record(
            Check.DATA_FEATURE_COST,
            share,
            Limit(SHARE_LIMIT, "<="),
            {"summary": summary, **jsonable(costs)},
            method="share of the predict time of the costliest feature",
        )


# gate name -> (comparison, charter key of its threshold)
_GATE_LIMITS: dict[str, tuple[Comparison, str | None]] = {
    "slices": ("<=", "validation.slice_tolerance"),
    "inclusion": ("<=", "validation.max_inclusion_gap"),
    "numerically_stable": ("<=", None),
}


def _gate_judgement(gate: GateResult) -> tuple[float, Limit, str | None]:
    """A gate as a judgement: its measured value against its threshold; a skipped gate measured nothing,
    so it is a warning with the reason (not proof)."""
    comparison, key = _GATE_LIMITS[gate.gate]
    threshold = gate.threshold if gate.threshold is not None else 0.0
    if gate.value is None and gate.status == "fail":
        # No finite value to measure: the validation predictions are broken. Count the failed gate.
        return 1.0, Limit(0, "<="), None
    if gate.status == "skip" or gate.value is None:
        return _nothing_measured(gate.summary)
    return float(gate.value), Limit(threshold, comparison, key=key), None


def _nothing_measured(why: str) -> tuple[float, Limit, str]:
    """Nothing to measure (the charter names no slice column, no time column to age the model on): the
    value is the count of measurements, 0, and the record is a warning with the reason, never proof."""
    return 0.0, Limit(0, ">="), why


def _record_staleness(record: Any, ev: Evaluation, charter: Charter) -> None:
    """M4: how long the model keeps its quality, against how often the charter retrains it.

    The measured value is the days until the model loses the smallest improvement that matters, at the
    measured loss per month; it must be at least ``serving.freshness_days``.
    """
    impact = ev.staleness
    freshness = charter.serving.freshness_days
    threshold = float(freshness if freshness is not None else question("serving.freshness_days").default)
    limit = Limit(threshold, ">=", key="serving.freshness_days")
    if impact is None:
        why = "; ".join(note for note in ev.notes if note.startswith("staleness")) or "not measurable"
        value, nothing, warn = _nothing_measured(why)
        record(Check.MODEL_STALENESS_IMPACT, value, nothing, {"summary": why}, warn=warn)
        return
    loss = impact.loss_per_month
    days = (
        _NO_LOSS_DAYS if loss <= 0 else min(_NO_LOSS_DAYS, ev.smallest_improvement / loss * _DAYS_PER_MONTH)
    )
    summary = (
        f"{loss:+.4g} {impact.metric} lost per month of model age: the model keeps within "
        f"{ev.smallest_improvement:g} of its quality for {days:.0f} days (retraining every {threshold:g})"
    )
    record(
        Check.MODEL_STALENESS_IMPACT,
        days,
        limit,
        {"summary": summary, "days_within_smallest_improvement": days, **jsonable(impact)},
        warn=None
        if freshness is not None
        else f"serving.freshness_days is not answered: judged against the default {threshold:g} days",
        method="quality on later windows of the test rows; days = smallest improvement / loss per month",
    )


_DAYS_PER_MONTH = 30.44
_NO_LOSS_DAYS = 36_500.0  # no measurable loss: a century stands for "never"
