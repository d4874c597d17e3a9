"""Shadow traffic: the shadow version answers a copy of live rows on its own thread, never in the way.

The request path only offers a copy to a bounded queue; when the queue is full the copy is dropped and
counted (``taxiway_shadow_dropped_total``), so a slow shadow can never slow live answers. The shadow thread
answers each copy, compares with what live answered, and logs its predictions under the role ``shadow``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from taxiway.serve.served_model import Answer, ServedModel

QUEUE_BATCHES = 256
_log = logging.getLogger("taxiway.serve")

__all__ = ["ShadowCopy", "ShadowRunner"]


@dataclass(frozen=True)
class ShadowCopy:
    """Live rows (coerced) and what live said about them, for the shadow to answer too."""

    model: ServedModel
    frame: pd.DataFrame
    live_predictions: list[object]
    request_ids: list[str]


class ShadowRunner:
    """Answers shadow copies on one daemon thread; ``on_answer`` gets (copy, answer, agreed, seconds)."""

    def __init__(
        self,
        on_answer: Callable[[ShadowCopy, Answer, int, float], None],
        on_drop: Callable[[int], None],
        *,
        capacity: int = QUEUE_BATCHES,
    ) -> None:
        self._queue: queue.Queue[ShadowCopy | None] = queue.Queue(maxsize=capacity)
        self._on_answer, self._on_drop = on_answer, on_drop
        self._thread = threading.Thread(target=self._run, name="taxiway-shadow", daemon=True)
        self._thread.start()

    def offer(self, copy: ShadowCopy) -> bool:
        """Queue a copy without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(copy)
        except queue.Full:
            self._on_drop(len(copy.frame))
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Answer what is queued, then end the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (copy := self._queue.get()) is not None:
            started = time.perf_counter()
            try:
                answer = copy.model.answer(copy.frame)
                agreed = sum(
                    a == b for a, b in zip(answer.model_predictions, copy.live_predictions, strict=True)
                )
                self._on_answer(copy, answer, agreed, time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - a failing shadow is logged; live traffic never notices
                _log.warning("shadow %s failed on %d rows", copy.model.name, len(copy.frame), exc_info=True)
