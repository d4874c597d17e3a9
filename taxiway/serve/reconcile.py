"""Each server process follows the desired deployment in the store, off the request path.

Every ``poll_seconds`` a background thread reads the desired state. When its generation changed, the thread
builds the next :class:`Lineup`: a new live version is loaded into the idle blue/green slot, its artifact
hash checked on read, and stored validation rows replayed through it (the skew check) — only then does one
assignment switch traffic to it. A version already warm (the standby slot, after a rollback) switches at
once. If anything fails, the old lineup keeps serving and the replica reports why, so `taxiway deploy`
can say it. The thread also reports the replica's heartbeat, generation and slots.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxiway.charter import Charter
from taxiway.deploy.replicas import mark_stopped, report_replica
from taxiway.deploy.state import DeploymentState, desired_state
from taxiway.serve.lineup import Lineup, other_slot
from taxiway.serve.served_model import ServedModel, load_served_model
from taxiway.serve.skew import check_skew
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0
SWITCH_SECONDS = 1.0  # a blue/green switch or rollback is one assignment between warm slots
_log = logging.getLogger("taxiway.serve")

__all__ = ["LoadRefused", "Reconciler", "ReplicaIdentity"]


class LoadRefused(Exception):
    """A version could not be made ready to serve; the message says why (shown by `taxiway deploy`)."""


@dataclass(frozen=True)
class ReplicaIdentity:
    """Who this process is, in the replicas table: ``host:port:pid``."""

    host: str
    port: int
    pid: int

    @property
    def id(self) -> str:
        return f"{self.host}:{self.port}:{self.pid}"

    @classmethod
    def of_this_process(cls, port: int) -> ReplicaIdentity:
        return cls(socket.gethostname(), port, os.getpid())


class Reconciler:
    """Keeps ``lineup`` equal to the desired deployment; request handlers only ever read ``lineup``."""

    def __init__(
        self,
        store: Store,
        charter: Charter,
        *,
        root: Path | None,
        replica: ReplicaIdentity,
        on_loaded: Callable[[ServedModel, str], None] | None = None,
        on_switched: Callable[[Lineup], None] | None = None,
        poll_seconds: float = POLL_SECONDS,
        threads: int = 1,
    ) -> None:
        self.store, self.charter, self.root, self.replica = store, charter, root, replica
        self.lineup = Lineup()
        self.error: str | None = None
        self._refused_generation = -1  # a failed generation is retried only when the state changes
        self._on_loaded = on_loaded
        self._on_switched = on_switched
        self._poll = poll_seconds
        self._threads = threads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_report = 0.0

    def start(self) -> None:
        """Apply the desired state once (so the first request finds a model), then follow it."""
        self.reconcile_once()
        self._thread = threading.Thread(target=self._run, name="taxiway-reconcile", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            mark_stopped(self.store, self.replica.id)
        except Exception:  # noqa: BLE001 - stopping must not fail because the store is gone
            _log.warning("could not mark replica %s stopped", self.replica.id, exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.reconcile_once()
            except Exception:  # noqa: BLE001 - the store may be briefly unreachable: keep serving
                _log.warning("reconcile failed; retrying", exc_info=True)

    def reconcile_once(self) -> None:
        """Read the desired state; build and switch to a new lineup when its generation changed."""
        state = desired_state(self.store)
        changed = state.generation not in (self.lineup.generation, self._refused_generation)
        if changed:
            try:
                self._switch_to(state)
                self.error = None
            except LoadRefused as refused:
                self._refused_generation = state.generation
                self.error = f"generation {state.generation}: {refused}"
                _log.error("%s; still serving generation %s", self.error, self.lineup.generation)
        now = time.monotonic()
        if changed or now - self._last_report >= HEARTBEAT_SECONDS:
            self._last_report = now
            report_replica(
                self.store,
                self.replica.id,
                host=self.replica.host,
                port=self.replica.port,
                pid=self.replica.pid,
                # A refused generation is reported with its error, so `taxiway deploy` stops waiting and
                # says why; the slots show what this replica still serves.
                generation=self._refused_generation if self.error else self.lineup.generation,
                slots=self.lineup.slots(),
                error=self.error,
            )

    def _switch_to(self, state: DeploymentState) -> None:
        current = self.lineup
        loaded = current.loaded()
        live, live_slot, standby = current.live, current.live_slot, current.standby
        switch: str | None = None
        if state.live is None:
            live, standby = None, current.live
        elif live is None or live.version != state.live:
            if standby is not None and standby.version == state.live:
                live, standby, live_slot = standby, live, other_slot(live_slot)  # already warm
            else:
                slot = other_slot(live_slot) if live is not None else live_slot
                live, standby, live_slot = self._ready(state.live, loaded, slot), live, slot
            switch = "rollback" if state.action == "rollback" else "blue_green"
        shadow = self._ready(state.shadow, loaded, "shadow") if state.shadow is not None else None
        canary = self._ready(state.canary, loaded, "canary") if state.canary is not None else None
        for role, candidate in (("shadow", shadow), ("canary", canary)):
            if candidate is not None and live is not None:
                _check_inputs(role, candidate, live)
        before = current
        switched_at = time.perf_counter()
        self.lineup = Lineup(
            state.generation, live, live_slot, standby, shadow, canary, state.canary_weight if canary else 0.0
        )
        if self._on_switched is not None:
            self._on_switched(self.lineup)
        self._record(before, self.lineup, switch, time.perf_counter() - switched_at)

    def _ready(self, version: int, loaded: dict[int, ServedModel], slot: str) -> ServedModel:
        """A loaded, verified, skew-checked model for ``version`` (reused when already loaded)."""
        if version in loaded:
            return loaded[version]
        try:
            served = load_served_model(
                self.store, version, self.charter, root=self.root, threads=self._threads
            )
            skew = check_skew(self.store, served)
        except Exception as error:  # any failure to load keeps the old version serving
            raise LoadRefused(f"v{version} could not be loaded: {type(error).__name__}: {error}") from error
        self._record_skew(served, skew.rows, skew.matching, skew.first_difference)
        if not skew.passed:
            why = skew.first_difference or "no rows compared"
            raise LoadRefused(
                f"v{version} answers {skew.rows - skew.matching} of {skew.rows} stored validation rows "
                f"differently than at training ({why}): training/serving skew"
            )
        if self._on_loaded is not None:
            self._on_loaded(served, slot)
        return served

    def _record(self, before: Lineup, after: Lineup, switch: str | None, seconds: float) -> None:
        """A live switch, judged by how long the switch itself took (the model was loaded before it)."""
        if switch is None or before.live is None or after.live is None:
            return
        details: dict[str, Any] = {
            "generation": after.generation,
            "slots": after.slots(),
            "from": before.live.name,
            "to": after.live.name,
            "slot": after.live_slot,
            "replica": self.replica.id,
        }
        check = Check.DEPLOY_ROLLBACK if switch == "rollback" else Check.DEPLOY_BLUE_GREEN
        with started_by("server"):
            self.store.evidence.record(
                check,
                subject_kind="replica",
                subject_id=self.replica.id,
                value=seconds,
                limit=Limit(SWITCH_SECONDS, "<="),
                measured=Measurement(sample_size=1, method="seconds from the new lineup to traffic on it"),
                details=details,
            )

    def _record_skew(self, served: ServedModel, rows: int, matching: int, first: str | None) -> None:
        with started_by("server"):
            self.store.evidence.record(
                Check.MONITOR_SKEW,
                subject_kind="model",
                subject_id=served.name,
                # No row compared is no evidence: it counts as every row differing.
                value=(rows - matching) / rows if rows else 1.0,
                limit=Limit(0.0, "<="),
                measured=Measurement(sample_size=rows, method="stored validation rows replayed as JSON"),
                details={
                    "rows": rows,
                    "matching": matching,
                    "first_difference": first,
                    "replica": self.replica.id,
                },
            )


def _check_inputs(role: str, candidate: ServedModel, live: ServedModel) -> None:
    """Refuse a shadow or canary that needs a field live's clients are not asked for: it would fail every
    row it is given (a shadow gets live's requests; a canary answers live's clients)."""
    offered = set(live.contract.features)
    needed = [name for name in candidate.contract.features if not candidate.contract.specs[name].nullable]
    missing = [name for name in needed if name not in offered]
    if missing:
        raise LoadRefused(
            f"the {role} {candidate.name} needs {', '.join(missing[:5])}, which live {live.name}'s requests "
            f"do not carry: it would fail every row"
        )
