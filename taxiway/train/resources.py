"""Resource figures of a model: fit time, peak memory while fitting, size on disk, predict latency."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psutil

MEMORY_SAMPLE_INTERVAL_S = 0.01  # fine enough to catch the peak of a fit that takes a fraction of a second
LATENCY_SINGLE_ROWS = 200  # single-row predictions timed for p50/p99
LATENCY_BATCH_ROWS = 1000
LATENCY_BATCH_REPEATS = 5


@dataclass
class PeakMemory:
    """The highest resident memory above the starting point, sampled while a block runs."""

    start_bytes: int = 0
    peak_bytes: int = 0
    _samples: list[int] = field(default_factory=list)

    @property
    def peak_increase_mb(self) -> float:
        return max(0, self.peak_bytes - self.start_bytes) / 1e6


@contextmanager
def measure_peak_memory() -> Iterator[PeakMemory]:
    """Sample this process's RSS in a thread while the block runs.

    Sampling, not tracemalloc: tracemalloc slows numerical code many times over and misses memory
    that native libraries allocate outside Python.
    """
    process = psutil.Process()
    result = PeakMemory(start_bytes=process.memory_info().rss)
    result.peak_bytes = result.start_bytes
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(MEMORY_SAMPLE_INTERVAL_S):
            result.peak_bytes = max(result.peak_bytes, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join()
        result.peak_bytes = max(result.peak_bytes, process.memory_info().rss)


def predict_latency(predict: Callable[[pd.DataFrame], Any], rows: pd.DataFrame) -> dict[str, float]:
    """Latency of single-row and 1,000-row predictions, in milliseconds (p50/p99 and median)."""
    single = rows.iloc[: min(LATENCY_SINGLE_ROWS, len(rows))]
    timings = []
    for index in range(len(single)):
        row = single.iloc[index : index + 1]
        started = time.perf_counter()
        predict(row)
        timings.append(time.perf_counter() - started)
    batch = rows.iloc[: min(LATENCY_BATCH_ROWS, len(rows))]
    batch_timings = []
    for _ in range(LATENCY_BATCH_REPEATS):
        started = time.perf_counter()
        predict(batch)
        batch_timings.append(time.perf_counter() - started)
    ms = np.array(timings) * 1000
    return {
        "predict_row_p50_ms": float(np.percentile(ms, 50)),
        "predict_row_p99_ms": float(np.percentile(ms, 99)),
        "predict_batch_rows": float(len(batch)),
        "predict_batch_ms": float(np.median(batch_timings) * 1000),
    }
