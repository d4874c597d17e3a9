"""The checklist page: what `taxiway check` prints — every seed item and the ML Test Score — with each
point linked to the evidence record behind it; and a page per evidence record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from taxiway.checklist.bound import checklist_of
from taxiway.checklist.evaluate import format_value
from taxiway.checklist.explain import item_chain
from taxiway.checklist.items import check_info
from taxiway.checklist.ml_test_score import REASONABLE_SECTION_SCORE, SCORE_SECTIONS
from taxiway.checklist.render import describe_evidence
from taxiway.store import Evidence
from taxiway.ui.state import render, ui_state

router = APIRouter()
MAX_SCORE = 7.0  # seven tests per section, one point each


@router.get("/checklist", response_class=HTMLResponse)
def checklist_page(request: Request) -> HTMLResponse:
    """The checklist from the charter and the evidence about each check's subject, as `taxiway check` computes
    it, with each item's chain from record to mark (`taxiway check --explain`)."""
    state = ui_state(request)
    report = checklist_of(state.store, state.charter, Path(state.project.root))
    context: dict[str, Any] = {
        "report": report,
        "describe": describe_evidence,
        "value": format_value,
        "score_sections": SCORE_SECTIONS,
        "reasonable": REASONABLE_SECTION_SCORE,
        "max_score": MAX_SCORE,
        "subject_link": subject_link,
        "chain": item_chain,
    }
    return render(request, "checklist.html", context, active="checklist")


@router.get("/evidence/{record_id}", response_class=HTMLResponse)
def evidence_page(request: Request, record_id: int) -> HTMLResponse:
    """One evidence record: what it verifies, on what, with what result, and its full details."""
    record = ui_state(request).store.evidence.get(record_id)
    context = {
        "record": record,
        "info": check_info(record.check_id),
        "details": json.dumps(record.details, indent=2, ensure_ascii=False, default=str),
        "subject_link": subject_link(record),
    }
    return render(request, "evidence.html", context, active="checklist")


def subject_link(record: Evidence) -> str | None:
    """The page of what a record is about, when the dashboard has one.

    Example:
        >>> subject_link(Evidence("train.baselines", "run", "r-3f2a9c01b7de", "pass"))
        '/runs/r-3f2a9c01b7de'
        >>> subject_link(Evidence("data.leakage", "split", "ab12", "pass", details={"dataset_id": "cd34"}))
        '/data/cd34#split-ab12'
    """
    if record.subject_kind == "run":
        return f"/runs/{record.subject_id}"
    if record.subject_kind == "dataset":
        return f"/data/{record.subject_id}"
    dataset = record.details.get("dataset_id")
    if record.subject_kind == "split" and isinstance(dataset, str):
        return f"/data/{dataset}#split-{record.subject_id[:12]}"
    return None
