"""Evidence: the record of every check any stage runs, and the only thing the checklist reads.

A record is a judgement: what was measured (a value, over a sample and a window, by a method) and the limit
it was compared with. The status is computed from the two, never handed in, so no writer can record a pass
it did not measure; the checklist judges the stored value again against the charter as it is now
(``Limit.key``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from taxiway.errors import NotFoundError
from taxiway.store.tables import EvidenceRow, utcnow

Origin = Literal["manual", "ci", "ct", "cd", "server", "monitor"]
Status = Literal["pass", "fail", "warn", "accepted"]
Comparison = Literal[">=", ">", "<=", "<", "=="]
SubjectKind = Literal["project", "dataset", "split", "run", "model", "deployment", "replica", "commit"]
ORIGINS: tuple[Origin, ...] = ("manual", "ci", "ct", "cd", "server", "monitor")
# Origins of work nobody typed: taxiway's CI run, continuous training and delivery, the server's and the
# monitor's own background work. The environment (a CI variable) never makes a record automatic; what started
# the work does.
AUTOMATIC_ORIGINS: frozenset[str] = frozenset({"ci", "ct", "cd", "server", "monitor"})
_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_STARTED_BY: ContextVar[tuple[Origin, Mapping[str, Any]]] = ContextVar(
    "taxiway_started_by", default=("manual", {})
)


@contextlib.contextmanager
def started_by(origin: Origin, **facts: Any) -> Iterator[None]:
    """Records made inside carry ``origin`` and ``facts`` (a commit, a CI run id): what started the work.

    Example:
        >>> with started_by("ci", commit="ab12"):
        ...     current_origin()
        ('ci', {'commit': 'ab12'})
        >>> current_origin()
        ('manual', {})
    """
    token = _STARTED_BY.set((origin, dict(facts)))
    try:
        yield
    finally:
        _STARTED_BY.reset(token)


def current_origin() -> tuple[Origin, Mapping[str, Any]]:
    """The origin new records get here, and the facts ``started_by`` gave; ``manual`` when nothing set one."""
    return _STARTED_BY.get()


@dataclass(frozen=True)
class Limit:
    """The threshold a measured value is judged against: pass when ``value <comparison> threshold``.

    ``key`` names the charter setting the threshold came from, so the checklist can judge the value again
    when the charter changes; ``warn_at`` is a stricter threshold on the same side: past it the value passes
    with a warning.

    Example:
        >>> latency = Limit(50.0, "<=", key="serving.p99_latency_ms", warn_at=40.0)
        >>> latency.judge(30.0), latency.judge(45.0), latency.judge(99.6)
        ('pass', 'warn', 'fail')
    """

    threshold: float
    comparison: Comparison
    key: str | None = None
    warn_at: float | None = None

    def __post_init__(self) -> None:
        if self.comparison not in _COMPARE:
            raise ValueError(f"unknown comparison {self.comparison!r}; use one of {', '.join(_COMPARE)}")

    def judge(self, value: float, threshold: float | None = None, *, warn: str | None = None) -> Status:
        """``pass``, ``warn`` or ``fail`` for ``value`` (against ``threshold`` instead of the stored one);
        a writer's ``warn`` reason turns a pass into a warning."""
        compare = _COMPARE[self.comparison]
        if not compare(value, self.threshold if threshold is None else threshold):
            return "fail"
        if warn or (self.warn_at is not None and not compare(value, self.warn_at)):
            return "warn"
        return "pass"


@dataclass(frozen=True)
class Measurement:
    """How a value was measured: the number of observations, the window they came from, the method."""

    sample_size: int | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    method: str | None = None


