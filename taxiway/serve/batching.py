"""Adaptive micro-batching: concurrent requests to one model become one ``predict`` call.

Requests wait in an asyncio queue. The batcher takes whatever is waiting (up to ``max_rows``) the moment
the model is free and runs it in the model's thread, so it never waits for a batch to fill: one request
alone goes straight through (concurrency 1 pays no batching delay), and under load the batch grows to
however many requests arrived during the previous call. One ``predict`` on 32 rows costs about as much
as on one row for tree models, which is where the throughput comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from threadpoolctl import threadpool_limits

from taxiway.serve.inputs import Rows, combine
from taxiway.serve.model import ServedModel
from taxiway.serve.predict import BatchResult, predict_columns

MAX_BATCH_ROWS = 512  # past this, one batch's latency outgrows what batching saves
BatchHook = Callable[[int, int, float], None]  # (requests, rows, seconds) after each batch


def model_executor(threads: int) -> ThreadPoolExecutor:
    """The one thread a process runs model calls in, with native thread pools capped at ``threads``.

    OpenMP's thread count is per calling thread, so the cap is applied inside the worker thread: on a
    shared 2-core machine a tree model's default OpenMP pool made one-row predict p99 jump from 1.7 ms
    to over a second (issue 7).

    Example:
        >>> executor = model_executor(1)
        >>> executor.submit(lambda: 2 + 2).result()
        4
        >>> executor.shutdown()
    """
    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="taxiway-model", initializer=_limit_threads, initargs=(threads,)
    )


def _limit_threads(threads: int) -> None:
    threadpool_limits(limits=threads)  # kept for the thread's life: the object is not used as a context


@dataclass
class _Pending:
    rows: Rows
    future: asyncio.Future[BatchResult]


class MicroBatcher:
    """Queue requests for one served model and answer them in batches from the model's thread.

    Example:
        >>> import pandas as pd
        >>> from sklearn.linear_model import LogisticRegression
        >>> from taxiway.serve.model import served_from_frame
        >>> train = pd.DataFrame({"x": [0.0, 0.1, 0.9, 1.0], "y": [0, 0, 1, 1]})
        >>> model = served_from_frame(LogisticRegression().fit(train[["x"]], train["y"]), train, target="y")
        >>> async def two_requests():
        ...     batcher = MicroBatcher(model, model_executor(1))
        ...     answers = await asyncio.gather(*(batcher.predict(Rows({"x": [x]}, 1)) for x in (0.0, 1.0)))
        ...     await batcher.close()
        ...     return [answer.predictions for answer in answers], batcher.batches
        >>> asyncio.run(two_requests())
        ([[0], [1]], 1)
    """

    def __init__(
        self,
        model: ServedModel,
        executor: Executor,
        *,
        max_rows: int = MAX_BATCH_ROWS,
        on_batch: BatchHook | None = None,
    ) -> None:
        self.model = model
        self.max_rows = max_rows
        self.batches = 0
        self._executor = executor
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def predict(self, rows: Rows, *, alone: bool = False) -> BatchResult:
        """Answer ``rows`` (already through :func:`taxiway.serve.inputs.check_columns`).

        ``alone`` says no other request is being answered in this process: then, if the model is idle,
        the call runs right here in the event loop's thread. Handing one request to the model's thread
        and back costs two thread switches, which on a busy machine added about a millisecond at
        concurrency 1; with company, requests go through the queue so that they can be batched.
        """
        if alone and not self._busy and self._queue.empty():
            started = time.perf_counter()
            (result,) = self._answer([_Pending(rows, asyncio.get_running_loop().create_future())])
            if isinstance(result, BaseException):
                raise result
            self._record(1, rows.n_rows, started)
            return result
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve(), name="taxiway-batcher")
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(rows, future))
        return await future

    async def close(self) -> None:
        """Answer what is queued, then stop the batching task."""
        while not self._queue.empty() and self._task is not None and not self._task.done():
            await asyncio.sleep(0.001)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            rows = batch[0].rows.n_rows
            while rows < self.max_rows and not self._queue.empty():
                pending = self._queue.get_nowait()
                batch.append(pending)
                rows += pending.rows.n_rows
            batch = [pending for pending in batch if not pending.future.done()]  # timed out while queued
            if not batch:
                continue
            started = time.perf_counter()
            self._busy = True
            try:
                results = await loop.run_in_executor(self._executor, self._answer, batch)
            except Exception as error:  # noqa: BLE001 - handed to the requests that caused it
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                continue
            finally:
                self._busy = False
            self._record(len(batch), rows, started)
            for pending, result in zip(batch, results, strict=True):
                if pending.future.done():
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    def _record(self, requests: int, rows: int, started: float) -> None:
        self.batches += 1
        if self._on_batch is not None:
            self._on_batch(requests, rows, time.perf_counter() - started)

    def _answer(self, batch: list[_Pending]) -> list[BatchResult | BaseException]:
        try:
            result = predict_columns(self.model, *combine([p.rows for p in batch], self.model.features))
        except Exception:
            if len(batch) == 1:
                raise
            # One request's rows broke the model: answer the others alone, so only that one fails.
            return [self._answer_alone(pending) for pending in batch]
        results: list[BatchResult | BaseException] = []
        start = 0
        for pending in batch:
            results.append(result.rows(start, start + pending.rows.n_rows))
            start += pending.rows.n_rows
        return results

    def _answer_alone(self, pending: _Pending) -> BatchResult | BaseException:
        try:
            return predict_columns(self.model, *combine([pending.rows], self.model.features))
        except Exception as error:  # noqa: BLE001 - handed to the request that caused it
            return error
