"""Adaptive micro-batching: the requests that arrive while the model is busy are answered by one call.

One consumer task takes every request that is waiting, checks and answers them together in a worker
thread, and hands each request its share. Under load, batches grow by themselves to what arrived during the
previous call, so one ``predict`` on 30 rows replaces 30 calls on one row each, while the event loop keeps
parsing requests and writing answers.

A lone request (the only one waiting, a few rows, a model that answers such requests within
``INLINE_SECONDS``) is answered right on the event loop instead: the hop to the worker thread and
back (two wake-ups, a future, a callback) cost ~0.3 ms, a fifth of a one-row predict, and with nothing
else to do the loop gains nothing from handing the work away. Requests that arrive together, or while one
is computed, take the worker thread as before.

A request past its deadline is cancelled, not abandoned: a batch not yet started drops it, and a batch being
predicted stops between two chunks once none of its requests is still waited for (see
:class:`~taxiway.serve.served_model.Cancelled`), so the worker thread is free for the next one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from taxiway.data.schema_check import FieldProblem
from taxiway.serve.clean_rows import MAX_ROWS, CleanRows, clean_rows
from taxiway.serve.lineup import Route
from taxiway.serve.served_model import Answer, Cancelled

MAX_BATCH_ROWS = 512
# A lone request is answered on the event loop while the model answers such requests this fast (a moving
# average); a slower model would hold up every other request (health checks, /metrics) for that long.
INLINE_SECONDS = 0.005
_AVERAGE_WEIGHT = 0.2  # of the newest lone request in the moving average of their times

__all__ = ["Job", "JobResult", "MicroBatcher"]

Rows = list[dict[str, Any]] | pd.DataFrame


@dataclass
class JobResult:
    """One request's outcome: refused rows (with their problems), or its answer and its coerced rows."""

    problems: list[list[FieldProblem]] | None = None
    answer: Answer | None = None
    frame: pd.DataFrame | None = None
    seconds: float = 0.0  # time spent in the batch that answered it


@dataclass
class Job:
    """One request's rows, waiting for a batch."""

    route: Route
    rows: Rows
    request_id: str
    future: asyncio.Future[JobResult] = field(repr=False)
    deadline: float = math.inf  # time.monotonic() after which nobody waits for the answer

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def waited_for(self) -> bool:
        """Someone still waits for this job's answer (read from the worker thread: a flag and a clock)."""
        return not self.future.done() and time.monotonic() < self.deadline


