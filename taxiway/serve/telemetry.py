"""Telemetry of one serving process: Prometheus metrics, stats snapshots (its heartbeat), prediction log.

The request path only appends a tuple to a deque: no lock (an uncontended one costs ~0.5 µs on our
machines, more than the rest of a call), no I/O. One background thread folds the appended events into the
Prometheus metrics every second, writes the prediction log every ``flush_seconds``, a `ServingSnapshotRow`
every ``snapshot_seconds``, and calls ``minute_hook`` every ``hook_seconds``: the live limits of
:mod:`taxiway.monitor.live_limits`, which `taxiway serve` wires in (serving cannot import the monitor).
Issue 7 asks that all of it cost under 10% of throughput at ~1,500 requests/s on
2 cores: `benchmarks/telemetry.py` measures it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import numpy as np
import psutil
from prometheus_client import CONTENT_TYPE_LATEST

from taxiway.serve.metrics import ServiceMetrics
from taxiway.serve.prediction_log import PredictionLog, PredictionRecord, log_root
from taxiway.serve.snapshot_window import (
    ROLES_OF_SLOTS,
    AnswerEvent,
    RequestEvent,
    SnapshotWindow,
)
from taxiway.store import Store
from taxiway.store.tables import ServingSnapshotRow

__all__ = ["PredictionRecord", "Telemetry"]

_log = logging.getLogger(__name__)

PUBLISH_SECONDS = 1.0  # Prometheus lags the request path by at most this (a scrape interval is ~15 s)
MAX_PENDING = 100_000  # events waiting for the background thread; past it the caller folds them in itself
MAX_UNSAVED_SNAPSHOTS = 360  # an hour of 10 s windows kept while the store is unreachable, then the oldest go


class _InFlight:
    """``with telemetry.in_flight():`` counts a request as in progress; one reusable object per telemetry.

    The count is the length of a list that each request appends to and pops from: both are single, atomic
    operations under the GIL, where ``count += 1`` from two threads can lose an update and never recover.
    """

    __slots__ = ("_marks",)

    def __init__(self) -> None:
        self._marks: list[None] = []

    def __len__(self) -> int:
        return len(self._marks)

    def __enter__(self) -> None:
        self._marks.append(None)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._marks.pop()


def _take(pending: deque[Any]) -> list[Any]:
    """What is in ``pending`` now, removed from the left: appends racing with this stay for the next take."""
    pop = pending.popleft
    return [pop() for _ in range(len(pending))]


class Telemetry:
    """Metrics, snapshots and prediction log of one serving process (a replica).

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "artifacts")))
        >>> telemetry = Telemetry(store, "host:8000:1")
        >>> with telemetry.in_flight():
        ...     telemetry.request_done("/predict", 200, 0.004, "v3", "blue", rows=1)
        >>> b'taxiway_requests_total{route="/predict"' in telemetry.metrics_payload()[0]
        True
        >>> telemetry.stop()
    """

    def __init__(
        self,
        store: Store,
        replica_id: str,
        *,
        enabled: bool = True,
        log_predictions: bool = True,
        flush_seconds: float = 1.0,
        snapshot_seconds: float = 10.0,
        log_uri: str | None = None,
        minute_hook: Callable[[], None] | None = None,
        hook_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.replica_id = replica_id
        self.enabled = enabled
        self.log_predictions = enabled and log_predictions
        self.flush_seconds = flush_seconds
        self.snapshot_seconds = snapshot_seconds
        self.minute_hook = minute_hook if enabled else None
        self.hook_seconds = hook_seconds
        self.generation = 0  # the deployment generation the server applied; set by the server
        # Requests slower than this count as slow per version (CD compares canary and live on it); the
        # service sets it from the charter's latency budget.
        self.slow_after_s = float("inf")
        self.metrics = ServiceMetrics() if enabled else None
        self.prediction_log = (
            PredictionLog(log_uri or log_root(store), replica_id) if enabled and log_predictions else None
        )
        # Events waiting for the background thread; deque.append is atomic, so no lock on the request path.
        self._requests: deque[RequestEvent] = deque()
        self._answers: deque[AnswerEvent] = deque()
        self._shadow: deque[tuple[str, int, int, int]] = deque()
        self._shadow_dropped: deque[int] = deque()
        self._in_flight = _InFlight()
        self._drain_lock = threading.Lock()  # one fold into the metrics and window at a time
        self._snapshot_lock = threading.Lock()
        self._window = SnapshotWindow()
        self._rng = random.Random()
        self._process = psutil.Process()
        self._cpu_published = time.process_time()
        self._log_dropped_published = 0
        self._unsaved: deque[dict[str, Any]] = deque(maxlen=MAX_UNSAVED_SNAPSHOTS)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- the request path: appends only -------------------------------------------------------------

    def request_done(
        self, route: str, status: int, seconds: float, version: str | None, slot: str | None, rows: int = 0
    ) -> None:
        """Count one answered request: ``rows`` in its body; ``version``, ``slot``: the model that answers."""
        if not self.enabled:
            return
        self._requests.append((route, status, seconds, version, slot, rows))
        if len(self._requests) > MAX_PENDING:
            self._drain()  # no background thread (or it is stuck): keep memory bounded anyway

    def in_flight(self) -> _InFlight:
        """A context manager that counts a request as in progress while it runs."""
        return self._in_flight

    def rows_answered(
        self,
        version: str,
        role: str,
        slot: str,
        confidence: np.ndarray | None,
        fallback_reasons: Sequence[str | None],
    ) -> None:
        """Count rows a model version answered: one fallback reason per row (None: the model answered).

        ``confidence`` (one per row, or None) is read later by the background thread: do not modify it.
        """
        if not self.enabled:
            return
        self._answers.append((version, role, slot, confidence, fallback_reasons))
        if len(self._answers) > MAX_PENDING:
            self._drain()

    def shadow_compared(self, shadow_version: str, compared: int, agreed: int, failed: int = 0) -> None:
        """Count rows the shadow version predicted beside the live one, how many answers agreed, and the
        rows it failed (its contract refused them or its model raised)."""
        if not self.enabled:
            return
        self._shadow.append((shadow_version, compared, agreed, failed))
        if len(self._shadow) > MAX_PENDING:
            self._drain()

    def shadow_dropped(self, count: int = 1) -> None:
        """Count shadow predictions skipped (the shadow queue was full)."""
        if not self.enabled:
            return
        self._shadow_dropped.append(count)
        if len(self._shadow_dropped) > MAX_PENDING:
            self._drain()

    def model_loaded(self, version: str, slot: str, seconds: float) -> None:
        """Record how long loading ``version`` into ``slot`` took (rare: written at once)."""
        if self.metrics is not None:
            self.metrics.model_load.labels(version, slot).set(seconds)
            # Series one alerts on read 0 from the start, not "no data" (a fallback ratio needs both).
            self.metrics.predictions.labels(version, ROLES_OF_SLOTS.get(slot, "live"), slot)
            self.metrics.fallbacks.labels(version, "model_error")

    def log(self, records: Sequence[PredictionRecord]) -> None:
        """Add records to the prediction log's buffer (no I/O; written by the background thread)."""
        if self.prediction_log is not None:
            self.prediction_log.append(records)

    def metrics_payload(self) -> tuple[bytes, str]:
        """The body and content type for ``GET /metrics`` (every worker's figures in multiprocess mode)."""
        if self.metrics is None:
            return b"", CONTENT_TYPE_LATEST
        self._drain()
        return self.metrics.payload()

    # -- the background thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread that publishes metrics, flushes the log and writes snapshots."""
        if not self.enabled or self._thread is not None or self._stopped:
            return
        self._thread = threading.Thread(target=self._run, name="taxiway-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then flush the log and write a last snapshot. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._stop_event.set()
            self._thread.join(timeout=60)
        if not self.enabled:
            return
        self._flush_log()
        self.write_snapshot()
        if self.metrics is not None:
            self.metrics.mark_process_dead()

    def _run(self) -> None:
        now = time.monotonic()
        periods = {
            "publish": min(PUBLISH_SECONDS, self.flush_seconds),
            "flush": self.flush_seconds,
            "snapshot": self.snapshot_seconds,
            **({"hook": self.hook_seconds} if self.minute_hook is not None else {}),
        }
        due = {name: now + period for name, period in periods.items()}
        while not self._stop_event.wait(max(0.0, min(due.values()) - time.monotonic())):
            now = time.monotonic()
            for name, at in due.items():
                if now < at:
                    continue
                due[name] = max(at + periods[name], now)  # no burst of catch-ups after a stall
                try:
                    if name == "publish":
                        self._drain()
                    elif name == "flush":
                        self._flush_log()
                    elif name == "hook":
                        self.run_hook()
                    else:
                        self.write_snapshot()
                except Exception:  # noqa: BLE001 - the thread must outlive any one failure, or telemetry stops
                    _log.exception("telemetry: %s failed; trying again at the next interval", name)

    def run_hook(self) -> None:
        """Call the minute hook now (the background thread calls it every ``hook_seconds``)."""
        if self.minute_hook is not None:
            self.minute_hook()

    def _flush_log(self) -> None:
        if self.prediction_log is None:
            return
        try:
            self.prediction_log.flush()
        except Exception as error:  # noqa: BLE001 - the records went back to the buffer; next flush retries
            _log.warning("prediction log not written to %s: %s", self.prediction_log.uri, error)

    def _drain(self) -> None:
        """Fold the pending events into the Prometheus metrics and the snapshot window."""
        with self._drain_lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        metrics, window = self.metrics, self._window
        if metrics is None:
            return
        if self._requests:
            window.fold_requests(_take(self._requests), metrics, self._rng, slow_after_s=self.slow_after_s)
        if self._answers:
            window.fold_answers(_take(self._answers), metrics)
        if self._shadow:
            window.fold_shadow(_take(self._shadow), metrics)
        dropped = sum(_take(self._shadow_dropped))
        if dropped:
            metrics.shadow_dropped.inc(dropped)
        metrics.in_flight.set(len(self._in_flight))
        cpu = time.process_time()
        metrics.cpu_seconds.inc(max(cpu - self._cpu_published, 0.0))
        self._cpu_published = cpu
        metrics.resident_memory.set(self._process.memory_info().rss)
        if self.prediction_log is not None and self.prediction_log.dropped > self._log_dropped_published:
            metrics.log_dropped.inc(self.prediction_log.dropped - self._log_dropped_published)
            self._log_dropped_published = self.prediction_log.dropped

    # -- snapshots -----------------------------------------------------------------------------------

    def write_snapshot(self) -> bool:
        """Write this process's figures since the last snapshot (and any a store error held back).

        Returns whether the store took them; on an error they are kept and written with the next one.
        """
        if not self.enabled:
            return False
        with self._snapshot_lock:
            with self._drain_lock:
                self._drain_locked()
                window, self._window = self._window, SnapshotWindow()
            self._unsaved.append(
                window.snapshot(self.replica_id, self.generation, self._process.memory_info().rss)
            )
            try:
                with self.store.write_session() as session, session.begin():
                    for values in self._unsaved:
                        session.add(ServingSnapshotRow(**values))
            except Exception as error:  # noqa: BLE001 - a store outage must not stop serving; rows wait
                _log.warning(
                    "serving snapshot of %s not written (%s); %d waiting for the next window",
                    self.replica_id,
                    error,
                    len(self._unsaved),
                )
                return False
            self._unsaved.clear()
            return True
