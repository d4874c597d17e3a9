"""Serving figures per role and version (live v3, shadow v4, canary v4), summed over replicas and time.

Each server process writes a snapshot every few seconds whose ``by_version`` holds, per ``"role:vN"``,
counts and sums (requests, rows, fallbacks, the sum and count of confidences, rows compared with live and
agreeing). Sums add up across snapshots and replicas, so rates are computed only after adding: averaging
each snapshot's rate would weigh a quiet replica like a busy one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import select

from taxiway.store import Store
from taxiway.store.tables import ServingSnapshotRow

_KEY = re.compile(r"(live|shadow|canary):v(\d+)")
_ROLE_ORDER = {"live": 0, "canary": 1, "shadow": 2}  # live first, then what is compared with it

__all__ = ["RoleFigures", "role_figures"]


@dataclass(frozen=True)
class RoleFigures:
    """What one version did in one role over a window: sums, and the rates computed from them.

    Example:
        >>> f = RoleFigures("shadow", 4, requests=10, rows=200, fallbacks=2, confidence_sum=150.0,
        ...                 confidence_count=200, compared=200, agreed=190)
        >>> f.key, f.fallback_rate, f.mean_confidence, f.agreement
        ('shadow:v4', 0.01, 0.75, 0.95)
        >>> RoleFigures("live", 3).mean_confidence is None
        True
    """

    role: str  # live | shadow | canary
    version: int
    requests: int = 0
    errors: int = 0  # requests answered with a server error
    rows: int = 0  # rows predicted
    fallbacks: int = 0  # rows the fallback answered
    confidence_sum: float = 0.0
    confidence_count: int = 0
    compared: int = 0  # rows whose answer was compared with live's (shadow, canary)
    agreed: int = 0  # of those, rows where it agreed with live
    failed: int = 0  # shadow rows it could not answer (contract refused them, or its model raised)
    slow: int = 0  # requests slower than the latency budget the server was given (the charter's p99)

    @property
    def key(self) -> str:
        return f"{self.role}:v{self.version}"

    @property
    def error_rate(self) -> float | None:
        return _ratio(self.errors, self.requests)

    @property
    def slow_rate(self) -> float | None:
        """The share of requests slower than the latency budget."""
        return _ratio(self.slow, self.requests)

    @property
    def failure_rate(self) -> float | None:
        """The share of a shadow's rows it could not answer (None for live and canary: see error_rate)."""
        return _ratio(self.failed, self.failed + self.compared)

    @property
    def fallback_rate(self) -> float | None:
        return _ratio(self.fallbacks, self.rows)

    @property
    def mean_confidence(self) -> float | None:
        return _ratio(self.confidence_sum, self.confidence_count)

    @property
    def agreement(self) -> float | None:
        """The share of compared rows where this version answered as live did."""
        return _ratio(self.agreed, self.compared)

    def to_json(self) -> dict[str, Any]:
        """The sums and rates, with stable keys (rates are null when nothing was counted)."""
        return {
            "key": self.key,
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "error_rate": self.error_rate,
            "fallback_rate": self.fallback_rate,
            "mean_confidence": self.mean_confidence,
            "agreement": self.agreement,
            "failure_rate": self.failure_rate,
            "slow_rate": self.slow_rate,
        }

    def _plus(self, sums: dict[str, Any]) -> RoleFigures:
        added = {
            f.name: getattr(self, f.name) + _number(sums.get(f.name), f.name == "confidence_sum")
            for f in fields(self)
            if f.name not in ("role", "version")
        }
        return replace(self, **added)


def role_figures(store: Store, since: dt.datetime) -> list[RoleFigures]:
    """Figures per role and version from the snapshots recorded at or after ``since``: live first, then
    canary, then shadow; newest version first within a role.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.store.tables import utcnow
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with store.write_session() as session, session.begin():
        ...     for replica in ("a", "b"):
        ...         session.add(ServingSnapshotRow(replica_id=replica, window_seconds=10.0, by_version={
        ...             "live:v3": {"requests": 5, "rows": 50, "fallbacks": 1},
        ...             "shadow:v4": {"rows": 50, "compared": 50, "agreed": 45}}))
        >>> since = utcnow() - dt.timedelta(minutes=15)
        >>> [(f.key, f.rows, f.fallback_rate, f.agreement) for f in role_figures(store, since)]
        [('live:v3', 100, 0.02, None), ('shadow:v4', 100, 0.0, 0.9)]
    """
    query = select(ServingSnapshotRow.by_version).where(ServingSnapshotRow.recorded_at >= since)
    found: dict[tuple[str, int], RoleFigures] = {}
    with store.session() as session:
        for by_version in session.scalars(query):
            for key, sums in (by_version or {}).items():
                matched = _KEY.fullmatch(key)
                if matched is None or not isinstance(sums, dict):
                    continue  # a key this taxiway does not know (a newer server's); its figures are not ours
                role, version = matched.group(1), int(matched.group(2))
                figures = found.get((role, version), RoleFigures(role, version))
                found[(role, version)] = figures._plus(sums)
    return sorted(found.values(), key=lambda f: (_ROLE_ORDER[f.role], -f.version))


def _number(value: Any, fractional: bool) -> Any:
    # A server writes these; a missing or non-numeric value counts as nothing rather than failing the page.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0 if fractional else 0
    return float(value) if fractional else int(value)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None
