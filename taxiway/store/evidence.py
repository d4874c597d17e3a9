"""Evidence: the record of every check any stage runs, and the only thing the checklist reads."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from taxiway.errors import NotFoundError
from taxiway.store.tables import EvidenceRow, utcnow

Origin = Literal["manual", "ci", "ct", "server"]
Status = Literal["pass", "fail", "warn"]
SubjectKind = Literal["project", "dataset", "split", "run", "model", "deployment", "replica"]
ORIGINS: tuple[Origin, ...] = ("manual", "ci", "ct", "server")
AUTOMATIC_ORIGINS: frozenset[str] = frozenset({"ci", "ct", "server"})


def default_origin(environ: Mapping[str, str] | None = None) -> Origin:
    """``ci`` when the ``CI`` environment variable is set (as every CI service does), else ``manual``.

    Example:
        >>> default_origin({"CI": "true"}), default_origin({"CI": "false"}), default_origin({})
        ('ci', 'manual', 'manual')
    """
    env = os.environ if environ is None else environ
    return "ci" if env.get("CI", "").lower() not in ("", "0", "false", "no") else "manual"


@dataclass(frozen=True)
class Evidence:
    """One check's outcome on one subject.

    Example:
        >>> e = Evidence(check_id="data.version", subject_kind="dataset", subject_id="ab12", status="pass")
        >>> e.is_automatic
        False
    """

    check_id: str
    subject_kind: SubjectKind
    subject_id: str
    status: Status
    value: float | None = None
    threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    origin: Origin = "manual"
    recorded_at: dt.datetime = field(default_factory=utcnow)
    id: int | None = None

    @property
    def is_automatic(self) -> bool:
        """Whether the check ran without a person starting it (CI, continuous training, the server)."""
        return self.origin in AUTOMATIC_ORIGINS

    @classmethod
    def _from_row(cls, row: EvidenceRow) -> Evidence:
        recorded = row.recorded_at
        return cls(
            check_id=row.check_id,
            subject_kind=row.subject_kind,  # type: ignore[arg-type]
            subject_id=row.subject_id,
            status=row.status,  # type: ignore[arg-type]
            value=row.value,
            threshold=row.threshold,
            details=dict(row.details or {}),
            origin=row.origin,  # type: ignore[arg-type]
            recorded_at=recorded,
            id=row.id,
        )


class EvidenceLog:
    """Append and query evidence in the metadata database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(
        self,
        check_id: str,
        *,
        subject_kind: SubjectKind,
        subject_id: str,
        status: Status,
        value: float | None = None,
        threshold: float | None = None,
        details: dict[str, Any] | None = None,
        origin: Origin | None = None,
        session: Session | None = None,
    ) -> Evidence:
        """Append one record; pass ``session`` to commit it together with the work it describes."""
        row = EvidenceRow(
            check_id=check_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            status=status,
            value=value,
            threshold=threshold,
            details=details or {},
            origin=origin or default_origin(),
            recorded_at=utcnow(),
        )
        if session is not None:
            session.add(row)
            session.flush()
            return Evidence._from_row(row)
        with Session(self._engine, expire_on_commit=False) as own, own.begin():
            own.add(row)
        return Evidence._from_row(row)

    def latest(self, check_ids: Iterable[str] | None = None) -> dict[str, Evidence]:
        """The newest record of each check (of the given ones, or of all)."""
        newest = select(EvidenceRow.check_id, func.max(EvidenceRow.id).label("id")).group_by(
            EvidenceRow.check_id
        )
        if check_ids is not None:
            newest = newest.where(EvidenceRow.check_id.in_(list(check_ids)))
        sub = newest.subquery()
        query = select(EvidenceRow).join(sub, EvidenceRow.id == sub.c.id)
        with Session(self._engine) as session:
            return {row.check_id: Evidence._from_row(row) for row in session.scalars(query)}

    def get(self, record_id: int) -> Evidence:
        """One record by its id.

        Raises:
            NotFoundError: no record has that id.
        """
        with Session(self._engine) as session:
            row = session.get(EvidenceRow, record_id)
            if row is None:
                raise NotFoundError(
                    f"no evidence record {record_id}", hint="the checklist lists the records behind each item"
                )
            return Evidence._from_row(row)

    def latest_by_subject(
        self, check_ids: Iterable[str], subject_ids: Iterable[str]
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
        with Session(self._engine) as session:
            rows = session.scalars(select(EvidenceRow).where(EvidenceRow.id.in_(newest)))
            return {(row.check_id, row.subject_id): Evidence._from_row(row) for row in rows}

    def history(self, check_id: str, *, limit: int = 100) -> list[Evidence]:
        """Records of one check, newest first."""
        query = (
            select(EvidenceRow)
            .where(EvidenceRow.check_id == check_id)
            .order_by(EvidenceRow.id.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [Evidence._from_row(row) for row in session.scalars(query)]

    def count(self) -> int:
        with Session(self._engine) as session:
            return int(session.scalar(select(func.count(EvidenceRow.id))) or 0)
