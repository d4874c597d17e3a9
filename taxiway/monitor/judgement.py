"""A monitoring judgement: a measured value, the limit it is held to, how it was measured.

Every ``monitor.*`` writer builds these; :func:`record` turns one into evidence (the status is computed by the
evidence log from value and limit, never handed in) and the alert rules read the same objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from taxiway.store import Store
from taxiway.store.evidence import Evidence, Limit, Measurement, SubjectKind


@dataclass(frozen=True)
class Judgement:
    """One check's measured value against its limit, about one subject.

    Example:
        >>> limit = Limit(50.0, "<=", key="serving.p99_latency_ms")
        >>> j = Judgement("monitor.latency", "deployment", "v3", 87.5, limit)
        >>> j.status
        'fail'
    """

    check: str
    subject_kind: SubjectKind
    subject_id: str
    value: float
    limit: Limit
    measured: Measurement = field(default_factory=Measurement)
    details: dict[str, Any] = field(default_factory=dict)
    warn: str | None = None

    @property
    def status(self) -> str:
        """pass, warn or fail, as the evidence log will judge it."""
        return self.limit.judge(self.value, warn=self.warn)

    def record(self, store: Store, *, expires_at: dt.datetime | None) -> Evidence:
        """Append this judgement to the evidence log."""
        return store.evidence.record(
            self.check,
            subject_kind=self.subject_kind,
            subject_id=self.subject_id,
            value=self.value,
            limit=self.limit,
            measured=self.measured,
            warn=self.warn,
            details=self.details,
            expires_at=expires_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for ``--format json`` and the dashboard."""
        m = self.measured
        return {
            "check": self.check,
            "subject": f"{self.subject_kind}:{self.subject_id}",
            "status": self.status,
            "value": self.value,
            "threshold": self.limit.threshold,
            "comparison": self.limit.comparison,
            "limit_key": self.limit.key,
            "sample_size": m.sample_size,
            "window_start": m.window_start.isoformat() if m.window_start else None,
            "window_end": m.window_end.isoformat() if m.window_end else None,
            "method": m.method,
            "warning": self.warn,
            "details": self.details,
        }
