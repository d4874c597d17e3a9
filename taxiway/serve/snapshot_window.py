"""One snapshot window of a serving process: what its requests and answers add up to until the next one.

:class:`taxiway.serve.telemetry.Telemetry` appends events on the request path; its background thread folds
them in here (and into the Prometheus metrics) every second, and every ~10 s turns the window into a
``ServingSnapshotRow``: requests/s, error and fallback rates, latency percentiles, CPU, memory, and the
same sums per ``role:version`` so canary, shadow and live figures can be read side by side.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from taxiway.serve.metrics import CONFIDENCE_BUCKETS, DURATION_BUCKETS_S, ServiceMetrics
from taxiway.store.tables import utcnow

__all__ = ["LATENCY_RESERVOIR", "ROLES_OF_SLOTS", "AnswerEvent", "RequestEvent", "SnapshotWindow"]

LATENCY_RESERVOIR = 20_000  # latencies kept per snapshot window: exact percentiles up to 2,000 requests/s
ROLES_OF_SLOTS = {"shadow": "shadow", "canary": "canary"}  # every other slot (blue, green) answers as live

RequestEvent = tuple[
    str, int, float, str | None, str | None, int
]  # route, status, seconds, version, slot, rows
# version, role, slot, confidences, fallback reason per row
AnswerEvent = tuple[str, str, str, np.ndarray | None, Sequence[str | None]]


def _version_figures() -> dict[str, Any]:
    """One ``role:version`` entry of ``by_version``: sums, so readers add them up across snapshots."""
    return {
        "requests": 0,
        "errors": 0,
        "rows": 0,
        "fallbacks": 0,
        "confidence_sum": 0.0,
        "confidence_count": 0,
        "compared": 0,
        "agreed": 0,
        "failed": 0,  # shadow rows it could not answer
        "slow": 0,  # requests over the latency budget (the charter's p99): CD's latency test counts them
    }


class SnapshotWindow:
    """What happened since the last snapshot, counted from the events the request path appended.

    Example:
        >>> import random
        >>> from taxiway.serve.metrics import ServiceMetrics
        >>> window = SnapshotWindow()
        >>> answered = [("/predict", 200, 0.004, "v3", "blue", 1)]  # route, status, s, version, slot, rows
        >>> window.fold_requests(answered, ServiceMetrics(), random.Random(0))
        >>> values = window.snapshot("host:8000:1", 7, 300_000_000)
        >>> values["requests"], values["p50_ms"], values["by_version"]["live:v3"]["requests"]
        (1, 4.0, 1)
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        self.requests = self.errors = self.rejected = self.rows = self.fallbacks = 0
        self.confidence_sum, self.confidence_count = 0.0, 0
        self.latencies: list[float] = []
        self.seen = 0
        self.by_version: dict[str, dict[str, Any]] = {}

    def figures(self, key: str) -> dict[str, Any]:
        found = self.by_version.get(key)
        if found is None:
            found = self.by_version[key] = _version_figures()
        return found

    def observe(self, latencies: list[float], rng: random.Random) -> None:
        # Reservoir sampling: every latency of the window has the same chance to be kept, memory is bounded.
        room = max(LATENCY_RESERVOIR - len(self.latencies), 0)
        self.latencies += latencies[:room]
        self.seen += min(room, len(latencies))
        for seconds in latencies[room:]:
            self.seen += 1
            slot = rng.randrange(self.seen)
            if slot < LATENCY_RESERVOIR:
                self.latencies[slot] = seconds

    def fold_requests(
        self,
        requests: list[RequestEvent],
        metrics: ServiceMetrics,
        rng: random.Random,
        *,
        slow_after_s: float = float("inf"),
    ) -> None:
        """Count answered requests into the window and the Prometheus metrics; per answering version, those
        that took longer than ``slow_after_s``."""
        window = self
        counts: Counter[tuple[str, int, str | None, str | None]] = Counter()
        buckets: dict[str, list[int]] = {}
        totals: dict[str, list[float]] = {}  # route -> [seconds, rows]
        # (slot, version) -> [requests, 5xx, slow]
        by_answerer: dict[tuple[str | None, str | None], list[int]] = {}
        for route, status, seconds, version, slot, rows in requests:
            counts[(route, status, version, slot)] += 1
            if route not in buckets:
                buckets[route], totals[route] = [0] * len(DURATION_BUCKETS_S), [0.0, 0.0]
            buckets[route][bisect.bisect_left(DURATION_BUCKETS_S, seconds)] += 1
            totals[route][0] += seconds
            totals[route][1] += rows
            answerer = by_answerer.get((slot, version))
            if answerer is None:
                answerer = by_answerer[(slot, version)] = [0, 0, 0]
            answerer[0] += 1
            answerer[1] += status >= 500
            answerer[2] += seconds > slow_after_s
        window.requests += len(requests)
        window.errors += sum(n for (_, status, _, _), n in counts.items() if status >= 500)
        window.rejected += sum(n for (_, status, _, _), n in counts.items() if 400 <= status < 500)
        window.observe([r[2] for r in requests], rng)
        for (slot, version), (answered, errors, slow) in by_answerer.items():
            if version:
                figures = window.figures(f"{ROLES_OF_SLOTS.get(slot or '', 'live')}:{version}")
                figures["requests"] += answered
                figures["errors"] += errors
                figures["slow"] = figures.get("slow", 0) + slow
        metrics.add_requests(dict(counts))
        for route, counted in buckets.items():
            metrics.add_durations(route, counted, totals[route][0])
            if totals[route][1]:
                metrics.request_rows.labels(route).inc(totals[route][1])

    def fold_answers(self, answers: list[AnswerEvent], metrics: ServiceMetrics) -> None:
        """Count answered rows (fallbacks, confidence) into the window and the Prometheus metrics."""
        window = self
        rows_by: Counter[tuple[str, str, str]] = Counter()
        fallbacks_by: Counter[tuple[str, str]] = Counter()  # (version, reason)
        confidences: dict[tuple[str, str], list[np.ndarray]] = {}
        for version, role, slot, confidence, reasons in answers:
            rows = len(reasons)
            rows_by[(version, role, slot)] += rows
            fallbacks = rows - reasons.count(None)
            if fallbacks:
                fallbacks_by.update((version, r) for r in reasons if r is not None)
                window.figures(f"{role}:{version}")["fallbacks"] += fallbacks
                if role != "shadow":  # what callers got; the shadow's rows show under by_version only
                    window.fallbacks += fallbacks
            if confidence is not None and confidence.size:
                confidences.setdefault((version, role), []).append(confidence)
        for (version, role, slot), rows in rows_by.items():
            metrics.predictions.labels(version, role, slot).inc(rows)
            window.figures(f"{role}:{version}")["rows"] += rows
            window.rows += rows if role != "shadow" else 0
        for (version, reason), count in fallbacks_by.items():
            metrics.fallbacks.labels(version, reason).inc(count)
        for (version, role), arrays in confidences.items():
            values = np.concatenate(arrays, axis=None).astype(np.float64, copy=False)
            values = values[np.isfinite(values)]
            bucket = np.searchsorted(CONFIDENCE_BUCKETS, values)  # first bound >= value: Prometheus "le"
            counted = np.bincount(bucket, minlength=len(CONFIDENCE_BUCKETS))
            total = float(values.sum())
            metrics.add_confidences(version, role, counted.tolist(), total)
            figures = window.figures(f"{role}:{version}")
            figures["confidence_sum"] += total
            figures["confidence_count"] += int(values.size)
            if role != "shadow":
                window.confidence_sum += total
                window.confidence_count += int(values.size)

    def fold_shadow(self, compared: list[tuple[str, int, int, int]], metrics: ServiceMetrics) -> None:
        """Count rows each shadow version predicted beside the live one and the rows it failed,
        ``(version, compared, agreed, failed)``."""
        sums: dict[str, list[int]] = {}
        for version, rows, agreed, failed in compared:
            counts = sums.setdefault(version, [0, 0, 0])
            counts[0] += rows
            counts[1] += agreed
            counts[2] += failed
        for version, (rows, agreed, failed) in sums.items():
            metrics.shadow_compared.labels(version).inc(rows)
            metrics.shadow_agreed.labels(version).inc(agreed)
            metrics.shadow_failed.labels(version).inc(failed)
            figures = self.figures(f"shadow:{version}")
            figures["compared"] += rows
            figures["agreed"] += agreed
            figures["failed"] += failed

    def snapshot(self, replica_id: str, generation: int, rss_bytes: int) -> dict[str, Any]:
        """The window as the values of one ``ServingSnapshotRow``."""
        window = self
        seconds = max(time.monotonic() - window.started, 1e-9)
        cpu = time.process_time() - window.cpu_started
        p50 = p95 = p99 = None
        if window.latencies:
            p50, p95, p99 = (float(v) for v in np.percentile(window.latencies, [50, 95, 99]) * 1000.0)
        return {
            "replica_id": replica_id,
            "recorded_at": utcnow(),
            "window_seconds": seconds,
            "generation": generation,
            "requests": window.requests,
            "errors": window.errors,
            "rejected": window.rejected,
            "rows": window.rows,
            "fallbacks": window.fallbacks,
            "requests_per_second": window.requests / seconds,
            "error_rate": window.errors / window.requests if window.requests else 0.0,
            "fallback_rate": window.fallbacks / window.rows if window.rows else 0.0,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "cpu_percent": 100.0 * cpu / seconds,
            "rss_mb": rss_bytes / 1e6,
            "mean_confidence": (
                window.confidence_sum / window.confidence_count if window.confidence_count else None
            ),
            "by_version": window.by_version,
        }
