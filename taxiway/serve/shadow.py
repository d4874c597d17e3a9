"""Shadow traffic: the shadow version answers a copy of live rows on its own thread, never in the way.

The request path only offers a copy to a bounded queue; when the queue is full the copy is dropped and
counted (``taxiway_shadow_dropped_total``), so a slow shadow can never slow live answers. The shadow thread
checks the rows *as the client sent them* against the shadow's own input contract (a shadow may need a
column the live model does not), answers the rows that keep it, compares with what live answered, and
reports rows it could not answer as failed — refused by its contract, or the model raised — so a failing
shadow shows in `taxiway status`, on the dashboard and in the metrics, not only in a log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from taxiway.serve.served_model import Answer, ServedModel

QUEUE_BATCHES = 256
_log = logging.getLogger("taxiway.serve")

__all__ = ["ShadowCopy", "ShadowOutcome", "ShadowRunner", "answer_copy"]


@dataclass(frozen=True)
class ShadowCopy:
    """Live rows as sent (records or a table) and what live said about them, for the shadow to answer."""

    model: ServedModel
    rows: list[dict[str, object]] | pd.DataFrame
    live_predictions: list[object]
    request_ids: list[str]


@dataclass
class ShadowOutcome:
    """What the shadow did with one copy: the rows it answered (positions in the copy) and how."""

    answered: list[int] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # the answered rows, coerced by the shadow's contract
    answer: Answer | None = None
    compared: int = 0  # answered rows whose prediction was compared with live's
    agreed: int = 0
    failed: int = 0  # rows it could not answer: refused by its contract, or its model raised
    first_failure: str | None = None


def answer_copy(copy: ShadowCopy) -> ShadowOutcome:
    """Answer a copy with the shadow: its contract first, then its model; failures are counted, not raised.

    Example:
        >>> from sklearn.dummy import DummyClassifier
        >>> from taxiway.data.schema import ColumnSpec, DatasetSchema
        >>> from taxiway.serve.contract import build_contract
        >>> from taxiway.serve.fallback import Fallback
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float", nullable=False),
        ...                                 "y": ColumnSpec(type="float", nullable=False)})
        >>> model = DummyClassifier().fit(pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 2.0]}), [0, 1])
        >>> shadow = ServedModel(version=2, run_id="r", model=model, task="classification",
        ...     contract=build_contract(schema, ["x", "y"], profile=None, margin=0.0),
        ...     fallback=Fallback("abstain", None, None, ""))
        >>> outcome = answer_copy(ShadowCopy(shadow, [{"x": 0.5}, {"x": 0.2, "y": 1.0}], [0, 0], ["a", "b"]))
        >>> outcome.answered, outcome.failed, outcome.first_failure
        ([1], 1, 'y: is missing (the schema says it is not nullable)')
    """
    frame = copy.rows if isinstance(copy.rows, pd.DataFrame) else pd.DataFrame.from_records(copy.rows)
    contract = copy.model.contract
    outcome = ShadowOutcome()
    problems = contract.problems(frame.reset_index(drop=True))
    for position, found in enumerate(problems):
        if found:
            outcome.failed += 1
            outcome.first_failure = outcome.first_failure or found[0].message
        else:
            outcome.answered.append(position)
    if not outcome.answered:
        return outcome
    kept = frame.iloc[outcome.answered].reset_index(drop=True)
    outcome.frame = contract.coerce(kept)
    outcome.answer = answer = copy.model.answer(outcome.frame)
    for position, prediction, reason in zip(
        outcome.answered, answer.model_predictions, answer.fallback, strict=True
    ):
        if reason == "model_error":
            outcome.failed += 1
            outcome.first_failure = outcome.first_failure or "the model raised on these rows"
        else:
            outcome.compared += 1
            outcome.agreed += prediction == copy.live_predictions[position]
    return outcome


class ShadowRunner:
    """Answers shadow copies on one daemon thread; ``on_answer`` gets (copy, outcome, seconds)."""

    def __init__(
        self,
        on_answer: Callable[[ShadowCopy, ShadowOutcome, float], None],
        on_drop: Callable[[int], None],
        *,
        capacity: int = QUEUE_BATCHES,
    ) -> None:
        self._queue: queue.Queue[ShadowCopy | None] = queue.Queue(maxsize=capacity)
        self._on_answer, self._on_drop = on_answer, on_drop
        self._warned: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="taxiway-shadow", daemon=True)
        self._thread.start()

    def offer(self, copy: ShadowCopy) -> bool:
        """Queue a copy without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(copy)
        except queue.Full:
            self._on_drop(len(copy.rows))
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
                outcome = answer_copy(copy)
            except Exception as error:  # noqa: BLE001 - counted as failed rows; live traffic never notices
                outcome = ShadowOutcome(
                    failed=len(copy.rows), first_failure=f"{type(error).__name__}: {error}"
                )
            if outcome.failed and copy.model.name not in self._warned:
                self._warned.add(copy.model.name)  # once per version: the counts say how often
                _log.warning("shadow %s fails rows: %s", copy.model.name, outcome.first_failure)
            try:
                self._on_answer(copy, outcome, time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - counting must not end the shadow thread
                _log.warning("shadow %s: counting its answer failed", copy.model.name, exc_info=True)
