"""Blessings: the record `taxiway validate` leaves on a run, each gate with its value, threshold and outcome.

A run is *blessed* when its newest blessing passed every gate; only blessed runs enter the model registry
without ``--force``. Blessings are never changed: validating again appends a new one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from taxiway.errors import NotFoundError
from taxiway.store import Store
from taxiway.store.tables import BlessingRow, utcnow

GateStatus = Literal["pass", "fail", "skip"]

__all__ = [
    "Blessing",
    "GateResult",
    "GateStatus",
    "get_blessing",
    "jsonable",
    "latest_blessing",
    "save_blessing",
]


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome: what was measured (``value``), the limit (``threshold``) and whether it held.

    ``skip`` means the gate does not apply (the charter does not ask for it, or names nothing to check);
    a skipped gate does not stop a blessing.

    Example:
        >>> g = GateResult("latency_p99", "fail", 180.0, 100.0, "p99 latency 180 ms is above 100 ms")
        >>> g.passed, g.to_json()["threshold"]
        (False, 100.0)
    """

    gate: str
    status: GateStatus
    value: float | None
    threshold: float | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_json(self) -> dict[str, Any]:
        """The gate as stored and printed by ``--format json`` (stable keys)."""
        return {
            "gate": self.gate,
            "status": self.status,
            "passed": self.passed,
            "value": jsonable(self.value),
            "threshold": jsonable(self.threshold),
            "summary": self.summary,
            "details": jsonable(self.details),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            gate=data["gate"],
            status=data["status"],
            value=data.get("value"),
            threshold=data.get("threshold"),
            summary=data.get("summary", ""),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class Blessing:
    """The outcome of validating one run: passed only when no gate failed."""

    id: int
    run_id: str
    passed: bool
    gates: tuple[GateResult, ...]
    test_metrics: dict[str, Any]
    evaluation: dict[str, Any]
    created_at: dt.datetime

    @property
    def failed(self) -> list[str]:
        """The names of the gates that failed."""
        return [g.gate for g in self.gates if not g.passed]

    def gate(self, name: str) -> GateResult | None:
        return next((g for g in self.gates if g.gate == name), None)

    @classmethod
    def _from_row(cls, row: BlessingRow) -> Blessing:
        return cls(
            id=row.id,
            run_id=row.run_id,
            passed=bool(row.passed),
            gates=tuple(GateResult.from_json(g) for g in row.gates),
            test_metrics=dict(row.test_metrics or {}),
            evaluation=dict(row.evaluation or {}),
            created_at=row.created_at,
        )


def save_blessing(
    session: Session,
    run_id: str,
    gates: list[GateResult],
    *,
    test_metrics: dict[str, Any],
    evaluation: dict[str, Any],
) -> Blessing:
    """Append a blessing in ``session``'s transaction (with the evidence that describes it)."""
    row = BlessingRow(
        run_id=run_id,
        passed=all(g.passed for g in gates),
        gates=[g.to_json() for g in gates],
        test_metrics=jsonable(test_metrics),
        evaluation=jsonable(evaluation),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return Blessing._from_row(row)


def latest_blessing(store: Store, run_id: str) -> Blessing | None:
    """The newest blessing of a run; None when it was never validated."""
    query = select(BlessingRow).where(BlessingRow.run_id == run_id).order_by(BlessingRow.id.desc()).limit(1)
    with store.session() as session:
        row = session.scalars(query).first()
        return Blessing._from_row(row) if row is not None else None


def get_blessing(store: Store, blessing_id: int) -> Blessing:
    """One blessing by its number.

    Raises:
        NotFoundError: no blessing has that number.
    """
    with store.session() as session:
        row = session.get(BlessingRow, blessing_id)
        if row is None:
            raise NotFoundError(f"no blessing #{blessing_id}", hint="run `taxiway validate RUN` to make one")
        return Blessing._from_row(row)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: dataclasses and numpy values turned into Python ones, NaN and infinity None.

    PostgreSQL's JSON refuses NaN, and a NaN would read back as a number nobody can compare.

    Example:
        >>> jsonable({"a": np.float64("nan"), "b": (np.int64(2), 0.5), "c": float("inf")})
        {'a': None, 'b': [2, 0.5], 'c': None}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
