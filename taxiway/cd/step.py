"""`taxiway cd run`: advance the deployment one step when its evidence allows, and record why.

The steps, each taken only on evidence measured since the deployment's last change:

* nothing in flight: the newest blessed version that beats live on its held-out test (and was not turned
  down by CD before) goes to **shadow**;
* a shadow that answered ``shadow_rows`` rows beside live and agreed with live on ``shadow_agreement`` of the
  rows goes **canary** at ``canary_weight``; one that agrees less is stopped;
* a canary is judged against live over the same window on server errors, fallbacks, latency (requests over
  the charter's p99 budget) and, once enough labels arrived, realised quality (cd/canary.py), each by a
  sequential test (cd/sprt.py): worse on any → the canary is stopped (**rollback**); as good on every one
  → **live**;
* a version CD put live is watched for ``bake_minutes``: a server-error rate above ``worse_by`` rolls live
  back to the version before it.

Every step and every refusal is a ``deploy.cd`` record with origin ``cd`` about the version concerned.
Running it again with nothing new to judge changes nothing (it is safe from cron, CI or the CT loop).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from taxiway.cd.canary import Criterion, canary_criteria
from taxiway.charter.model import DeployPolicy
from taxiway.deploy.changes import deploy, promote, rollback, stop
from taxiway.deploy.figures import RoleFigures, role_figures
from taxiway.deploy.state import DeploymentState, desired_state
from taxiway.errors import TaxiwayError
from taxiway.measure.metrics import METRICS
from taxiway.project import Project
from taxiway.registry import ModelVersion, get_version, list_versions
from taxiway.registry.blessing import get_blessing
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by
from taxiway.store.tables import utcnow

Action = Literal["shadow", "canary", "promote", "stop-shadow", "stop-canary", "rollback", "refuse", "wait"]
REASON_PREFIX = "cd: "  # deployment changes made by CD say so in their reason (the bake step reads it)


@dataclass(frozen=True)
class Step:
    """What one `taxiway cd run` did (or why it did nothing) and the state after it."""

    action: Action
    version: str | None
    why: str
    state: DeploymentState
    details: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "version": self.version,
            "why": self.why,
            "state": self.state.describe(),
            "details": self.details,
        }


def advance(project: Project, *, version: str | None = None) -> Step:
    """Take the deployment one step further by ``[deploy.policy]``; ``version`` names the candidate.

    Example (shell):
        taxiway cd run            # from cron: each run moves at most one step

    Raises:
        TaxiwayError: ``version`` is not blessed or does not beat live (nothing is deployed; the refusal
            is recorded).
    """
    policy = project.charter.deploy.policy
    with started_by("cd"):
        state = desired_state(project.store)
        if state.canary is not None:
            return _judge_canary(project, state, policy)
        if state.shadow is not None:
            return _judge_shadow(project, state, policy)
        baking = _bake(project, state, policy)
        if baking is not None:
            return baking
        return _start(project, state, policy, version)


def _start(project: Project, state: DeploymentState, policy: DeployPolicy, ref: str | None) -> Step:
    store = project.store
    if state.live is None:
        raise TaxiwayError(
            "nothing is live: CD measures a new version against live, so the first version goes live by hand",
            hint="taxiway deploy v1 (a person's decision, recorded as manual); then taxiway cd run",
        )
    live = get_version(store, f"v{state.live}")
    if ref is not None:
        candidate = get_version(store, ref)
        if not candidate.is_blessed:
            _record(project, candidate, 0.0, Limit(1, ">="), "refused: the version is not blessed", {})
            raise TaxiwayError(
                f"{candidate.name} was never blessed: CD deploys only versions that passed validation",
                hint="taxiway validate RUN, then taxiway register RUN; a person may still "
                "`taxiway deploy --force --reason ...`",
            )
        candidates = [candidate]
    else:
        turned_down = _turned_down(project)
        candidates = [
            v
            for v in sorted(list_versions(store), key=lambda v: -v.version)
            if v.version > live.version and v.is_blessed and v.name not in turned_down
        ][:1]
    if not candidates:
        return Step("wait", None, f"no blessed version newer than live v{state.live} to deliver", state)
    candidate = candidates[0]
    gain, facts = _gain(project, candidate, live)
    if gain is None or gain <= 0:
        why = (
            f"{candidate.name} does not beat live {live.name} on its held-out test"
            if gain is not None
            else f"{candidate.name} and live {live.name} have no held-out score in the same metric"
        )
        _record(
            project, candidate, gain if gain is not None else 0.0, Limit(0, ">"), f"refused: {why}", facts
        )
        if ref is not None:
            raise TaxiwayError(why, hint="train and validate a better model; CT does: taxiway ct run")
        return Step("refuse", candidate.name, why, state, facts)
    new = deploy(store, candidate.name, "shadow", reason=f"{REASON_PREFIX}beats live by {gain:.4g}")
    _record(project, candidate, gain, Limit(0, ">"), "shadow: blessed and beats live", facts)
    return Step(
        "shadow", candidate.name, f"beats live {live.name} by {gain:.4g} on the held-out test", new, facts
    )


def _judge_shadow(project: Project, state: DeploymentState, policy: DeployPolicy) -> Step:
    store = project.store
    assert state.shadow is not None
    shadow = _figures(project, state, "shadow", state.shadow)
    name = f"v{state.shadow}"
    facts = shadow.to_json()
    if shadow.compared < policy.shadow_rows or shadow.agreement is None:
        why = (
            f"shadow {name} answered {shadow.compared} of the {policy.shadow_rows} rows it needs beside live"
        )
        return Step("wait", name, why, state, facts)
    agreement = shadow.agreement
    limit = Limit(policy.shadow_agreement, ">=", key="deploy.policy.shadow_agreement")
    version = get_version(store, name)
    if limit.judge(agreement) == "fail":
        new = stop(store, "shadow", reason=f"{REASON_PREFIX}agreement {agreement:.3f} below policy")
        _record(
            project, version, agreement, limit, "shadow stopped: disagrees with live", facts, shadow.compared
        )
        why = (
            f"shadow {name} agreed with live on {agreement:.1%} of rows, below {policy.shadow_agreement:.0%}"
        )
        return Step("stop-shadow", name, why, new, facts)
    new = deploy(
        store,
        name,
        "canary",
        weight=policy.canary_weight,
        reason=f"{REASON_PREFIX}shadow agreed {agreement:.3f}",
    )
    _record(project, version, agreement, limit, "canary: the shadow agreed with live", facts, shadow.compared)
    why = (
        f"shadow {name} agreed on {agreement:.1%} of {shadow.compared} rows: "
        f"canary at {policy.canary_weight:.0%}"
    )
    return Step("canary", name, why, new, facts)


def _judge_canary(project: Project, state: DeploymentState, policy: DeployPolicy) -> Step:
    store = project.store
    assert state.canary is not None and state.live is not None
    canary = _figures(project, state, "canary", state.canary)
    live = _figures(project, state, "live", state.live)
    name = f"v{state.canary}"
    criteria = canary_criteria(project, canary, live, _since(state), policy)
    facts = {
        "canary": canary.to_json(),
        "live": live.to_json(),
        "criteria": [c.to_json() for c in criteria],
    }
    judged = [c for c in criteria if c.test is not None]
    worse = [c for c in judged if c.verdict == "worse"]
    undecided = [c for c in judged if c.verdict == "continue"]
    if not worse and canary.requests < policy.canary_requests:
        why = f"canary {name} answered {canary.requests} of the {policy.canary_requests} requests it needs"
        return Step("wait", name, why, state, facts)
    if not worse and undecided and canary.requests < policy.max_canary_requests:
        names = ", ".join(c.name for c in undecided)
        why = f"the sequential tests of {names} have not decided after {canary.requests} requests"
        return Step("wait", name, why, state, facts)
    upper = judged[0].test.upper if judged and judged[0].test else 0.0
    limit = Limit(upper, "<", key="deploy.policy.alpha")
    if not worse and undecided:  # out of budget: each truncated test decides by the side it leans to
        worse = [c for c in undecided if c.test is not None and c.test.llr > 0]
        limit = Limit(0.0, "<=")
    version = get_version(store, name)
    if worse:
        first = worse[0]
        assert first.test is not None
        new = stop(store, "canary", reason=f"{REASON_PREFIX}{first.describe()}")
        step = "rolled back: the canary is worse on " + ", ".join(c.name for c in worse)
        _record(project, version, first.test.llr, limit, step, facts, first.canary_n)
        why = f"canary {name} is worse than live: " + "; ".join(c.describe() for c in worse) + ": stopped"
        return Step("stop-canary", name, why, new, facts)
    value = max(c.test.llr for c in judged if c.test is not None)
    if limit.comparison == "<":  # every judged test crossed its lower bound: as good as live
        lower = judged[0].test.lower if judged[0].test else 0.0
        limit = Limit(lower, "<=", key="deploy.policy.beta")
    skipped = "; ".join(f"{c.name} not judged ({c.why})" for c in criteria if c.test is None)
    new = promote(store, source="canary", reason=f"{REASON_PREFIX}canary as good as live on {_names(judged)}")
    _record(project, version, value, limit, "live: the canary is as good as live", facts, canary.requests)
    why = f"canary {name} is as good as live on {_names(judged)} over {canary.requests} requests: live"
    return Step("promote", name, why + (f"; {skipped}" if skipped else ""), new, facts)


def _names(criteria: list[Criterion]) -> str:
    return ", ".join(c.name for c in criteria)


def _since(state: DeploymentState) -> dt.datetime:
    return _aware(state.created_at) if state.created_at is not None else utcnow() - dt.timedelta(hours=1)


def _bake(project: Project, state: DeploymentState, policy: DeployPolicy) -> Step | None:
    """During the bake period after CD put a version live: roll back on a server-error alert."""
    if (
        state.action != "promote"
        or not (state.reason or "").startswith(REASON_PREFIX)
        or state.created_at is None
        or state.live is None
        or utcnow() - _aware(state.created_at) > dt.timedelta(minutes=policy.bake_minutes)
    ):
        return None
    live = _figures(project, state, "live", state.live)
    rate = live.error_rate
    name = f"v{state.live}"
    limit = Limit(policy.worse_by, "<=", key="deploy.policy.worse_by")
    if rate is None or limit.judge(rate) != "fail":
        return Step(
            "wait", name, f"baking: live {name} has served {live.requests} requests without alert", state
        )
    new = rollback(project.store, reason=f"{REASON_PREFIX}server errors {rate:.1%} while baking")
    version = get_version(project.store, name)
    _record(
        project,
        version,
        rate,
        limit,
        "rolled back while baking: server errors",
        live.to_json(),
        live.requests,
    )
    return Step("rollback", name, f"live {name} failed {rate:.1%} of requests while baking: rolled back", new)


def _figures(project: Project, state: DeploymentState, role: str, number: int) -> RoleFigures:
    for figures in role_figures(project.store, _since(state)):
        if figures.role == role and figures.version == number:
            return figures
    return RoleFigures(role, number)


def _gain(
    project: Project, candidate: ModelVersion, live: ModelVersion
) -> tuple[float | None, dict[str, Any]]:
    """How much better the candidate's held-out score is than live's (positive: better), in one metric."""
    scores = {}
    for version in (candidate, live):
        if version.blessing_id is None:
            continue
        test = get_blessing(project.store, version.blessing_id).test_metrics
        metrics = test.get("metrics") or {}
        scores[version.name] = metrics
    metric = project.charter.problem.ranking_metric or next(iter(scores.get(candidate.name, {})), None)
    ours, theirs = scores.get(candidate.name, {}).get(metric), scores.get(live.name, {}).get(metric)
    facts = {"metric": metric, candidate.name: ours, live.name: theirs}
    if metric is None or ours is None or theirs is None or metric not in METRICS:
        return None, facts
    sign = 1 if METRICS[metric].greater_is_better else -1
    return sign * (float(ours) - float(theirs)), facts


def _turned_down(project: Project) -> set[str]:
    """Versions CD refused or rolled back before: not offered again on their own."""
    from taxiway.store.evidence import EvidenceLog

    log: EvidenceLog = project.store.evidence
    return {e.subject_id for e in log.history(Check.DEPLOY_CD) if e.status == "fail" and e.origin == "cd"}


def _record(
    project: Project,
    version: ModelVersion,
    value: float,
    limit: Limit,
    step: str,
    details: dict[str, Any],
    sample_size: int | None = None,
) -> None:
    project.store.evidence.record(
        Check.DEPLOY_CD,
        subject_kind="model",
        subject_id=version.name,
        value=float(value),
        limit=limit,
        measured=Measurement(sample_size=sample_size, method=f"taxiway cd run: {step}"),
        details={"step": step, **details},
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
