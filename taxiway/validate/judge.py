"""`taxiway validate RUN`: evaluate a run, judge it by the gates, and record the blessing and its evidence.

The blessing and every evidence record it proves are written in one transaction: a validation that
fails half-way leaves neither a blessing nor evidence behind.

Evidence recorded (subject: the run), origin ``ci`` when the ``CI`` variable is set:

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

from taxiway.project import Project
from taxiway.registry.blessing import Blessing, GateResult, jsonable, save_blessing
from taxiway.store.checks import Check
from taxiway.store.evidence import EvidenceLog, Status
from taxiway.train.runs import get_run
from taxiway.validate.evaluation import Evaluation, Progress, evaluate_run
from taxiway.validate.failure import FailureReport, run_failure_report
from taxiway.validate.failure_switch import decide_failure_switch
from taxiway.validate.feature_cost import SHARE_LIMIT
from taxiway.validate.gates import Limits, run_gates
from taxiway.validate.run_context import load_context

__all__ = ["ValidationReport", "validate_run"]


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
        progress("loading the split and the packaged model")
    ctx = load_context(project, run)  # once, for the evaluation and the failure report
    evaluation = evaluate_run(project, run, progress=progress, ctx=ctx)
    limits = Limits.from_charter(project.charter, derived_improvement=evaluation.smallest_improvement)
    gates = run_gates(evaluation, limits)
    if progress is not None:
        progress("scoring the failure predictor on the test rows")
    failure = run_failure_report(project, run, ctx)  # a report, not a gate: it never decides the blessing
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
        _record_evidence(store.evidence, session, blessing, evaluation)
    return ValidationReport(blessing, evaluation, failure)


def _record_evidence(log: EvidenceLog, session: Session, blessing: Blessing, ev: Evaluation) -> None:
    def record(
        check: Check, status: Status, value: float | None, threshold: float | None, details: Any
    ) -> None:
        log.record(
            check,
            subject_kind="run",
            subject_id=blessing.run_id,
            status=status,
            value=value,
            threshold=threshold,
            details=jsonable({"blessing_id": blessing.id, **details}),
            session=session,
        )

    record(
        Check.MODEL_VALIDATED,
        "pass" if blessing.passed else "fail",
        float(len(blessing.failed)),
        0.0,
        {"failed": blessing.failed, "gates": {g.gate: g.status for g in blessing.gates}},
    )
    for check, name in (
        (Check.MODEL_SLICES, "slices"),
        (Check.MODEL_INCLUSION, "inclusion"),
        (Check.MONITOR_NUMERICAL, "numerically_stable"),
    ):
        gate = blessing.gate(name)
        assert gate is not None  # every gate runs on every validation
        record(check, _status(gate), gate.value, gate.threshold, {"summary": gate.summary, **gate.details})
    impact = ev.staleness
    if impact is None:
        why = [note for note in ev.notes if note.startswith("staleness")]
        record(Check.MODEL_STALENESS_IMPACT, "warn", None, None, {"summary": "; ".join(why)})
    else:
        summary = f"{impact.loss_per_month:+.4g} {impact.metric} lost per month of model age"
        record(
            Check.MODEL_STALENESS_IMPACT,
            "pass",
            impact.loss_per_month,
            None,
            {"summary": summary, **jsonable(impact)},
        )
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
            "fail" if useless else "pass",
            float(len(useless)),
            0.0,
            {"summary": summary, "not_helping": useless, "features": values, "metric": ev.metric},
        )
    costs = ev.feature_costs
    top = costs.most_costly
    per_batch = f"{costs.predict_seconds * 1000:.3g} ms per {costs.batch_rows} rows"
    if costs.method == "not_separable" or top is None:
        summary = f"predict takes {per_batch}; the model has no ColumnTransformer to split that by feature"
        record(Check.DATA_FEATURE_COST, "warn", None, SHARE_LIMIT, {"summary": summary, **jsonable(costs)})
    else:
        summary = f"costliest feature {top.feature}: {top.share:.0%} of the predict time ({per_batch})"
        status: Status = "pass" if top.share <= SHARE_LIMIT or len(costs.features) < 2 else "fail"
        record(
            Check.DATA_FEATURE_COST, status, top.share, SHARE_LIMIT, {"summary": summary, **jsonable(costs)}
        )


def _status(gate: GateResult) -> Status:
    return "warn" if gate.status == "skip" else gate.status
