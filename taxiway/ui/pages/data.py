"""The data pages: dataset versions with their schema and profile, their splits, and the data checks' reports
as the evidence records them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from taxiway.data.split import splits_of
from taxiway.data.versions import get_dataset, list_datasets
from taxiway.store.checks import Check
from taxiway.ui.state import render, ui_state

router = APIRouter()
DATASET_CHECKS = (Check.DATA_SCHEMA, Check.DATA_PII)
SPLIT_CHECKS = (Check.DATA_SPLIT, Check.DATA_LEAKAGE, Check.DATA_SAME_DISTRIBUTION, Check.DATA_DEV_POWER)
CHECK_LABELS = {
    Check.DATA_SCHEMA: "schema",
    Check.DATA_PII: "personal data",
    Check.DATA_SPLIT: "split",
    Check.DATA_LEAKAGE: "leakage",
    Check.DATA_SAME_DISTRIBUTION: "same distribution",
    Check.DATA_DEV_POWER: "dev-set power",
}


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request) -> HTMLResponse:
    """Every dataset version, newest first, with its checks at a glance; the newest version's splits."""
    store = ui_state(request).store
    versions = list_datasets(store)
    splits = splits_of(store, [version.id for version in versions])
    split_ids = [split.id for found in splits.values() for split in found]
    evidence = store.evidence.latest_by_subject(
        [*DATASET_CHECKS, *SPLIT_CHECKS], [v.id for v in versions] + split_ids
    )
    context: dict[str, Any] = {
        "versions": versions,
        "splits": splits,
        "evidence": evidence,
        "dataset_checks": DATASET_CHECKS,
        "split_checks": SPLIT_CHECKS,
        "labels": CHECK_LABELS,
    }
    return render(request, "data.html", context, active="data")


@router.get("/data/{version_id}", response_class=HTMLResponse)
def version_page(request: Request, version_id: str) -> HTMLResponse:
    """One dataset version: schema and profile of every column, its splits and every data-check report."""
    store = ui_state(request).store
    version = get_dataset(store, version_id)
    splits = splits_of(store, [version.id])[version.id]
    evidence = store.evidence.latest_by_subject(
        [*DATASET_CHECKS, *SPLIT_CHECKS], [version.id, *(s.id for s in splits)]
    )
    parent = version.parent_id
    context: dict[str, Any] = {
        "version": version,
        "columns": version.schema.get("columns", []),
        "splits": splits,
        "evidence": evidence,
        "dataset_checks": DATASET_CHECKS,
        "split_checks": SPLIT_CHECKS,
        "labels": CHECK_LABELS,
        "parent": parent,
    }
    return render(request, "dataset.html", context, active="data")
