"""The trained project, copied, then validated, registered, deployed and served: the model and deployment
pages' project, built once per test session and shared by the page and browser tests (~6 s).

Everything goes through taxiway's own functions: `validate_run` on the candidate (the real gates, and the
report of the failure predictor `taxiway train` fitted), `registry.register` (the two baselines with
``force`` and a reason), `deploy` / `promote` / `rollback` from `taxiway.deploy.changes`, `report_replica`
as a server's reconciler calls it, and serving snapshots written to the store's table as the server's
telemetry writes them: 10 minutes of them, every 10 s from two replicas, with a two-minute outage. The
trained project stays as it was (its tests treat it as read-only). Tests must treat this one as read-only
too.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from taxiway import registry
from taxiway.deploy.changes import deploy, promote, rollback
from taxiway.deploy.replicas import mark_stopped, report_replica
from taxiway.deploy.state import DeploymentState, deployment_history
from taxiway.project import Project
from taxiway.store import Store
from taxiway.store.tables import ServingSnapshotRow, utcnow
from taxiway.train.runs import Run
from taxiway.validate.judge import validate_run
from tests.backend import copy_project, pinned_store
from tests.ui.trained import TrainedProject

SNAPSHOT_S = 10
SERVED_MIN = 10  # minutes of snapshots, ending when the project is built
OUTAGE = (4, 6)  # minutes into them with no snapshot: downtime
REQUESTS = 50  # per replica and snapshot: 45 answered by live, 5 by the canary
REPLICAS = {  # id -> the generation it applied (the desired one is 7); web-3 stopped
    "web-1:8000:101": 7,
    "web-2:8000:202": 5,
    "web-3:8000:303": 7,
}


@dataclass(frozen=True)
class DeployedProject:
    """The copied project's folder, its runs by name, versions by run name, and what was written."""

    root: Path
    runs: dict[str, Run]
    versions: dict[str, str]  # run name -> version name
    history: list[DeploymentState]  # newest first
    served_from: dt.datetime
    served_until: dt.datetime
    outage: tuple[dt.datetime, dt.datetime]  # the last snapshot before it, the first after it


def build_deployed_project(trained: TrainedProject, root: Path) -> DeployedProject:
    """Copy ``trained`` into ``root`` and validate, register, deploy and serve there."""
    _copy_project(trained.root, root)
    project = Project.load(root)
    store = project.store
    try:
        assert validate_run(project, trained.runs["candidate"].id).blessing.passed
        versions = {"candidate": registry.register(store, trained.runs["candidate"].id)[0].name}
        for name in ("linear", "constant"):
            why = f"the {name} baseline, kept to fall back on"
            versions[name] = registry.register(store, trained.runs[name].id, force=True, reason=why)[0].name
        registry.set_alias(store, "fallback", versions["linear"], reason="the simplest model that works")
        _deploy(store, versions)
        _report_replicas(store, versions)
        served_from, served_until, outage = _write_snapshots(store, versions)
        history = deployment_history(store)
    finally:
        store.close()
    return DeployedProject(root, trained.runs, versions, history, served_from, served_until, outage)


def _copy_project(source: Path, root: Path) -> None:
    """The folder, with the SQLite file copied through SQLite's backup (consistent while others read it), or
    on PostgreSQL the project's database copied."""
    copy_project(source, root, ignore=shutil.ignore_patterns("taxiway.db*"))
    if pinned_store(root) is not None:
        return
    database = source / ".taxiway" / "taxiway.db"
    assert database.is_file(), f"the trained project's store is not at {database}"
    original, copy = sqlite3.connect(database), sqlite3.connect(root / ".taxiway" / database.name)
    try:
        original.backup(copy)
    finally:
        original.close()
        copy.close()


def _deploy(store: Store, versions: dict[str, str]) -> None:
    """Seven generations; then live is the candidate (before: linear), shadow constant, canary linear."""
    candidate, linear, constant = versions["candidate"], versions["linear"], versions["constant"]
    deploy(store, linear, "live", force=True, reason="the baseline answers while the candidate is checked")
    deploy(store, candidate, "canary", weight=0.2)
    promote(store, reason="the canary did as well as live for a day")
    rollback(store, reason="errors doubled after the switch")
    rollback(store, reason="false alarm: the load balancer restarted")
    deploy(store, constant, "shadow")
    deploy(store, linear, "canary", weight=0.1, force=True, reason="compare the baseline on real traffic")


