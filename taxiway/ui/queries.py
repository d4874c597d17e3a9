"""Reads the pages need beyond the stages' own functions: evidence by subject, splits, step-metric curves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import func, select

from taxiway.charter.model import SplitStrategy
from taxiway.data.split import Split
from taxiway.errors import NotFoundError
from taxiway.store import Evidence, Store
from taxiway.store.evidence import Origin, Status, SubjectKind
from taxiway.store.tables import EvidenceRow, MetricPointRow, SplitRow
from taxiway.train.runs import metric_history

MAX_CURVE_POINTS = 2_000


def evidence_record(store: Store, record_id: int) -> Evidence:
    """One evidence record by its id.

    Raises:
        NotFoundError: no record has that id.
    """
    with store.session() as session:
        row = session.get(EvidenceRow, record_id)
        if row is None:
            raise NotFoundError(
                f"no evidence record {record_id}", hint="the checklist page links every record"
            )
        return _evidence(row)


def latest_by_subject(
    store: Store, check_ids: Iterable[str], subject_ids: Iterable[str]
) -> dict[tuple[str, str], Evidence]:
    """The newest record of each (check, subject) pair among the given checks and subjects."""
    subjects, checks = list(subject_ids), list(check_ids)
    if not subjects or not checks:
        return {}
    newest = (
        select(func.max(EvidenceRow.id))
        .where(EvidenceRow.check_id.in_(checks), EvidenceRow.subject_id.in_(subjects))
        .group_by(EvidenceRow.check_id, EvidenceRow.subject_id)
    )
    with store.session() as session:
        rows = session.scalars(select(EvidenceRow).where(EvidenceRow.id.in_(newest)))
        return {(row.check_id, row.subject_id): _evidence(row) for row in rows}


def splits_of(store: Store, dataset_ids: Sequence[str]) -> dict[str, list[Split]]:
    """Every split of each dataset version, newest first."""
    found: dict[str, list[Split]] = {dataset_id: [] for dataset_id in dataset_ids}
    query = (
        select(SplitRow)
        .where(SplitRow.dataset_id.in_(list(dataset_ids)))
        .order_by(SplitRow.created_at.desc(), SplitRow.id)
    )
    with store.session() as session:
        for row in session.scalars(query):
            found[row.dataset_id].append(
                Split(
                    id=row.id,
                    dataset_id=row.dataset_id,
                    strategy=cast(SplitStrategy, row.strategy),
                    settings=dict(row.settings),
                    counts=dict(row.counts),
                    manifest=row.manifest,
                    created_at=row.created_at,
                )
            )
    return found


def curve_keys(store: Store, run_ids: Sequence[str]) -> list[str]:
    """The metrics that any of the runs logged at more than one step: those worth drawing as curves."""
    query = (
        select(MetricPointRow.key)
        .where(MetricPointRow.run_id.in_(list(run_ids)))
        .group_by(MetricPointRow.run_id, MetricPointRow.key)
        .having(func.count(func.distinct(MetricPointRow.step)) > 1)
    )
    with store.session() as session:
        return sorted(set(session.scalars(query)))


def curve(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    """A run's (step, value) points of one metric, the last value per step, thinned to a drawable number."""
    try:
        history = metric_history(store, run_id, key)
    except NotFoundError:
        return []
    last = {step: value for step, value, _ in history}
    points = sorted(last.items())
    if len(points) > MAX_CURVE_POINTS:
        stride = -(-len(points) // MAX_CURVE_POINTS)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return points


def _evidence(row: EvidenceRow) -> Evidence:
    return Evidence(
        check_id=row.check_id,
        subject_kind=cast(SubjectKind, row.subject_kind),
        subject_id=row.subject_id,
        status=cast(Status, row.status),
        value=row.value,
        threshold=row.threshold,
        details=dict(row.details or {}),
        origin=cast(Origin, row.origin),
        recorded_at=row.recorded_at,
        id=row.id,
    )
