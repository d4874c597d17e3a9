"""The CI · CD · CT page: what the unattended loops did, newest first — each CI run about its commit, each
delivery step or refusal, each CT pass (triggers, budget, retrain) — linked to the evidence behind it; and
the newest `taxiway ct simulate` replay, drawn: the cumulative metric and the retrains of each policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from taxiway.checklist.evaluate import format_value
from taxiway.ct.kept import newest_simulation
from taxiway.store import Evidence
from taxiway.store.checks import Check
from taxiway.ui import charts
from taxiway.ui.state import render, ui_state

router = APIRouter()
PER_CHECK = 30
SECTIONS = (
    ("ci", "Continuous integration", (Check.CI_CHECK, Check.PIPELINE_INTEGRATION), "taxiway ci run"),
    ("cd", "Continuous delivery", (Check.DEPLOY_CD,), "taxiway cd run"),
    ("ct", "Continuous training", (Check.CT_TRIGGER, Check.CT_BUDGET, Check.CT_RETRAIN), "taxiway ct run"),
)


@dataclass(frozen=True)
class Line:
    """One record as the page shows it."""

    record: Evidence
    limit: str  # "≤ 0", "≥ 0.8", ...
    what: str  # the step, the triggers or the failures, in a few words


@router.get("/loop", response_class=HTMLResponse)
def loop_page(request: Request) -> HTMLResponse:
    """The newest records of every CI, CD and CT check, per loop, newest first."""
    log = ui_state(request).store.evidence
    sections = []
    for key, title, checks, command in SECTIONS:
        records = [record for check in checks for record in log.history(check, limit=PER_CHECK)]
        records.sort(key=lambda record: record.id or 0, reverse=True)
        sections.append((key, title, command, [_line(record) for record in records[:PER_CHECK]]))
    context: dict[str, Any] = {"sections": sections, "value": format_value, "simulation": None}
    kept = newest_simulation(ui_state(request).store)
    if kept is not None:
        run, document = kept
        policies = document.get("policies", [])
        origin = next((p.get("origin") for p in policies if p.get("origin")), None)
        context["simulation"] = {
            "run": run,
            "policies": policies,
            "settings": document.get("settings", {}),
            "figure": charts.simulation_figure(policies, origin) if origin else None,
        }
    return render(request, "loop.html", context, active="loop")


def _line(record: Evidence) -> Line:
    limit = f"{record.comparison} {format_value(record.threshold)}" if record.comparison else "-"
    return Line(record, limit, what(record))


def what(record: Evidence) -> str:
    """A few words on what a record says, from its details.

    Example:
        >>> fired = {"triggers": [{"kind": "freshness"}]}
        >>> what(Evidence("ct.trigger", "project", "p", "fail", details=fired))
        'triggers: freshness'
        >>> what(Evidence("deploy.cd", "model", "v2", "pass", details={"step": "shadow: blessed"}))
        'shadow: blessed'
    """
    details = record.details
    if "step" in details:
        return str(details["step"])
    if "triggers" in details and isinstance(details["triggers"], list):
        kinds = [t["kind"] if isinstance(t, dict) else str(t) for t in details["triggers"]]
        return "triggers: " + (", ".join(kinds) or "none")
    if details.get("failures"):
        return f"{len(details['failures'])} failures, first: {str(details['failures'][0])[:120]}"
    if "commit" in details and record.check_id == Check.CI_CHECK:
        return f"commit {str(details['commit'])[:12]}"
    return record.measured.method or ""
