"""The request path every protocol shares: limits, routing to a slot, the batch, telemetry, the log.

A protocol only says how to read its body into :class:`~taxiway.serve.inputs.Rows` and how to write an
:class:`Answer` or a :class:`~taxiway.serve.problems.RequestError` back; everything between is here.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from taxiway.serve.inputs import Rows, check_columns
from taxiway.serve.predict import BatchResult
from taxiway.serve.problems import RequestError, schema_error
from taxiway.serve.settings import ServeSettings
from taxiway.serve.slots import Role, Slot, Slots
from taxiway.serve.stats import StatsCollector
from taxiway.serve.telemetry import Metrics

REQUEST_ID_HEADER = "x-request-id"
REQUEST_KEY_HEADER = "x-request-key"  # canary stickiness: the same key always reaches the same version
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


@dataclass(frozen=True)
class Answer:
    """One request's answer: the rows' results and which slot and version gave them."""

    request_id: str
    result: BatchResult
    slot: Slot
    role: Role
    seconds: float

    @property
    def version(self) -> str:
        return self.slot.version

    def headers(self) -> dict[str, str]:
        """Headers every protocol adds, so even MLflow's and OIP's answers name who answered."""
        fallbacks = sum(1 for reason in self.result.reasons if reason is not None)
        return {
            "x-request-id": self.request_id,
            "x-taxiway-model-version": self.version,
            "x-taxiway-slot": self.slot.name,
            "x-taxiway-fallback-rows": str(fallbacks),
        }


class AnswerSink(Protocol):
    """Something that wants every answer after it is sent: the prediction log, the shadow feeder."""

    def accept(self, rows: Rows, answer: Answer) -> None: ...


Parse = Callable[[Request, bytes], Awaitable[Rows]]
Render = Callable[[Answer], Response]
RenderError = Callable[[RequestError], Response]


class Service:
    """The state one server process answers from: settings, slots, metrics and answer sinks."""

    def __init__(self, settings: ServeSettings, slots: Slots, metrics: Metrics, *, model_name: str) -> None:
        self.settings = settings
        self.slots = slots
        self.metrics = metrics
        self.model_name = model_name
        self.sinks: list[AnswerSink] = []
        self.stats = StatsCollector()
        self.is_ready = True
        self._in_flight = 0  # requests being answered by this process (the gauge may sum many)

    async def handle(
        self, request: Request, route: str, parse: Parse, render: Render, error: RenderError
    ) -> Response:
        """Read, answer and render one request; bad input of any kind becomes the protocol's 4xx."""
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        self._in_flight += 1
        version, slot_name, role = self.slots.live.version, self.slots.live.name, "live"
        answer: Answer | None = None
        try:
            body = await read_body(request, self.settings.max_body_bytes)
            rows = await parse(request, body)
            answer = await self.answer(rows, request=request, started=started)
            version, slot_name, role = answer.version, answer.slot.name, answer.role
            response = render(answer)
            response.headers.update(answer.headers())
            for sink in self.sinks:
                sink.accept(rows, answer)
        except RequestError as problem:
            response = error(problem)
        finally:
            self.metrics.in_flight.dec()
            self._in_flight -= 1
        seconds = time.perf_counter() - started
        self.metrics.request_finished(route, response.status_code, version, slot_name, seconds)
        self.stats.record(version, role, response.status_code, seconds, answer.result if answer else None)
        return response

    async def answer(
        self, rows: Rows, *, request: Request | None = None, started: float | None = None
    ) -> Answer:
        """Route ``rows`` to a slot, answer them through its batcher, and count what happened."""
        started = time.perf_counter() if started is None else started
        settings = self.settings
        if rows.n_rows > settings.max_rows:
            raise RequestError(
                413,
                f"the request has {rows.n_rows:,} rows; at most {settings.max_rows:,} are allowed",
                hint="split it into smaller requests, or use `taxiway predict` for files",
            )
        if rows.n_rows == 0:
            raise RequestError(422, "the request has no rows", hint="send at least one row")
        headers: Any = request.headers if request is not None else {}
        slot = self.slots.route(_request_key(headers, rows, self.slots.live.model.key_column))
        model = slot.model
        checked = check_columns(rows, model.features, model.ignored, model.schema)
        remaining = settings.timeout_s - (time.perf_counter() - started)
        try:
            predicting = slot.batcher.predict(checked, alone=self._in_flight <= 1)
            result = await asyncio.wait_for(predicting, timeout=max(remaining, 0.001))
        except TimeoutError:
            raise RequestError(
                408,
                f"the request was not answered within {settings.timeout_s:g} s",
                hint="send fewer rows per request, or retry when the server is less busy",
            ) from None
        if result.is_rejected.any():
            raise schema_error(result.problems)
        self._count(result, slot)
        request_id = _request_id(headers)
        return Answer(request_id, result, slot, self.slots.role_of(slot), time.perf_counter() - started)

    def _count(self, result: BatchResult, slot: Slot) -> None:
        metrics, version = self.metrics, slot.version
        metrics.rows.labels(version, slot.name).inc(result.n_rows)
        for reason in result.reasons:
            if reason is not None:
                metrics.fallbacks.labels(reason, version).inc()
        confidence = metrics.confidence.labels(version)
        for value in result.confidence.tolist():
            if not math.isnan(value):  # regression and abstained rows have no confidence
                confidence.observe(value)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"Content-Length '{declared}' is not a number of bytes")
        if int(declared) > limit:
            raise RequestError(413, _too_large(int(declared), limit), hint=_SPLIT)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, _too_large(size, limit), hint=_SPLIT)
        chunks.append(chunk)
    return b"".join(chunks)


_SPLIT = "split the rows into several requests"


def _too_large(size: int, limit: int) -> str:
    return f"the body has at least {size:,} bytes; at most {limit:,} are allowed"


def _request_id(headers: Any) -> str:
    given = headers.get(REQUEST_ID_HEADER)
    if given and _REQUEST_ID.fullmatch(given):
        return str(given)
    # A random process prefix and a counter: unique across replicas and restarts, and no system call per
    # request (uuid4 reads the kernel's random source every time: 9% of the event loop at concurrency 32).
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


def _request_key(headers: Any, rows: Rows, key_column: str | None) -> str | None:
    given = headers.get(REQUEST_KEY_HEADER)
    if given:
        return str(given)
    if key_column is not None and key_column in rows.columns and rows.n_rows:
        return str(rows.columns[key_column][0])
    return None
