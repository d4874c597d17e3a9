"""Stats snapshots: every ~10 s each server process writes its figures per model version to the store.

Requests per second, error rate, p50/p95/p99 latency, CPU and memory, fallback rate, mean confidence
and, for a shadow version, its agreement with live: what `taxiway status`, the dashboard and the
monitoring evidence read. The request path only appends to lists; the snapshot loop does the arithmetic.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from taxiway.serve.predict import BatchResult
from taxiway.store import Store
from taxiway.store.tables import ServingStatsRow, utcnow

MAX_LATENCIES = 50_000  # per version and interval: percentiles of the first 50,000 are plenty


@dataclass
class _Tally:
    requests: int = 0
    errors: int = 0
    rows: int = 0
    fallbacks: int = 0
    confidence_sum: float = 0.0
    confidence_count: int = 0
    shadow_compared: int = 0
    shadow_agreed: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """One version's figures over one interval, as written to ``serving_stats``.

    Example:
        >>> stats = StatsCollector()
        >>> stats.record("v1", "live", 200, 0.004, None)
        >>> stats.record("v1", "live", 422, 0.001, None)
        >>> (snap,) = stats.snapshot(interval_s=10.0)
        >>> snap.requests, snap.errors, snap.requests_per_s, snap.error_rate
        (2, 1, 0.2, 0.5)
    """

    model_version: str
    role: str
    interval_s: float
    requests: int
    errors: int
    rows: int
    requests_per_s: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    fallback_rate: float | None
    mean_confidence: float | None
    shadow_agreement: float | None
    shadow_dropped: int = 0
    cpu_percent: float = 0.0
    rss_bytes: int = 0


class StatsCollector:
    """Counts and latencies per (model version, role) since the last snapshot; safe across threads."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._dropped = 0
        self._reasons: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(
        self, version: str, role: str, status: int, seconds: float, result: BatchResult | None
    ) -> None:
        """One answered (or refused) request."""
        with self._lock:
            tally = self._tallies.setdefault((version, role), _Tally())
            tally.requests += 1
            tally.errors += status >= 400
            if len(tally.latencies) < MAX_LATENCIES:
                tally.latencies.append(seconds)
            if result is not None:
                self._add_rows(tally, result)
                if role == "live":
                    self._reasons.update(reason for reason in result.reasons.tolist() if reason is not None)

    def take_fallback_reasons(self) -> dict[str, int]:
        """Live rows answered by the fallback, by reason, since the last call."""
        with self._lock:
            reasons, self._reasons = self._reasons, Counter()
        return dict(sorted(reasons.items()))

    def record_shadow(self, version: str, result: BatchResult, agreed: int) -> None:
        """One request's rows answered by the shadow version, ``agreed`` of them as live did."""
        with self._lock:
            tally = self._tallies.setdefault((version, "shadow"), _Tally())
            self._add_rows(tally, result)
            tally.shadow_compared += result.n_rows
            tally.shadow_agreed += agreed

    def shadow_dropped(self, rows: int) -> None:
        with self._lock:
            self._dropped += rows

    def snapshot(
        self,
        *,
        interval_s: float,
        cpu_percent: float = 0.0,
        rss_bytes: int = 0,
        always: tuple[tuple[str, str], ...] = (),
    ) -> list[Snapshot]:
        """The figures since the last call, one per version and role; the counts start again.

        ``always`` names (version, role) pairs that get a row even without requests: a quiet interval
        reads as zero requests per second, not as a gap.
        """
        with self._lock:
            tallies, self._tallies = self._tallies, {}
            dropped, self._dropped = self._dropped, 0
        for key in always:
            tallies.setdefault(key, _Tally())
        snapshots = []
        for (version, role), tally in sorted(tallies.items()):
            latencies = np.asarray(tally.latencies) * 1000.0
            p50, p95, p99 = (
                (float(v) for v in np.percentile(latencies, [50, 95, 99])) if len(latencies) else (None,) * 3
            )
            snapshots.append(
                Snapshot(
                    model_version=version,
                    role=role,
                    interval_s=interval_s,
                    requests=tally.requests,
                    errors=tally.errors,
                    rows=tally.rows,
                    requests_per_s=tally.requests / interval_s if interval_s > 0 else 0.0,
                    error_rate=tally.errors / tally.requests if tally.requests else 0.0,
                    p50_ms=p50,
                    p95_ms=p95,
                    p99_ms=p99,
                    fallback_rate=tally.fallbacks / tally.rows if tally.rows else None,
                    mean_confidence=tally.confidence_sum / tally.confidence_count
                    if tally.confidence_count
                    else None,
                    shadow_agreement=tally.shadow_agreed / tally.shadow_compared
                    if tally.shadow_compared
                    else None,
                    shadow_dropped=dropped if role == "shadow" else 0,
                    cpu_percent=cpu_percent,
                    rss_bytes=rss_bytes,
                )
            )
        return snapshots

    @staticmethod
    def _add_rows(tally: _Tally, result: BatchResult) -> None:
        tally.rows += result.n_rows
        tally.fallbacks += int(np.sum(result.reasons != None))
        confidence = result.confidence[np.isfinite(result.confidence)]
        tally.confidence_sum += float(confidence.sum())
        tally.confidence_count += len(confidence)


def write_snapshots(store: Store, replica: str, snapshots: list[Snapshot]) -> None:
    """Append snapshots to ``serving_stats`` in one transaction."""
    if not snapshots:
        return
    now = utcnow()
    with store.write_session() as session, session.begin():
        session.add_all(
            ServingStatsRow(replica_id=replica, recorded_at=now, **snapshot.__dict__)
            for snapshot in snapshots
        )
