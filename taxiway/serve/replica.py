"""One server process in the fleet: reconcile to the desired deployment, heartbeat, snapshot, record evidence.

Reconciling loads every version the new state needs into its slot first (artifact hash checked, the
training/serving skew check passed) and only then switches, all at once: a failed load changes nothing,
keeps the old versions serving and reports why. A rollback to the version in the warm standby slot is
only a pointer switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from concurrent.futures import Executor

import psutil

from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.serve.deployment import DeploymentState, current_state
from taxiway.serve.model import ServedModel, load_served_model
from taxiway.serve.monitoring import record_server_evidence
from taxiway.serve.replicas import HEARTBEAT_S, replica_id, report
from taxiway.serve.service import Service
from taxiway.serve.skew import check_skew
from taxiway.serve.slots import Slot, SlotName, make_slot
from taxiway.serve.stats import write_snapshots
from taxiway.store.checks import Check

EVIDENCE_INTERVAL_S = 300.0  # one round of server evidence per process every 5 minutes (and at the start)


def load_checked(project: Project, ref: str | None) -> ServedModel:
    """Load a version and require the serving path to reproduce training's answers (else TaxiwayError)."""
    model = load_served_model(project, ref)
    skew = check_skew(project.store, model)
    if skew is not None:
        project.store.evidence.record(
            Check.MONITOR_SKEW,
            subject_kind="model",
            subject_id=model.version,
            status="pass" if skew.passed else "fail",
            value=skew.max_difference,
            details={"rows": skew.rows, "disagreements": skew.disagreements, "run_id": model.ref.run_id},
            origin="server",
        )
        if not skew.passed:
            raise TaxiwayError(
                f"{model.version} was not switched to: {skew.sentence()}",
                hint="the model or its features compute differently when served; retrain",
            )
    return model


class ReplicaAgent:
    """Runs the background loops of one server process; ``deployment`` None means pinned (``--model``)."""

    def __init__(
        self, project: Project, service: Service, executor: Executor, *, deployment: str | None, subject: str
    ) -> None:
        self.project, self.service, self.executor = project, service, executor
        self.deployment = deployment
        self.subject = subject  # the evidence subject: the deployment's name, or "pinned:<version>"
        self.ident = replica_id()
        self.applied = 0
        self.failed_generation: int | None = None
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        self._last_snapshot = time.monotonic()

    async def start(self, state: DeploymentState | None) -> None:
        """Apply the state the process started with (before the first request), then run the loops."""
        if state is not None:
            await self.apply(state)
        await asyncio.to_thread(self._heartbeat)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="taxiway-replica")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.service.settings.telemetry:
            await asyncio.to_thread(self._snapshot, final=True)
        await asyncio.to_thread(
            report, self.project.store, self.ident, self.deployment or "", status="stopped"
        )

    async def _run(self) -> None:
        settings = self.service.settings
        now = time.monotonic()
        next_beat, next_snapshot, next_evidence = now + HEARTBEAT_S, now + settings.snapshot_interval_s, now
        while True:
            await asyncio.sleep(settings.reconcile_interval_s)
            try:
                if self.deployment is not None:
                    state = await asyncio.to_thread(current_state, self.project.store, self.deployment)
                    if state is not None and state.generation not in (self.applied, self.failed_generation):
                        await self.apply(state)
                now = time.monotonic()
                if now >= next_beat:  # heartbeats always: `taxiway deploy` waits for the replicas it sees
                    await asyncio.to_thread(self._heartbeat)
                    next_beat = now + HEARTBEAT_S
                if settings.telemetry and now >= next_snapshot:
                    with_evidence = now >= next_evidence
                    await asyncio.to_thread(self._snapshot, evidence=with_evidence)
                    next_snapshot = now + settings.snapshot_interval_s
                    next_evidence = now + EVIDENCE_INTERVAL_S if with_evidence else next_evidence
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a store hiccup must not stop serving; retried
                print(f"taxiway serve: background loop: {type(error).__name__}: {error}", file=sys.stderr)

    async def apply(self, state: DeploymentState) -> None:
        """Bring this process to ``state``: load what is missing, then switch everything at once."""
        slots = self.service.slots
        try:
            live = await self._slot_for(state.live_version, slots.idle_color(), reuse=slots.live)
            canary = await self._slot_for(state.canary_version, "canary", reuse=slots.canary)
            shadow = await self._slot_for(state.shadow_version, "shadow", reuse=slots.shadow)
        except TaxiwayError as error:
            self.failed_generation, self.error = state.generation, error.message
            print(f"taxiway serve: generation {state.generation} refused: {error.message}", file=sys.stderr)
            await asyncio.to_thread(self._heartbeat)
            return
        retired = [s for s in (slots.standby, slots.canary, slots.shadow) if s is not None]
        if live is not None and live is not slots.live:
            slots.switch(live)
        slots.set_canary(canary, state.canary_weight)
        slots.shadow = shadow
        in_use = {id(s.batcher) for s in slots.loaded()}
        for slot in retired:
            if id(slot.batcher) not in in_use:
                asyncio.get_running_loop().create_task(slot.batcher.close())  # answers what it queued first
        self.applied, self.failed_generation, self.error = state.generation, None, None
        self.service.metrics.generation.set(state.generation)
        await asyncio.to_thread(self._heartbeat)

    async def _slot_for(self, version: str | None, name: SlotName, *, reuse: Slot | None) -> Slot | None:
        """A slot serving ``version``: an already loaded one when possible, else a freshly loaded one."""
        if version is None:
            return None
        slots = self.service.slots
        if reuse is not None and reuse.version == version:
            return reuse
        for loaded in slots.loaded():
            if loaded.version == version:
                return Slot(name, loaded.model, loaded.batcher)
        model = await asyncio.to_thread(load_checked, self.project, version)
        return make_slot(name, model, self.executor, self.service.settings, self.service.metrics)

    def _heartbeat(self) -> None:
        slots = self.service.slots
        report(
            self.project.store,
            self.ident,
            self.deployment or "",
            applied_generation=self.applied,
            live_version=slots.live.version,
            live_slot=slots.live.name,
            standby_version=slots.standby.version if slots.standby else None,
            canary_version=slots.canary.version if slots.canary else None,
            shadow_version=slots.shadow.version if slots.shadow else None,
            status="serving",
            error=self.error,
            error_generation=self.failed_generation,
        )

    def _snapshot(self, *, evidence: bool = False, final: bool = False) -> None:
        service = self.service
        now = time.monotonic()
        interval, self._last_snapshot = now - self._last_snapshot, now
        live = service.slots.live
        snapshots = service.stats.snapshot(
            interval_s=interval,
            cpu_percent=self._process.cpu_percent(None),
            rss_bytes=self._process.memory_info().rss,
            always=() if final else ((live.version, "live"),),
        )
        write_snapshots(self.project.store, self.ident, snapshots)
        if evidence:
            record_server_evidence(
                self.project.store,
                self.project.charter,
                subject=self.subject,
                snapshots=snapshots,
                live=live.model,
                fallback_counts=service.stats.take_fallback_reasons(),
            )
