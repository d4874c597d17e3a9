"""Paired bootstrap resamples, drawn in blocks and scored for many metric sets at once.

Every comparison and every run's stored replicates draw their resamples here, from one seeded generator in
blocks of an index matrix, so the same seed gives the same resamples everywhere (and the same as
:mod:`taxiway.measure.bootstrap`). Each block is turned into draw counts once and scored by every metric
set (:mod:`taxiway.measure.weighted`) on a thread per core, with BLAS held to one thread meanwhile.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from taxiway.measure.weighted import Floats, MetricSet

__all__ = ["BLAS_ON_ONE_THREAD", "BLOCK_INDICES", "draw_counts", "index_blocks", "score_resamples"]

K = TypeVar("K")
# Index-matrix block: 2M int64 indices = 16 MB (40 resamples of 50,000 rows). numpy draws an even number
# of bounded integers per call without leftovers, so blocks of an even size give the same resamples as one
# big matrix, and as taxiway.measure.bootstrap's blocks. With BLAS on one thread (see _OneBlasThread),
# blocks of 20 to 80 resamples took the same CPU time; smaller ones share the work out more evenly.
BLOCK_INDICES = 2_000_000
_MAX_THREADS = 2  # blocks scored at once; each holds ~20 MB of indices and counts


def index_blocks(
    rows: int, resamples: int, seed: int, *, block_indices: int | None = None
) -> Iterator[NDArray[np.int64]]:
    """The bootstrap's resamples as blocks of an index matrix, drawn as taxiway.measure.bootstrap does.

    ``block_indices``: indices per block (default :data:`BLOCK_INDICES`, read when called).

    Example:
        >>> [block.shape for block in index_blocks(100, 5, seed=0, block_indices=400)]
        [(4, 100), (1, 100)]
    """
    rng = np.random.default_rng(seed)
    per_block = max(2, (block_indices or BLOCK_INDICES) // rows // 2 * 2)
    for start in range(0, resamples, per_block):
        yield rng.integers(0, rows, size=(min(per_block, resamples - start), rows))


def draw_counts(block: NDArray[np.int64], rows: int) -> NDArray[Any]:
    """How often each row is drawn in each resample of a block: (resamples, rows), uint8 when all fit.

    One bincount per resample keeps its counts in cache (one bincount of the whole block, offset per
    resample, took twice as long), and uint8 is what the ranking wants: a quarter of int32's traffic.

    Example:
        >>> draw_counts(np.array([[0, 0, 2], [1, 2, 2]]), 3).tolist()
        [[2, 0, 1], [0, 1, 2]]
    """
    counts = np.empty(block.shape, dtype=np.uint8)
    for counted, drawn in zip(counts, block, strict=True):
        counted[:] = np.bincount(drawn, minlength=rows)  # a count above 255 would wrap around...
    if np.any(counts.sum(axis=1, dtype=np.int64) != rows):  # ...and lose draws: count them wide instead
        return np.stack([np.bincount(drawn, minlength=rows) for drawn in block])
    return counts


def score_resamples(
    sets: Sequence[MetricSet[K]], rows: int, resamples: int, seed: int, block_indices: int | None = None
) -> list[dict[K, Floats]]:
    """Every metric of every set on every resample. Blocks are drawn in order from one generator (so the
    resamples are those of taxiway.measure.bootstrap), counted once and scored for each set on a thread per
    core: numpy releases the GIL."""
    values = [{key: np.empty(resamples) for key in metric_set.keys} for metric_set in sets]
    workers = max(1, min(os.cpu_count() or 1, _MAX_THREADS))

    def score(start: int, block: NDArray[np.int64]) -> None:
        counts = draw_counts(block, rows)
        for metric_set, into in zip(sets, values, strict=True):
            for key, result in metric_set(counts, exact=False).items():
                into[key][start : start + len(block)] = result

    with BLAS_ON_ONE_THREAD, ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[None]] = deque()
        start = 0
        for block in index_blocks(rows, resamples, seed, block_indices=block_indices):
            if len(pending) >= workers:  # at most one block per thread in memory
                pending.popleft().result()
            pending.append(pool.submit(score, start, block))
            start += len(block)
        for future in pending:
            future.result()
    return values


class _OneBlasThread:
    """BLAS on the calling thread only, while resamples are scored.

    Each scoring thread keeps a core busy already, and OpenBLAS's own threads (which spin a while waiting
    for work after each product) competed with them: limiting BLAS to one thread cut the comparison's CPU
    time by a fifth on 2 cores. The limit is process-wide, so it is counted: overlapping computations
    restore the original threads when the last one ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._limiter = _thread_pools(len(sys.modules)).limit(limits=1, user_api="blas")
            self._users += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()


@functools.lru_cache(maxsize=1)
def _thread_pools(modules_loaded: int) -> Any:
    """The process's thread pools (BLAS, OpenMP): finding them takes ~20 ms, limiting 0.1 ms, so they are
    found again only when modules were imported since (a new module may bring its own BLAS, as scipy's
    linear algebra does; a pool found before it was loaded would be left on all its threads)."""
    return ThreadpoolController()


BLAS_ON_ONE_THREAD = _OneBlasThread()
