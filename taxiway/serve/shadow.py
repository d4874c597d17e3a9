"""Shadow traffic: a copy of every live request for the shadow version, off the request path.

The live answer is sent first; its rows then wait in a bounded queue for the shadow slot. When the
queue is full the copy is dropped and counted (``taxiway_shadow_dropped_total``): the live path never
waits for the shadow. Shadow answers go to the prediction log beside the live ones, and agreement with
the live model's own predictions is counted per row.
"""

from __future__ import annotations

import asyncio

from taxiway.serve.inputs import Rows, check_columns
from taxiway.serve.prediction_log import PredictionLog
from taxiway.serve.problems import RequestError
from taxiway.serve.service import Answer
from taxiway.serve.slots import Slots
from taxiway.serve.stats import StatsCollector
from taxiway.serve.telemetry import Metrics


class ShadowFeeder:
    """An answer sink that replays live requests to the shadow slot, if there is one."""

    def __init__(
        self,
        slots: Slots,
        metrics: Metrics,
        stats: StatsCollector,
        log: PredictionLog | None,
        *,
        max_rows: int,
    ) -> None:
        self._slots, self._metrics, self._stats, self._log = slots, metrics, stats, log
        self._max_rows = max_rows
        self._waiting_rows = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def accept(self, rows: Rows, answer: Answer) -> None:
        """Queue a copy of a live answer's request, or drop it when the shadow is behind."""
        if self._slots.shadow is None or answer.role != "live":
            return
        if self._waiting_rows + rows.n_rows > self._max_rows:
            self._metrics.shadow_dropped.inc()
            self._stats.shadow_dropped(rows.n_rows)
            return
        self._waiting_rows += rows.n_rows
        task = asyncio.get_running_loop().create_task(self._replay(rows, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replay(self, rows: Rows, answer: Answer) -> None:
        try:
            slot = self._slots.shadow
            if slot is None:
                return
            model = slot.model
            try:
                checked = check_columns(rows, model.features, model.ignored, model.schema)
                result = await slot.batcher.predict(checked)
            except (RequestError, Exception):  # noqa: BLE001 - a broken shadow must never hurt live
                self._metrics.shadow_rows.labels("false").inc(rows.n_rows)
                return
            live = answer.result.model_predictions
            agreed = sum(1 for a, b in zip(result.model_predictions, live, strict=True) if a == b)
            self._metrics.shadow_rows.labels("true").inc(agreed)
            self._metrics.shadow_rows.labels("false").inc(result.n_rows - agreed)
            self._stats.record_shadow(slot.version, result, agreed)
            if self._log is not None:
                self._log.record(
                    rows,
                    result,
                    request_id=answer.request_id,
                    version=slot.version,
                    slot=slot.name,
                    role="shadow",
                )
        finally:
            self._waiting_rows -= rows.n_rows

    async def close(self) -> None:
        """Wait for the copies already queued."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
