"""Evidence the server records about itself (origin ``server``): memory, CPU, latency, requests, downtime,
confidence, fallback, shadow agreement and canary figures, checked against the charter's constraints.

A check fails when a figure breaks a limit the charter states (``serving.max_memory_mb``,
``serving.p99_latency_ms``); otherwise it passes: the point of these records is that monitoring is in
place and what it measured.
"""

from __future__ import annotations

from typing import Any

from taxiway.charter import Charter
from taxiway.serve.model import ServedModel
from taxiway.serve.replicas import ALIVE_WITHIN_S, HEARTBEAT_S
from taxiway.serve.stats import Snapshot
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Status

MB = 2**20


def record_server_evidence(
    store: Store,
    charter: Charter,
    *,
    subject: str,
    snapshots: list[Snapshot],
    live: ServedModel,
    fallback_counts: dict[str, int],
) -> int:
    """Record one round of serving evidence from the latest snapshots; returns how many records it wrote."""
    live_rows = [s for s in snapshots if s.role == "live"]
    if not live_rows:
        return 0
    serving = charter.serving
    latest = live_rows[0]
    rss_mb = latest.rss_bytes / MB
    requests = sum(s.requests for s in live_rows)
    seconds = sum(s.interval_s for s in live_rows) / len(live_rows)
    p99 = max((s.p99_ms for s in live_rows if s.p99_ms is not None), default=None)
    confidences = [s.mean_confidence for s in live_rows if s.mean_confidence is not None]
    rows = sum(s.rows for s in live_rows)
    fallbacks = sum(fallback_counts.values())
    common = {"model_version": live.version, "interval_s": round(seconds, 3)}
    records: list[tuple[str, Status, float | None, float | None, dict[str, Any]]] = [
        (
            Check.MONITOR_MEMORY,
            _within(rss_mb, serving.max_memory_mb),
            rss_mb,
            serving.max_memory_mb,
            {"unit": "MB", "rss_bytes": latest.rss_bytes},
        ),
        (Check.MONITOR_CPU, "pass", latest.cpu_percent, None, {"unit": "percent of one core"}),
        (
            Check.MONITOR_LATENCY,
            _within(p99, serving.p99_latency_ms),
            p99,
            serving.p99_latency_ms,
            {"unit": "ms", "p50_ms": latest.p50_ms, "p95_ms": latest.p95_ms},
        ),
        (
            Check.MONITOR_REQUESTS,
            "pass",
            requests / seconds if seconds else 0.0,
            serving.min_throughput_rps,
            {"unit": "requests/s", "requests": requests, "error_rate": latest.error_rate},
        ),
        (
            Check.MONITOR_DOWNTIME,
            "pass",
            None,
            None,
            {
                "heartbeat_s": HEARTBEAT_S,
                "alive_within_s": ALIVE_WITHIN_S,
                "how": "serving_replicas.heartbeat_at; a gap longer than alive_within_s is downtime",
            },
        ),
        (
            Check.MONITOR_CONFIDENCE,
            "pass",
            sum(confidences) / len(confidences) if confidences else None,
            None,
            {"metric": "taxiway_prediction_confidence"},
        ),
        (
            Check.SERVE_FALLBACK,
            "pass",
            fallbacks / rows if rows else 0.0,
            None,
            {
                "mode": "online",
                "fallback": live.policy.kind,
                "answered_by": live.fallback.name,
                "min_confidence": live.policy.min_confidence,
                "rows": rows,
                "fallbacks": fallback_counts,
            },
        ),
    ]
    for snapshot in snapshots:
        if snapshot.role == "shadow" and snapshot.shadow_agreement is not None:
            records.append(
                (
                    Check.DEPLOY_SHADOW,
                    "pass",
                    snapshot.shadow_agreement,
                    None,
                    {
                        "shadow_version": snapshot.model_version,
                        "rows": snapshot.rows,
                        "dropped": snapshot.shadow_dropped,
                    },
                )
            )
        if snapshot.role == "canary" and snapshot.requests:
            share = snapshot.requests / (snapshot.requests + requests) if requests else 1.0
            records.append(
                (
                    Check.DEPLOY_CANARY,
                    "pass",
                    share,
                    None,
                    {
                        "canary_version": snapshot.model_version,
                        "canary": _figures(snapshot),
                        "live": _figures(latest),
                    },
                )
            )
    for check, status, value, threshold, details in records:
        store.evidence.record(
            check,
            subject_kind="deployment",
            subject_id=subject,
            status=status,
            value=value,
            threshold=threshold,
            details={**common, **details},
            origin="server",
        )
    return len(records)


def _within(value: float | None, limit: float | None) -> Status:
    return "fail" if value is not None and limit is not None and value > limit else "pass"


def _figures(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "requests": snapshot.requests,
        "error_rate": snapshot.error_rate,
        "p99_ms": snapshot.p99_ms,
        "fallback_rate": snapshot.fallback_rate,
        "mean_confidence": snapshot.mean_confidence,
    }