@dataclass(frozen=True)
class Evidence:
    """One check's judgement of one subject.

    Example:
        >>> e = Evidence(check_id="data.version", subject_kind="dataset", subject_id="ab12", status="pass")
        >>> e.is_automatic, e.is_stale()
        (False, False)
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
    comparison: Comparison | None = None
    limit_key: str | None = None
    warn_at: float | None = None
    measured: Measurement = field(default_factory=Measurement)
    expires_at: dt.datetime | None = None

    @property
    def is_automatic(self) -> bool:
        """Whether the check ran without a person starting it (CI, continuous training, the server)."""
        return self.origin in AUTOMATIC_ORIGINS

    @property
    def limit(self) -> Limit | None:
        """The limit the value was judged against, when the record has one."""
        if self.threshold is None or self.comparison is None:
            return None
        return Limit(self.threshold, self.comparison, key=self.limit_key, warn_at=self.warn_at)

    def is_stale(self, now: dt.datetime | None = None) -> bool:
        """Whether the record has outlived its validity (``expires_at``) and proves nothing any more."""
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    @classmethod
    def _from_row(cls, row: EvidenceRow) -> Evidence:
        return cls(
            check_id=row.check_id,
            subject_kind=row.subject_kind,  # type: ignore[arg-type]
            subject_id=row.subject_id,
            status=row.status,  # type: ignore[arg-type]
            value=row.value,
            threshold=row.threshold,
            details=dict(row.details or {}),
            origin=row.origin,  # type: ignore[arg-type]
            recorded_at=row.recorded_at,
            id=row.id,
            comparison=row.comparison,  # type: ignore[arg-type]
            limit_key=row.limit_key,
            warn_at=row.warn_at,
            measured=Measurement(row.sample_size, row.window_start, row.window_end, row.method),
            expires_at=row.expires_at,
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
        value: float | None = None,
        limit: Limit | None = None,
        measured: Measurement | None = None,
        warn: str | None = None,
        details: dict[str, Any] | None = None,
        origin: Origin | None = None,
        expires_at: dt.datetime | None = None,
        session: Session | None = None,
    ) -> Evidence:
        """Judge ``value`` against ``limit`` and append the judgement (in ``session``, if given).

        ``warn`` (a reason) turns a pass into a warning. There is no way to hand in a verdict: the status
        is always computed from what was measured.

        Example:
            >>> import tempfile
            >>> from taxiway.store.database import open_database
            >>> log = EvidenceLog(open_database(f"sqlite:///{tempfile.mkdtemp()}/evidence.db"))
            >>> log.record("monitor.latency", subject_kind="deployment", subject_id="v1",
            ...            value=99.6, limit=Limit(50, "<=", key="serving.p99_latency_ms")).status
            'fail'
        """
        if value is None or limit is None:
            raise ValueError(
                f"{check_id}: a record needs the measured value and the limit it is judged against"
            )
        status = limit.judge(value, warn=warn)
        return self._append(
            check_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            status=status,
            value=value,
            limit=limit,
            measured=measured,
            warn=warn,
            details=details,
            origin=origin,
            expires_at=expires_at,
            session=session,
        )

    def _append(
        self,
        check_id: str,
        *,
        subject_kind: SubjectKind,
        subject_id: str,
        status: Status,
        value: float | None,
        limit: Limit | None,
        measured: Measurement | None = None,
        warn: str | None = None,
        details: dict[str, Any] | None = None,
        origin: Origin | None = None,
        expires_at: dt.datetime | None = None,
        session: Session | None = None,
    ) -> Evidence:
        """Write one row; ``status`` is computed by ``record`` (or is an acceptance), never a writer's."""
        started_origin, facts = current_origin()
        merged = {**facts, **(details or {})}
        if warn:
            merged["warning"] = warn
        measured = measured or Measurement()
        row = EvidenceRow(
            check_id=check_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            status=status,
            value=value,
            threshold=limit.threshold if limit else None,
            comparison=limit.comparison if limit else None,
            limit_key=limit.key if limit else None,
            warn_at=limit.warn_at if limit else None,
            sample_size=measured.sample_size,
            window_start=measured.window_start,
            window_end=measured.window_end,
            method=measured.method,
            details=merged,
            origin=origin or started_origin,
            recorded_at=utcnow(),
            expires_at=expires_at,
        )
        if session is not None:
            session.add(row)
            session.flush()
            return Evidence._from_row(row)
        with Session(self._engine, expire_on_commit=False) as own, own.begin():
            own.add(row)
        return Evidence._from_row(row)

    def accept(
        self, check_id: str, *, subject_kind: SubjectKind, subject_id: str, reason: str, by: str
    ) -> Evidence:
        """Record that a person accepts a warned or failed check about this subject, and why.

        An acceptance is manual by nature (worth half a point in the ML Test Score) and holds only for this
        subject.

        Raises:
            ValueError: the reason is empty.
        """
        if not reason.strip():
            raise ValueError("an acceptance needs a reason")
        previous = self.latest_about(check_id, subject_kind, subject_id)
        details = {"reason": reason.strip(), "by": by, "accepts": previous.id if previous else None}
        return self._append(
            check_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            status="accepted",
            value=previous.value if previous else None,
            limit=previous.limit if previous else None,
            details=details,
            origin="manual",
        )

    def latest_about(self, check_id: str, subject_kind: SubjectKind, subject_id: str) -> Evidence | None:
        """The newest record of one check about one subject, or None."""
        query = (
            select(EvidenceRow)
            .where(
                EvidenceRow.check_id == check_id,
                EvidenceRow.subject_kind == subject_kind,
                EvidenceRow.subject_id == subject_id,
            )
            .order_by(EvidenceRow.id.desc())
            .limit(1)
        )
        with Session(self._engine) as session:
            row = session.scalars(query).first()
            return Evidence._from_row(row) if row is not None else None

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
