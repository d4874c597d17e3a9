"""The desired deployment and the servers applying it, as `taxiway deploy` and `taxiway status` show them:
rich tables for people, JSON documents (stable keys) for scripts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rich.console import Console

from taxiway.cli.output import new_table
from taxiway.display import duration

if TYPE_CHECKING:  # the deploy package loads the registry; keep `taxiway --help` quick
    from taxiway.deploy import DeploymentState, Replica

__all__ = ["age", "fraction", "percent", "print_replicas", "replica_json", "state_json"]


def print_replicas(console: Console, replicas: list[Replica], now: dt.datetime) -> None:
    """One row per server process: its state, generation, slots, heartbeat and error."""
    table = new_table(
        [
            ("replica", "left"),
            ("state", "left"),
            ("pid", "right"),
            ("generation", "right"),
            ("slots", "left"),
            ("heartbeat", "right"),
            ("error", "left"),
        ],
        title="Replicas (server processes)",
    )
    for r in replicas:
        table.add_row(
            f"{r.host}:{r.port}",
            _liveness(r, now),
            str(r.pid),
            str(r.generation),
            _slots_text(r.slots),
            f"{duration(age(r, now))} ago",
            r.error or "",
        )
    console.print(table)


def state_json(state: DeploymentState) -> dict[str, Any]:
    """The desired state as `--format json` prints it."""
    return {
        "generation": state.generation,
        "live": state.live,
        "previous_live": state.previous_live,
        "shadow": state.shadow,
        "canary": state.canary,
        "canary_weight": state.canary_weight,
        "action": state.action,
        "forced": state.forced,
        "reason": state.reason,
        "created_at": state.created_at,
    }


def replica_json(replica: Replica, now: dt.datetime) -> dict[str, Any]:
    """One server process as `--format json` prints it."""
    return {
        "id": replica.id,
        "host": replica.host,
        "port": replica.port,
        "pid": replica.pid,
        "alive": replica.is_alive(now),
        "generation": replica.generation,
        "slots": replica.slots,
        "error": replica.error,
        "started_at": replica.started_at,
        "heartbeat_at": replica.heartbeat_at,
        "heartbeat_age_seconds": round(age(replica, now), 3),
        "stopped_at": replica.stopped_at,
    }


def _slots_text(slots: dict[str, Any]) -> str:
    """``blue: v3 live, green: v2 idle``; whatever a server put in a slot, shown as it is."""
    parts = []
    for slot, held in sorted(slots.items()):
        if isinstance(held, dict):
            version = held.get("version")
            name = f"v{version}" if isinstance(version, int) else str(version or "-")
            parts.append(f"{slot}: {name} {held.get('role') or ''}".rstrip())
        else:
            parts.append(f"{slot}: {held}")
    return ", ".join(parts) or "-"


def _liveness(replica: Replica, now: dt.datetime) -> str:
    if replica.stopped_at is not None:
        return "stopped"
    return "alive" if replica.is_alive(now) else "stale"


def age(replica: Replica, now: dt.datetime) -> float:
    """Seconds since the replica's last heartbeat."""
    return max(0.0, (now - replica.heartbeat_at).total_seconds())


def percent(value: float | None) -> str:
    """``12.5%``, or ``-`` when unknown.

    Example:
        >>> percent(0.125), percent(None)
        ('12.5%', '-')
    """
    return "-" if value is None else f"{value:.1%}"


def fraction(value: float | None) -> str:
    """Three decimals, or ``-`` when unknown.

    Example:
        >>> fraction(0.91234), fraction(None)
        ('0.912', '-')
    """
    return "-" if value is None else f"{value:.3f}"
