"""`taxiway ct run`: one pass of continuous training.

Judge the triggers (ct/triggers.py); when one fires and the budget allows, under the CT lock: train on the
newest data (with ``ct.window_days``, only its newest rows: a time split of the window, data/split.py),
validate the best candidate, score it and live on the same recent holdout (the new split's test rows,
paired), and only when it is blessed and better by the smallest improvement that matters,
register it and hand it to CD (`taxiway.cd.step.advance`: it goes to shadow). Every pass records
``ct.trigger``; a retrain records ``ct.retrain`` (the paired gain against the smallest improvement); a pass
over budget records ``ct.budget``. All of it under ``started_by("ct")``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taxiway.cd.step import advance
from taxiway.ct.lock import retrain_lock
from taxiway.ct.triggers import Trigger, fired
from taxiway.deploy.state import desired_state
from taxiway.measure.metrics import METRICS
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by
from taxiway.store.tables import utcnow

if TYPE_CHECKING:  # pandas and pyarrow: loaded when a retrain runs, not for every pass
    from taxiway.data.split import Split


@dataclass
class CtPass:
    """What one `taxiway ct run` decided and did."""

    triggers: list[Trigger]
    action: str  # nothing | over_budget | retrained | handed_to_cd | first_model
    why: str
    run_id: str | None = None
    version: str | None = None
    gain: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "why": self.why,
            "triggers": [{"kind": t.kind, "why": t.why} for t in self.triggers],
            "run_id": self.run_id,
            "version": self.version,
            "gain": self.gain,
            "details": self.details,
        }


def run_ct(project: Project, *, progress: Callable[[str], None] | None = None) -> CtPass:
    """One CT pass (safe to repeat: with nothing new it does nothing).

    Example (shell):
        taxiway ct run     # from cron or the scheduled CI job; `taxiway ct daemon` loops it

    Raises:
        TaxiwayError: no data; another CT retrain holds the lock (``Busy``).
        DataError: ``ct.window_days`` leaves a split empty or without a class, or one value of the target:
            nothing is trained or registered.
    """
    say = progress or (lambda _: None)
    log, name = project.store.evidence, project.charter.project.name
    with started_by("ct"):
        triggers = fired(project)
        log.record(
            Check.CT_TRIGGER,
            subject_kind="project",
            subject_id=name,
            value=float(len(triggers)),
            limit=Limit(0, "<="),  # a fired trigger is work to do: the check fails until CT has done it
            details={"triggers": [{"kind": t.kind, "why": t.why} for t in triggers]},
        )
        if not triggers:
            return CtPass([], "nothing", "no trigger fired")
        used = _retrains_in_period(project)
        ct = project.charter.ct
        budget = log.record(
            Check.CT_BUDGET,
            subject_kind="project",
            subject_id=name,
            value=float(used),
            limit=Limit(ct.max_retrains, "<", key="ct.max_retrains"),
            measured=Measurement(method=f"CT retrains in the last {ct.budget_days:g} days"),
        )
        if budget.status == "fail":
            why = f"{used} retrains in the last {ct.budget_days:g} days: ct.max_retrains is {ct.max_retrains}"
            return CtPass(triggers, "over_budget", why)
        with retrain_lock(project.store):
            return _retrain(project, triggers, say)


def _retrain(project: Project, triggers: list[Trigger], say: Callable[[str], None]) -> CtPass:
    from taxiway import registry
    from taxiway.train.runner import train_project
    from taxiway.validate.judge import validate_run

    window = project.charter.ct.window_days
    say("training" if window is None else f"training on the newest {window:g} days")
    report = train_project(project, window_days=window)
    candidate = report.verdict.best_candidate.run_id
    say("validating")
    validation = validate_run(project, candidate)
    smallest = project.charter.problem.smallest_improvement
    key: str | None = "problem.smallest_improvement"
    if smallest is None:  # unanswered: the gain this dev set can show, as training derived it
        smallest, key = float(report.verdict.smallest_improvement or 0.0), None
    say("comparing with live")
    first = desired_state(project.store).live is None
    gain, facts = _paired_gain(project, candidate)
    if first:  # nothing live to compare with: the gain on the best baseline, as training judged it
        gain, facts["against"] = report.verdict.improvement, "the best baseline"
    facts["blessed"] = validation.blessing.passed
    facts["failed_gates"] = validation.blessing.failed
    facts["split_id"] = report.split.id
    facts["window"] = _window(report.split)
    limit = Limit(float(smallest), ">=", key=key)
    record = project.store.evidence.record(
        Check.CT_RETRAIN,
        subject_kind="run",
        subject_id=candidate,
        value=float(gain) if gain is not None else 0.0,
        limit=limit,
        measured=Measurement(
            sample_size=facts.get("rows"),
            method="paired: candidate and live on the new test rows"
            + ("" if window is None else f" of the newest {window:g} days"),
        ),
        warn=None if validation.blessing.passed else "not blessed: " + ", ".join(validation.blessing.failed),
        details={**facts, "triggers": [t.kind for t in triggers], "first_model": first},
    )
    if not validation.blessing.passed:
        failed = ", ".join(validation.blessing.failed)
        why = f"candidate {candidate} failed validation ({failed}): not registered"
        return CtPass(triggers, "retrained", why, candidate, gain=gain, details=facts)
    if record.status != "pass":
        why = f"candidate {candidate} gains {gain} on live, below the smallest improvement {smallest:g}"
        return CtPass(triggers, "retrained", why, candidate, gain=gain, details=facts)
    version, _ = registry.register(project.store, candidate)
    if first:
        why = f"{version.name} registered; nothing is live, so a person deploys the first: taxiway deploy"
        return CtPass(triggers, "first_model", why, candidate, version.name, gain, facts)
    say("handing to CD")
    step = advance(project, version=version.name)
    return CtPass(
        triggers, "handed_to_cd", f"{version.name}: {step.why}", candidate, version.name, gain, facts
    )


def _paired_gain(project: Project, candidate: str) -> tuple[float | None, dict[str, Any]]:
    """The candidate's ranking metric minus live's (positive: better) on the same new test rows."""
    from taxiway.measure.scores import score_predictions
    from taxiway.registry import load_model_version
    from taxiway.train.setup import predict_rows
    from taxiway.validate.run_context import ranking_metric
    from taxiway.validate.run_model import load_run_model

    state = desired_state(project.store)
    run = load_run_model(project, candidate)
    test, target, task = run.frames.test, project.charter.problem.target, project.charter.problem.task
    metric = ranking_metric(project)
    ours = score_predictions(predict_rows(run.estimator, test[run.features], test[target], task))
    facts: dict[str, Any] = {"metric": metric, "rows": len(test), "candidate": ours.get(metric)}
    if state.live is None:
        return None, facts
    live = load_model_version(project.store, f"v{state.live}", root=project.root)
    features = [str(c) for c in getattr(live, "feature_names_in_", run.features)]
    theirs = score_predictions(predict_rows(live, test[features], test[target], task))
    facts["live"] = theirs.get(metric)
    facts["live_version"] = f"v{state.live}"
    if ours.get(metric) is None or theirs.get(metric) is None:
        return None, facts
    sign = 1 if METRICS[metric].greater_is_better else -1
    return sign * (ours[metric] - theirs[metric]), facts


def _window(split: Split) -> dict[str, Any] | None:
    """The rows a windowed split kept: its days, first and last time used, rows used and rows before it."""
    settings, counts = split.settings, split.counts
    if "window_days" not in settings:
        return None
    return {
        "days": settings["window_days"],
        "time_column": settings["time_column"],
        "first": settings["window_from"],
        "last": settings["window_to"],
        "rows_used": sum(int(counts[name]) for name in ("train", "valid", "test")),
        "rows_before_window": int(counts["outside_window"]),
    }


def _retrains_in_period(project: Project) -> int:
    since = utcnow() - dt.timedelta(days=project.charter.ct.budget_days)
    return sum(
        1
        for e in project.store.evidence.history(Check.CT_RETRAIN, limit=1000)
        if e.origin == "ct" and _aware(e.recorded_at) >= since
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
