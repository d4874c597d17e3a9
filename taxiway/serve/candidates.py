"""Judging a shadow or a canary only once it has seen enough traffic.

A shadow or canary was written `pass` after one row, or before any traffic. Here each candidate version
counts, in this process, the rows it was asked about, the rows it failed (its contract refused them or its
model raised) and, for a shadow, the rows where it answered as live did. Only once ``MIN_ROWS`` rows were
seen is one judgement recorded: the failure rate against ``MAX_FAILURE_RATE``, with the counts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from taxiway.deploy.health import MAX_FAILURE_RATE, MIN_ROWS
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by
from taxiway.store.tables import utcnow

__all__ = ["MAX_FAILURE_RATE", "MIN_ROWS", "CandidateCounts", "CandidateJudge"]


@dataclass
class CandidateCounts:
    """What one candidate version did in this process so far.

    Example:
        >>> counts = CandidateCounts(rows=400, failed=2, compared=398, agreed=390)
        >>> counts.failure_rate, round(counts.agreement, 3)
        (0.005, 0.98)
    """

    rows: int = 0
    failed: int = 0
    compared: int = 0
    agreed: int = 0
    first_failure: str | None = None

    @property
    def failure_rate(self) -> float:
        return self.failed / self.rows if self.rows else 1.0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


class CandidateJudge:
    """Counts candidates' rows and records one judgement per (role, version) after ``min_rows`` rows.

    Example:
        >>> import os, tempfile
        >>> from taxiway.store import Store, StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> judge = CandidateJudge(store, "h:1:2", min_rows=10)
        >>> judge.count("shadow", "v2", rows=5, failed=5, compared=0, agreed=0, first_failure="KeyError")
        >>> store.evidence.latest_about("deploy.shadow", "model", "v2") is None  # 5 rows: not yet judged
        True
        >>> judge.count("shadow", "v2", rows=5, failed=5, compared=0, agreed=0)
        >>> store.evidence.latest_about("deploy.shadow", "model", "v2").status
        'fail'
    """

    def __init__(self, store: Store, replica_id: str, *, min_rows: int = MIN_ROWS) -> None:
        self.store, self.replica_id, self.min_rows = store, replica_id, min_rows
        self._counts: dict[tuple[str, str], CandidateCounts] = {}
        self._judged: set[tuple[str, str]] = set()
        self._started = utcnow()
        self._lock = threading.Lock()

    def counts(self, role: str, version: str) -> CandidateCounts:
        with self._lock:
            return self._counts.get((role, version), CandidateCounts())

    def count(
        self,
        role: str,
        version: str,
        *,
        rows: int,
        failed: int,
        compared: int = 0,
        agreed: int = 0,
        first_failure: str | None = None,
    ) -> None:
        """Add one batch's figures; records the judgement when the version reaches ``min_rows`` rows."""
        key = (role, version)
        with self._lock:
            counts = self._counts.setdefault(key, CandidateCounts())
            counts.rows += rows
            counts.failed += failed
            counts.compared += compared
            counts.agreed += agreed
            counts.first_failure = counts.first_failure or first_failure
            due = counts.rows >= self.min_rows and key not in self._judged
            if due:
                self._judged.add(key)
                snapshot = CandidateCounts(**vars(counts))
        if due:
            self._record(role, version, snapshot)

    def _record(self, role: str, version: str, counts: CandidateCounts) -> None:
        details: dict[str, Any] = {
            "rows": counts.rows,
            "failed": counts.failed,
            "compared": counts.compared,
            "agreed": counts.agreed,
            "agreement": counts.agreement,
            "first_failure": counts.first_failure,
            "replica": self.replica_id,
        }
        with started_by("server"):
            self._write(role, version, counts, details)

    def _write(self, role: str, version: str, counts: CandidateCounts, details: dict[str, Any]) -> None:
        self.store.evidence.record(
            Check.DEPLOY_SHADOW if role == "shadow" else Check.DEPLOY_CANARY,
            subject_kind="model",
            subject_id=version,
            value=counts.failure_rate,
            limit=Limit(MAX_FAILURE_RATE, "<="),
            measured=Measurement(
                sample_size=counts.rows,
                window_start=self._started,
                window_end=utcnow(),
                method=f"share of the {role}'s rows it could not answer (contract refused or model raised)",
            ),
            details=details,
        )
