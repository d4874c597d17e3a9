"""What a deployment looks like now: desired state, replicas, recent changes, and figures per version.

The figures aggregate the stats snapshots of the last minute, so live, canary and shadow read side by
side (requests per second, error rate, p99 latency, fallback rate, mean confidence, shadow agreement).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from taxiway.serve.deployment import (
    DEFAULT_DEPLOYMENT,
    DeploymentEvent,
    DeploymentState,
    current_state,
    history,
)
from taxiway.serve.replicas import Replica, list_replicas
from taxiway.store import Store
from taxiway.store.tables import ServingStatsRow, utcnow

WINDOW_S = 60.0
_ORDER = {"live": 0, "canary": 1, "shadow": 2}


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures over the window, summed over replicas."""

    model_version: str
    role: str
    requests: int
    requests_per_s: float
    error_rate: float
    p99_ms: float | None
    fallback_rate: float | None
    mean_confidence: float | None
    shadow_agreement: float | None
    shadow_dropped: int


@dataclass(frozen=True)
class DeploymentStatus:
    """Everything `taxiway status` shows."""

    state: DeploymentState | None
    replicas: list[Replica]
    events: list[DeploymentEvent]
    figures: list[VersionFigures] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """The ``--format json`` document (stable keys, documented in docs/cli.md)."""
        state = self.state
        return {
            "deployment": state.name if state else DEFAULT_DEPLOYMENT,
            "generation": state.generation if state else 0,
            "live_version": state.live_version if state else None,
            "previous_version": state.previous_version if state else None,
            "canary_version": state.canary_version if state else None,
            "canary_weight": state.canary_weight if state else 0.0,
            "shadow_version": state.shadow_version if state else None,
            "replicas": [
                {
                    "id": r.id,
                    "applied_generation": r.applied_generation,
                    "live_version": r.live_version,
                    "live_slot": r.live_slot,
                    "standby_version": r.standby_version,
                    "canary_version": r.canary_version,
                    "shadow_version": r.shadow_version,
                    "heartbeat_at": r.heartbeat_at,
                    "error": r.error,
                }
                for r in self.replicas
            ],
            "figures": [figure.__dict__ for figure in self.figures],
            "events": [event.__dict__ for event in self.events],
        }


def deployment_status(
    store: Store, *, name: str = DEFAULT_DEPLOYMENT, window_s: float = WINDOW_S
) -> DeploymentStatus:
    """Read the deployment's state, its live replicas, its last changes and the last minute's figures."""
    since = utcnow() - dt.timedelta(seconds=window_s)
    replicas = list_replicas(store, name)
    ids = [replica.id for replica in list_replicas(store, name, alive_only=False)]
    query = select(ServingStatsRow).where(
        ServingStatsRow.recorded_at >= since, ServingStatsRow.replica_id.in_(ids)
    )
    with store.session() as session:
        rows = list(session.scalars(query))
    return DeploymentStatus(
        current_state(store, name), replicas, history(store, name=name, limit=10), _figures(rows)
    )


def _figures(rows: list[ServingStatsRow]) -> list[VersionFigures]:
    grouped: dict[tuple[str, str], list[ServingStatsRow]] = {}
    for row in rows:
        grouped.setdefault((row.model_version, row.role), []).append(row)
    figures = []
    for (version, role), group in sorted(
        grouped.items(), key=lambda item: (_ORDER.get(item[0][1], 3), item[0][0])
    ):
        requests = sum(r.requests for r in group)
        rows_answered = sum(r.rows for r in group)
        seconds = max(sum(r.interval_s for r in group) / max(len({r.replica_id for r in group}), 1), 1e-9)
        figures.append(
            VersionFigures(
                model_version=version,
                role=role,
                requests=requests,
                requests_per_s=requests / seconds,
                error_rate=sum(r.errors for r in group) / requests if requests else 0.0,
                p99_ms=max((r.p99_ms for r in group if r.p99_ms is not None), default=None),
                fallback_rate=_weighted(group, "fallback_rate", rows_answered),
                mean_confidence=_weighted(group, "mean_confidence", rows_answered),
                shadow_agreement=_weighted(group, "shadow_agreement", rows_answered),
                shadow_dropped=sum(r.shadow_dropped for r in group),
            )
        )
    return figures


def _weighted(group: list[ServingStatsRow], name: str, total: int) -> float | None:
    pairs = [(getattr(r, name), r.rows) for r in group if getattr(r, name) is not None and r.rows]
    if not pairs or not total:
        return None
    weight = sum(rows for _, rows in pairs)
    return float(sum(value * rows for value, rows in pairs) / weight)