class MicroBatcher:
    """Answers jobs in batches; ``on_batch`` sees every answered batch (telemetry, shadow, logs)."""

    def __init__(
        self,
        *,
        max_rows: int = MAX_BATCH_ROWS,
        on_batch: Callable[[list[Job], list[JobResult]], None] | None = None,
    ) -> None:
        self.max_rows = max_rows
        self._on_batch = on_batch
        self._pending: list[Job] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lone_seconds = 0.0  # moving average of the time lone requests took
        # One thread: the model's own thread pools are sized per process; two batches at once would fight.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taxiway-batch")

    async def submit(
        self, route: Route, rows: Rows, request_id: str, *, deadline: float = math.inf
    ) -> JobResult:
        """Queue a request's rows and wait for its share of a batch.

        ``deadline`` (``time.monotonic()``): past it, predicting the batch stops once no other request in
        it is waited for either; the caller gets ``TimeoutError`` if its own timer has not fired first.
        """
        loop = asyncio.get_running_loop()
        if self._task is None or self._wake is None:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._drain())
        job = Job(route, rows, request_id, loop.create_future(), deadline)
        self._pending.append(job)
        self._wake.set()
        return await job.future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def _drain(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._take()
                if not batch:
                    break
                if self._is_lone(batch):
                    self._answer_lone(batch[0])
                else:
                    await self._answer(loop, batch)

    def _is_lone(self, batch: list[Job]) -> bool:
        """A single request, nothing else waiting, a few rows, a model fast on such requests: answered on
        the event loop (see the module's docstring). Requests that arrive in the same tick of the loop are
        all waiting by the time this runs, so they still make one batch for the worker thread."""
        job = batch[0]
        return (
            len(batch) == 1
            and not self._pending
            and isinstance(job.rows, list)
            and job.n_rows <= MAX_ROWS
            and self._lone_seconds < INLINE_SECONDS
        )

    def _answer_lone(self, job: Job) -> None:
        """Answer one job on the event loop; what ``on_batch`` does (telemetry, logs, shadow) runs right after
        the caller's answer is written, not before: those callbacks run first in the loop's next turn."""
        try:
            results = self._answer_batch([job])
        except Exception as error:  # noqa: BLE001 - as in _answer: the request gets the error, not a hang
            if not job.future.done():
                job.future.set_exception(error)
            return
        self._time_lone(results[0])
        if not job.future.done():
            job.future.set_result(results[0])
        if self._on_batch is not None:
            asyncio.get_running_loop().call_soon(self._on_batch, [job], results)

    def _time_lone(self, result: JobResult) -> None:
        if result.answer is not None:  # refused rows never reached the model: they say nothing of its speed
            self._lone_seconds += _AVERAGE_WEIGHT * (result.seconds - self._lone_seconds)

    async def _answer(self, loop: asyncio.AbstractEventLoop, batch: list[Job]) -> None:
        """Answer a batch; if it fails, answer its jobs one by one, so one bad request fails alone."""
        try:
            results = await loop.run_in_executor(self._executor, self._answer_and_report, batch)
            if len(batch) == 1:
                self._time_lone(results[0])
        except Cancelled as stopped:  # nobody waits: answering the jobs one by one would predict again
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(stopped)
            return
        except Exception as error:  # noqa: BLE001 - a failure must answer its requests, not hang them
            if len(batch) > 1:
                for job in batch:
                    await self._answer(loop, [job])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(error)
            return
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():  # the request may have timed out meanwhile
                job.future.set_result(result)

    def _take(self) -> list[Job]:
        """The oldest waiting jobs for one model, up to ``max_rows`` rows (at least one job).

        A job whose request already timed out (its future cancelled) is dropped, not answered for nobody.
        """
        self._pending = [job for job in self._pending if not job.future.done()]
        if not self._pending:
            return []
        model = self._pending[0].route.model
        taken: list[Job] = []
        rows = 0
        kept: list[Job] = []
        for job in self._pending:
            fits = not taken or rows + job.n_rows <= self.max_rows
            if job.route.model is model and fits:
                taken.append(job)
                rows += job.n_rows
            else:
                kept.append(job)
        self._pending = kept
        return taken

    def _answer_and_report(self, batch: list[Job]) -> list[JobResult]:
        """In the worker thread: the batch's answers, then ``on_batch`` (telemetry, logs, shadow)."""
        results = self._answer_batch(batch)
        if self._on_batch is not None:
            self._on_batch(batch, results)
        return results

    def _answer_batch(self, batch: list[Job]) -> list[JobResult]:
        """Check every row, answer the requests whose rows all keep the contract."""
        started = time.perf_counter()
        served = batch[0].route.model
        fast = _clean(batch)
        if fast is not None:  # a few rows: one call, nothing to stop part-way
            answer = served.answer(fast.inputs, unfamiliar=fast.unfamiliar)
            return _shares(batch, answer, fast.inputs, time.perf_counter() - started)
        frame = _frame(batch)
        problems = served.contract.problems(frame)
        results: list[JobResult] = []
        good: list[tuple[int, int]] = []  # (start, stop) of each request without problems, in `frame`
        start = 0
        for job in batch:
            stop = start + job.n_rows
            own = problems[start:stop]
            if any(own):
                results.append(JobResult(problems=own))
            else:
                results.append(JobResult())
                good.append((start, stop))
            start = stop
        if good:
            positions = [position for begin, end in good for position in range(begin, end)]
            inputs = served.contract.coerce(frame.iloc[positions].reset_index(drop=True))
            answer = served.answer(inputs, wanted=lambda: any(job.waited_for for job in batch))
            seconds = time.perf_counter() - started
            offset = 0
            for job, result in zip(batch, results, strict=True):
                if result.problems is None:
                    result.answer = answer.take(offset, offset + job.n_rows)
                    result.frame = inputs.iloc[offset : offset + job.n_rows]
                    result.seconds = seconds
                    offset += job.n_rows
        return results


def _clean(batch: list[Job]) -> CleanRows | None:
    """A few records that plainly keep the contract, checked without the vectorised validator."""
    if sum(job.n_rows for job in batch) > MAX_ROWS or not all(isinstance(job.rows, list) for job in batch):
        return None
    records = [row for job in batch if isinstance(job.rows, list) for row in job.rows]
    return clean_rows(batch[0].route.model.contract, records)


def _shares(batch: list[Job], answer: Answer, inputs: pd.DataFrame, seconds: float) -> list[JobResult]:
    """Each job's rows of a batch answered whole."""
    if len(batch) == 1:  # the whole answer is the job's: no slicing
        return [JobResult(answer=answer, frame=inputs, seconds=seconds)]
    results: list[JobResult] = []
    offset = 0
    for job in batch:
        end = offset + job.n_rows
        results.append(
            JobResult(answer=answer.take(offset, end), frame=inputs.iloc[offset:end], seconds=seconds)
        )
        offset = end
    return results


def _frame(batch: list[Job]) -> pd.DataFrame:
    """All rows of a batch as one table, in order (records become one DataFrame in one call)."""
    if all(isinstance(job.rows, list) for job in batch):
        records: list[dict[str, Any]] = [
            row for job in batch if isinstance(job.rows, list) for row in job.rows
        ]
        # An explicit index: from_records([{}]) would otherwise be a table of no rows, not one empty row.
        return pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records)))
    frames = [
        job.rows
        if isinstance(job.rows, pd.DataFrame)
        else pd.DataFrame.from_records(job.rows, index=pd.RangeIndex(len(job.rows)))
        for job in batch
    ]
    return pd.concat(frames, ignore_index=True, sort=False)
