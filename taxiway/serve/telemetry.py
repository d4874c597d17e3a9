"""The server's Prometheus metrics, in a registry the app owns (tests build many apps in one process).

With several worker processes, ``taxiway serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
before the workers start; each worker then writes its values there and ``/metrics`` on any worker
answers for all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from taxiway.serve.fallback import REASONS

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for the folder
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
CONFIDENCE_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
ROUTES = ("predict", "invocations", "infer", "feedback")


class Metrics:
    """Every metric the server exports; label values that alerts watch start at 0.

    Example:
        >>> metrics = Metrics()
        >>> metrics.request_finished("predict", 200, "v1", "blue", 0.002)
        >>> b"taxiway_requests_total" in metrics.exposition()
        True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "taxiway_requests",
            "Prediction requests answered, by route, HTTP status, model version and slot.",
            ["route", "status", "model_version", "slot"],
            registry=registry,
        )
        self.latency = Histogram(
            "taxiway_request_duration_seconds",
            "Time from a request's arrival to its answer, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "taxiway_requests_in_flight",
            "Requests being answered right now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rows = Counter(
            "taxiway_predicted_rows",
            "Rows answered, by model version and slot.",
            ["model_version", "slot"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "taxiway_fallbacks",
            "Rows a fallback answered instead of the model, by reason and model version.",
            ["reason", "model_version"],
            registry=registry,
        )
        self.confidence = Histogram(
            "taxiway_prediction_confidence",
            "The model's top class probability per answered row, by model version.",
            ["model_version"],
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Histogram(
            "taxiway_batch_rows",
            "Rows per model call after micro-batching.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.shadow_dropped = Counter(
            "taxiway_shadow_dropped",
            "Copies of live requests not sent to the shadow model because its queue was full.",
            registry=registry,
        )
        self.shadow_rows = Counter(
            "taxiway_shadow_rows",
            "Rows the shadow model answered, by whether it agreed with the live model.",
            ["agreed"],
            registry=registry,
        )
        self.model_load = Gauge(
            "taxiway_model_load_seconds",
            "Time to load, verify and check a model version.",
            ["model_version"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.cpu = Gauge(
            "taxiway_process_cpu_seconds",
            "CPU time used by a serving process.",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.memory = Gauge(
            "taxiway_process_resident_memory_bytes",
            "Resident memory of a serving process.",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.generation = Gauge(
            "taxiway_deployment_generation",
            "The deployment generation a serving process has applied.",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.shadow_rows.labels("true")
        self.shadow_rows.labels("false")
        self._process = psutil.Process()

    def model_loaded(self, version: str, seconds: float) -> None:
        """Record a load, and create the version's series so they read 0 before the first request."""
        self.model_load.labels(version).set(seconds)
        for reason in REASONS:
            self.fallbacks.labels(reason, version)
        self.confidence.labels(version)

    def request_finished(self, route: str, status: int, version: str, slot: str, seconds: float) -> None:
        self.requests.labels(route, str(status), version, slot).inc()
        self.latency.labels(route).observe(seconds)

    def sample_process(self) -> None:
        """Refresh CPU and memory (called by the telemetry loop, every process for itself)."""
        times = self._process.cpu_times()
        self.cpu.set(times.user + times.system)
        self.memory.set(self._process.memory_info().rss)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes: every process's values in multiprocess mode."""
        folder = os.environ.get(MULTIPROCESS_ENV)
        if not folder:
            self.sample_process()
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(combined)


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished worker's live gauges from the multiprocess folder (no-op in one process)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
