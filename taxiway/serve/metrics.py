"""The prediction service's Prometheus metrics: definitions, and one payload for every worker process.

The request path never touches these objects: `Telemetry` aggregates in memory and its background thread
adds whole batches here (one ``inc`` per label set, one bucket update per histogram bucket), so a metric
update costs nothing per request even when every update is a write to a shared memory-mapped file.

Several workers: when ``PROMETHEUS_MULTIPROC_DIR`` names a folder before ``prometheus_client`` is imported
(the server sets it before it starts its workers), each worker writes its values to files there and
`ServiceMetrics.payload` merges the files of all workers with `prometheus_client.multiprocess`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

_log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Serving latency is milliseconds when healthy, seconds when not: fine buckets low, coarse ones high.
DURATION_BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    math.inf,
)
# Confidence is the probability of the answered class: the interesting moves happen near 1.
CONFIDENCE_BUCKETS: tuple[float, ...] = (
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    1.0,
    math.inf,
)


def multiprocess_dir() -> str | None:
    """The folder workers share their metrics through, or None in single-process mode.

    Example:
        >>> multiprocess_dir() is None or os.path.isdir(multiprocess_dir())
        True
    """
    return os.environ.get(MULTIPROC_ENV) or None


class BatchHistogram(Histogram):
    """A histogram that also takes observations already counted into its buckets."""

    def observe_counts(self, counts: Sequence[int], total: float) -> None:
        """Add ``counts[i]`` observations to bucket ``i`` (the buckets' order) and ``total`` to the sum.

        Example:
            >>> h = BatchHistogram("x_seconds", "x", buckets=(1.0, 2.0), registry=None)
            >>> h.observe_counts([1, 0, 2], 9.5)
            >>> [s.value for s in h.collect()[0].samples if s.name == "x_seconds_count"]
            [3.0]
        """
        self._sum.inc(total)
        for bucket, count in zip(self._buckets, counts, strict=False):
            if count:
                bucket.inc(count)


class ServiceMetrics:
    """Every metric the prediction service exports, in a registry of its own.

    Example:
        >>> metrics = ServiceMetrics()
        >>> metrics.add_requests({("/predict", 200, "v3", "blue"): 2})
        >>> b'taxiway_requests_total{route="/predict",slot="blue",status="200",version="v3"} 2.0' in (
        ...     metrics.payload()[0])
        True
    """

    def __init__(self) -> None:
        # A registry per instance, not the process-wide default: tests build many services in one process.
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared_dir = multiprocess_dir()
        self.is_shared = bool(getattr(prometheus_values.ValueClass, "_multiprocess", False))
        if self.shared_dir and not self.is_shared:
            _log.warning(
                "%s is set but prometheus_client was imported before it was: this process's own metrics "
                "are not shared; /metrics shows what the other workers wrote",
                MULTIPROC_ENV,
            )
        r = self.registry
        self.requests = Counter(
            "taxiway_requests",
            "Requests answered, by route, HTTP status, model version and slot.",
            ["route", "status", "version", "slot"],
            registry=r,
        )
        self.duration = BatchHistogram(
            "taxiway_request_duration_seconds",
            "Time from request received to answer sent.",
            ["route"],
            buckets=DURATION_BUCKETS_S,
            registry=r,
        )
        self.request_rows = Counter(
            "taxiway_request_rows", "Rows received in request bodies, by route.", ["route"], registry=r
        )
        self.in_flight = Gauge(
            "taxiway_requests_in_flight",
            "Requests being answered now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.predictions = Counter(
            "taxiway_predictions",
            "Rows predicted, by model version, role (live, shadow, canary) and slot.",
            ["version", "role", "slot"],
            registry=r,
        )
        self.fallbacks = Counter(
            "taxiway_fallbacks",
            "Rows a fallback answered instead of the model, by version and reason.",
            ["version", "reason"],
            registry=r,
        )
        self.confidence = BatchHistogram(
            "taxiway_prediction_confidence",
            "Probability of the answered class, by version and role.",
            ["version", "role"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.shadow_compared = Counter(
            "taxiway_shadow_compared",
            "Rows the shadow model also predicted, by shadow version.",
            ["version"],
            registry=r,
        )
        self.shadow_agreed = Counter(
            "taxiway_shadow_agreed",
            "Compared rows where the shadow answered as the live model did.",
            ["version"],
            registry=r,
        )
        self.shadow_failed = Counter(
            "taxiway_shadow_failed",
            "Rows the shadow could not answer (its input contract refused them or its model raised).",
            ["version"],
            registry=r,
        )
        self.shadow_dropped = Counter(
            "taxiway_shadow_dropped",
            "Shadow predictions skipped because the shadow queue was full.",
            registry=r,
        )
        self.model_load = Gauge(
            "taxiway_model_load_seconds",
            "Time loading a model version into a slot took (slowest worker).",
            ["version", "slot"],
            registry=r,
            multiprocess_mode="max",
        )
        self.log_dropped = Counter(
            "taxiway_prediction_log_dropped",
            "Prediction log records dropped because the buffer was full.",
            registry=r,
        )
        # The default process collector reads /proc of the scraped process only; these are ours, per worker,
        # summed: CPU as a counter (rate() is cores used), memory of the workers alive now.
        self.cpu_seconds = Counter(
            "taxiway_process_cpu_seconds", "CPU time the serving processes used (user + system).", registry=r
        )
        self.resident_memory = Gauge(
            "taxiway_process_resident_memory_bytes",
            "Resident memory of the serving processes alive now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        source: Collector = r
        if self.shared_dir:  # prometheus_client leaves these two functions unannotated
            source = MultiProcessCollector(None, path=self.shared_dir)  # type: ignore[no-untyped-call]
        self._payload_source = _WithAgreementRatio(source)

    def add_requests(self, counts: dict[tuple[str, int, str | None, str | None], int]) -> None:
        """Add request counts keyed by (route, status, version, slot)."""
        for (route, status, version, slot), count in counts.items():
            self.requests.labels(route, str(status), version or "", slot or "").inc(count)

    def add_durations(self, route: str, counts: Sequence[int], total_seconds: float) -> None:
        """Add request durations already counted into `DURATION_BUCKETS_S`."""
        self.duration.labels(route).observe_counts(counts, total_seconds)

    def add_confidences(self, version: str, role: str, counts: Sequence[int], total: float) -> None:
        """Add confidences already counted into `CONFIDENCE_BUCKETS`."""
        self.confidence.labels(version, role).observe_counts(counts, total)

    def mark_process_dead(self) -> None:
        """Drop this worker's live gauges (in-flight, memory) from the shared folder: call it last."""
        if self.shared_dir and self.is_shared:
            mark_process_dead(os.getpid(), self.shared_dir)  # type: ignore[no-untyped-call]

    def payload(self) -> tuple[bytes, str]:
        """The text exposition of every worker's metrics and its content type, for ``GET /metrics``."""
        return generate_latest(self._payload_source), CONTENT_TYPE_LATEST


class _WithAgreementRatio:
    """Passes a collector's metrics through and adds the shadow agreement ratio computed from its counters.

    A ratio gauge kept by each worker could not be merged across workers; the counters can, so the ratio
    is derived from them after the merge.
    """

    def __init__(self, source: Collector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        compared: dict[str, float] = {}
        agreed: dict[str, float] = {}
        for family in self._source.collect():
            yield family
            for sample in family.samples:
                if sample.name == "taxiway_shadow_compared_total":
                    compared[sample.labels.get("version", "")] = sample.value
                elif sample.name == "taxiway_shadow_agreed_total":
                    agreed[sample.labels.get("version", "")] = sample.value
        ratio = GaugeMetricFamily(
            "taxiway_shadow_agreement_ratio",
            "Share of compared rows where the shadow answered as the live model did.",
            labels=["version"],
        )
        for version, count in sorted(compared.items()):
            if count > 0:
                ratio.add_metric([version], agreed.get(version, 0.0) / count)
        yield ratio
