"""The micro-batcher: lone requests answered on the event loop, the rest on the batch thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from taxiway.data.schema import ColumnSpec, DatasetSchema
from taxiway.serve.batching import INLINE_SECONDS, MicroBatcher
from taxiway.serve.contract import build_contract
from taxiway.serve.fallback import Fallback
from taxiway.serve.lineup import Route
from taxiway.serve.served_model import CHUNK_SECONDS, ServedModel

# The wire format and the batcher: the store holds nothing these check (make test-postgres leaves them out).
pytestmark = pytest.mark.store_agnostic

T = TypeVar("T")
LOOP_THREAD = "batcher-test-loop"
SCHEMA = DatasetSchema(columns={"x": ColumnSpec(type="float", min=0.0, max=1.0)})


class SlowPrior(DummyClassifier):
    """The class prior, after ``delay`` seconds; notes the thread each prediction ran on."""

    def __init__(self, strategy: str = "prior", delay: float = 0.0) -> None:
        super().__init__(strategy=strategy)
        self.delay = delay
        self.threads: list[str] = []

    def predict_proba(self, x: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return super().predict_proba(x)


def run_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``main`` on a fresh event loop in a thread of its own, named LOOP_THREAD: the server runs its loop the
    same way, and the suite's main thread may hold another loop already (Playwright's)."""

    with ThreadPoolExecutor(1, thread_name_prefix=LOOP_THREAD) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def route(delay: float) -> Route:
    model = SlowPrior(delay=delay).fit(pd.DataFrame({"x": [0.0, 1.0, 0.5]}), [0, 1, 1])
    served = ServedModel(
        version=1,
        run_id="r-1",
        model=model,
        task="classification",
        contract=build_contract(SCHEMA, ["x"], profile=None, margin=0.0),
        fallback=Fallback("abstain", None, None, ""),
    )
    return Route(served, "live", "blue")


def threads_used(delay: float, requests: int, *, together: bool) -> list[str]:
    async def main() -> list[str]:
        batcher = MicroBatcher()
        live = route(delay)
        rows = [{"x": 0.5}]
        if together:
            results = await asyncio.gather(*(batcher.submit(live, rows, f"r{i}") for i in range(requests)))
        else:
            results = [await batcher.submit(live, rows, f"r{i}") for i in range(requests)]
        await batcher.close()
        assert all(result.answer is not None and result.answer.predictions == [1] for result in results)
        return list(live.model.model.threads)

    return run_loop(main)


def test_lone_requests_to_a_fast_model_are_answered_on_the_event_loop() -> None:
    used = threads_used(0.0, 5, together=False)
    assert len(used) == 5 and all(name.startswith(LOOP_THREAD) for name in used)


def test_requests_arriving_together_make_one_batch_on_the_batch_thread() -> None:
    used = threads_used(0.0, 8, together=True)
    assert len(used) == 1 and used[0].startswith("taxiway-batch")  # eight requests, one predict call


def test_a_model_slower_than_the_inline_budget_moves_off_the_event_loop() -> None:
    used = threads_used(INLINE_SECONDS * 6, 4, together=False)
    # the first lone request shows the model is slow (its average passes the budget): the rest go away
    assert used[0].startswith(LOOP_THREAD)
    assert all(name.startswith("taxiway-batch") for name in used[1:])


def test_every_answered_request_is_reported_lone_or_batched() -> None:
    reported: list[tuple[list[str], int]] = []

    async def main() -> None:
        batcher = MicroBatcher(
            on_batch=lambda jobs, results: reported.append(([j.request_id for j in jobs], len(results)))
        )
        live = route(0.0)
        await batcher.submit(live, [{"x": 0.5}], "lone")
        assert reported == []  # the answer comes first; the report follows in the loop's next turn
        await asyncio.sleep(0)
        assert reported == [(["lone"], 1)]
        await asyncio.gather(*(batcher.submit(live, [{"x": 0.1}], f"r{i}") for i in range(3)))
        await batcher.close()

    run_loop(main)
    assert reported[1] == (["r0", "r1", "r2"], 3)


def chunked_route(delay: float, rows_per_chunk: int) -> Route:
    """A model that takes ``delay`` seconds a call, predicting ``rows_per_chunk`` rows a call."""
    live = route(delay)
    live.model.row_seconds = CHUNK_SECONDS / rows_per_chunk  # as if timed: chunks of 10 rows
    return live


def test_a_batch_nobody_waits_for_stops_between_chunks() -> None:
    live = chunked_route(0.05, 10)
    rows = [{"x": 0.5}] * 1_000  # 100 chunks: 5 s of predicting at least

    async def main() -> None:
        batcher = MicroBatcher()
        try:
            with pytest.raises(TimeoutError, match=r"stopped after \d+ of 1,000 rows: no request waits"):
                await batcher.submit(live, rows, "late", deadline=time.monotonic() + 0.2)
            answered = await batcher.submit(live, [{"x": 0.5}] * 20, "next")  # the thread is free again
            assert answered.answer is not None and answered.answer.predictions == [1] * 20
        finally:
            await batcher.close()

    run_loop(main)
    calls = len(live.model.model.threads)
    assert calls < 100, calls  # the late request's chunks stopped; "next" took two calls


def test_a_batch_keeps_going_while_one_of_its_requests_is_waited_for() -> None:
    live = chunked_route(0.01, 10)

    async def main() -> list[Any]:
        batcher = MicroBatcher()
        try:
            return await asyncio.gather(
                batcher.submit(live, [{"x": 0.5}] * 100, "late", deadline=time.monotonic()),
                batcher.submit(live, [{"x": 0.1}] * 100, "waited"),
            )
        finally:
            await batcher.close()

    late, waited = run_loop(main)
    assert len(live.model.model.threads) == 20  # one batch of 200 rows, every chunk predicted
    assert waited.answer is not None and len(waited.answer.predictions) == 100
    assert late.answer is not None  # answered with the batch, though its caller stopped counting