def _report_replicas(store: Store, versions: dict[str, str]) -> None:
    """Three servers: web-1 applied generation 7, web-2 is still on 5, web-3 applied 7 and shut down."""
    live = {"version": versions["candidate"], "role": "live"}
    standby = {"version": versions["linear"], "role": "standby"}
    current = {
        "blue": live,
        "green": standby,
        "shadow": {"version": versions["constant"], "role": "shadow"},
        "canary": {"version": versions["linear"], "role": "canary", "weight": 0.1},
    }
    for replica, generation in REPLICAS.items():
        host, port, pid = replica.split(":")
        slots = current if generation == 7 else {"green": live, "blue": standby}
        report_replica(
            store, replica, host=host, port=int(port), pid=int(pid), generation=generation, slots=slots
        )
    mark_stopped(store, "web-3:8000:303")


def _write_snapshots(
    store: Store, versions: dict[str, str]
) -> tuple[dt.datetime, dt.datetime, tuple[dt.datetime, dt.datetime]]:
    """Every 10 s for 10 minutes from web-1 and web-2, none between minutes 4 and 6."""
    live, canary, shadow = (
        f"{role}:{versions[name]}"
        for role, name in (("live", "candidate"), ("canary", "linear"), ("shadow", "constant"))
    )
    until = utcnow().replace(microsecond=0)
    start = until - dt.timedelta(minutes=SERVED_MIN)
    moments = [start + dt.timedelta(seconds=s) for s in range(0, SERVED_MIN * 60 + 1, SNAPSHOT_S)]
    down = [start + dt.timedelta(minutes=m) for m in OUTAGE]
    served = [m for m in moments if not down[0] < m < down[1]]
    rows = []
    for i, moment in enumerate(served):
        for replica in ("web-1:8000:101", "web-2:8000:202"):
            errors, fallbacks = i % 3 == 0, 2 + i % 2
            rows.append(
                ServingSnapshotRow(
                    replica_id=replica,
                    recorded_at=moment,
                    window_seconds=float(SNAPSHOT_S),
                    generation=REPLICAS[replica],
                    requests=REQUESTS,
                    errors=int(errors),
                    rejected=1,
                    rows=REQUESTS,
                    fallbacks=fallbacks,
                    requests_per_second=REQUESTS / SNAPSHOT_S,
                    error_rate=int(errors) / REQUESTS,
                    fallback_rate=fallbacks / REQUESTS,
                    p50_ms=3.0 + i % 4 * 0.1,
                    p95_ms=8.0 + i % 5,
                    p99_ms=15.0 + i % 7,
                    cpu_percent=12.0 + i % 6,
                    rss_mb=180.0 + i * 0.1,
                    mean_confidence=(45 * 0.9 + 5 * 0.8) / REQUESTS,
                    by_version={
                        live: {
                            "requests": 45,
                            "errors": int(errors),
                            "rows": 45,
                            "fallbacks": fallbacks,
                            "confidence_sum": 45 * 0.9,
                            "confidence_count": 45,
                        },
                        canary: {
                            "requests": 5,
                            "rows": 5,
                            "confidence_sum": 5 * 0.8,
                            "confidence_count": 5,
                            "compared": 5,
                            "agreed": 4,
                        },
                        shadow: {
                            "rows": 50,
                            "confidence_sum": 50 * 0.6,
                            "confidence_count": 50,
                            "compared": 50,
                            "agreed": 35,
                        },
                    },
                )
            )
    with store.write_session() as session, session.begin():
        session.add_all(rows)
    before = max(m for m in served if m <= down[0])
    after = min(m for m in served if m >= down[1])
    return served[0], served[-1], (before, after)


_BUILT: dict[Path, DeployedProject] = {}


def shared_deployed_project(trained: TrainedProject, base: Path) -> DeployedProject:
    """The session's deployed project, built on first use under ``base`` (pytest's session temp folder)."""
    if base not in _BUILT:
        _BUILT[base] = build_deployed_project(trained, base / "deployed-project")
    return _BUILT[base]
