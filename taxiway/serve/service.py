"""The prediction service of one process: the lineup it follows, the batcher, the shadow, the telemetry.

Every protocol (native, MLflow, Open Inference Protocol) turns its request into rows and calls
:meth:`PredictionService.predict`; what comes back is rendered in the protocol's own shape. So validation,
fallback, canary routing, shadow copies, telemetry and prediction logs behave the same whichever way a
client speaks.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from taxiway.charter import Charter
from taxiway.serve.batching import Job, JobResult, MicroBatcher, Rows
from taxiway.serve.candidates import CandidateJudge
from taxiway.serve.guard import guard_rows
from taxiway.serve.limits import Limits
from taxiway.serve.lineup import Lineup, Route
from taxiway.serve.reconcile import Reconciler, ReplicaIdentity
from taxiway.serve.refusals import (
    InvalidNumber,
    InvalidRows,
    NotServing,
    RequestRefused,
    RequestTimedOut,
    RequestTooLarge,
)
from taxiway.serve.served_model import Answer, ServedModel
from taxiway.serve.shadow import ShadowCopy, ShadowOutcome, ShadowRunner
from taxiway.serve.telemetry import PredictionRecord, Telemetry
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by

__all__ = [
    "InvalidRows",
    "NotServing",
    "Prediction",
    "PredictionService",
    "RequestRefused",
    "RequestTimedOut",
    "RequestTooLarge",
    "json_text",
]


@dataclass(frozen=True)
class Prediction:
    """One answered request: which model answered (version, role, slot) and what it said per row."""

    request_id: str
    route: Route
    answer: Answer


class PredictionService:
    """Everything one server process needs to answer predictions."""

    def __init__(
        self,
        store: Store,
        charter: Charter,
        *,
        root: Path | None,
        port: int,
        telemetry: Telemetry,
        limits: Limits | None = None,
        threads: int = 1,
    ) -> None:
        self.store, self.charter, self.telemetry = store, charter, telemetry
        telemetry.slow_after_s = charter.serving.latency_budget_ms() / 1000.0
        self.limits = limits or Limits()
        self.replica = ReplicaIdentity.of_this_process(port)
        self.reconciler = Reconciler(
            store,
            charter,
            root=root,
            replica=self.replica,
            on_loaded=self._loaded,
            on_switched=self._switched,
        )
        self.batcher = MicroBatcher(on_batch=self._answered)
        self.shadow = ShadowRunner(self._shadow_answered, telemetry.shadow_dropped)
        self.candidates = CandidateJudge(store, self.replica.id)
        self._recorded: set[Check] = set()
        self._record_lock = threading.Lock()
        self.root = root
        # The app sets these to sign and remember ids (taxiway.serve.access), so feedback names known ones.
        self.new_request_id: Callable[[], str] = lambda: uuid.uuid4().hex
        self.remember_request_id: Callable[[str], None] = lambda _id: None

    @property
    def lineup(self) -> Lineup:
        return self.reconciler.lineup

    def start(self) -> None:
        """Load what is deployed, then follow the desired state and start the telemetry thread."""
        self.telemetry.start()
        self.reconciler.start()

    async def stop(self) -> None:
        await self.batcher.close()
        self.shadow.stop()
        self.reconciler.stop()
        self.telemetry.stop()

    def route(self, key: str | None = None) -> Route:
        """The model that answers the next request (live, or the canary for its share)."""
        route = self.lineup.route(key)
        if route is None and self.reconciler.error is not None:
            raise NotServing(
                "a model is deployed but this server refused it, so it serves nothing: "
                f"{self.reconciler.error}",
                hint="deploy a version that loads (taxiway deploy vN), or go back to the last one that did "
                "(taxiway rollback); `taxiway status` shows what each server serves",
            )
        if route is None:
            raise NotServing(
                "no model is deployed to this server yet",
                hint="deploy a registered version: taxiway deploy v1 (it applies within a second)",
            )
        return route

    async def predict(
        self, rows: Rows, *, key: str | None = None, request_id: str | None = None
    ) -> Prediction:
        """Answer ``rows`` (records or a DataFrame) with the live model or the canary.

        Raises:
            NotServing: nothing is deployed. RequestTooLarge: more rows than allowed.
            RequestTimedOut: no answer within the time limit. InvalidRows: rows that break the contract.
        """
        if len(rows) > self.limits.max_rows:
            raise RequestTooLarge(
                f"{len(rows):,} rows in one request; this server takes at most {self.limits.max_rows:,}",
                hint="split the rows over several requests, or use `taxiway predict` for files",
            )
        if len(rows) == 0:
            raise RequestRefused("the request holds no rows", hint="send at least one row")
        route = self.route(key)
        guard_rows(rows, route.model.contract, self.limits)  # sizes first: before any per-field work
        if request_id is None:
            request_id = self.new_request_id()
        else:
            self.remember_request_id(request_id)  # a client's own id: feedback may name it
        deadline = time.monotonic() + self.limits.timeout_s  # past it, predicting these rows stops too
        try:
            async with asyncio.timeout(self.limits.timeout_s):  # a timer, where wait_for made a task
                result = await self.batcher.submit(route, rows, request_id, deadline=deadline)
        except OverflowError:  # a number beyond what numpy holds, past every check above
            raise InvalidNumber(
                "a number in the request is too large for the model's numeric types",
                hint="send numbers within the 64-bit range the training data had",
            ) from None
        except TimeoutError:  # the timer, or the batch stopped for want of anyone waiting (Cancelled)
            raise RequestTimedOut(
                f"no answer within {self.limits.timeout_s:g} s",
                hint="send fewer rows per request, or start the server with a longer --timeout",
            ) from None
        if result.problems is not None:
            raise InvalidRows(result.problems)
        assert result.answer is not None
        return Prediction(request_id, route, result.answer)

    # ---- called from the batch thread -------------------------------------------------------------------

    def _answered(self, batch: list[Job], results: list[JobResult]) -> None:
        route = batch[0].route
        refused = sum(1 for result in results if result.problems is not None)
        self._record_once(
            Check.MONITOR_INPUT_SCHEMA,
            route.model,
            {"requests": len(batch), "refused": refused},
            value=float(len(batch)),
        )
        answered = [(job, result) for job, result in zip(batch, results, strict=True) if result.answer]
        if not answered:
            return
        confidence = [c for _, result in answered for c in result.answer.confidence]  # type: ignore[union-attr]
        reasons = [r for _, result in answered for r in result.answer.fallback]  # type: ignore[union-attr]
        shown = np.asarray([c for c in confidence if c is not None], dtype=float)
        self.telemetry.rows_answered(
            route.model.name, route.role, route.slot, shown if len(shown) else None, reasons
        )
        if self.telemetry.prediction_log is not None:
            self.telemetry.log(_records(answered, route, time.time()))
        if any(reasons):
            self._record_once(
                Check.SERVE_FALLBACK,
                route.model,
                {"reasons": sorted({r for r in reasons if r})},
                value=float(sum(1 for r in reasons if r)),
            )
        if route.role == "canary":
            failed = sum(1 for reason in reasons if reason == "model_error")
            self.candidates.count("canary", route.model.name, rows=len(reasons), failed=failed)
        shadow = self.lineup.shadow
        if shadow is not None and route.role == "live" and shadow is not route.model:
            self.shadow.offer(
                ShadowCopy(
                    shadow,
                    _sent_rows([job for job, _ in answered]),
                    [p for _, result in answered for p in result.answer.model_predictions],  # type: ignore[union-attr]
                    [job.request_id for job, result in answered for _ in range(job.n_rows)],
                )
            )

    def _shadow_answered(self, copy: ShadowCopy, outcome: ShadowOutcome, seconds: float) -> None:
        name = copy.model.name
        self.telemetry.shadow_compared(name, outcome.compared, outcome.agreed, outcome.failed)
        self.candidates.count(
            "shadow",
            name,
            rows=len(copy.rows),
            failed=outcome.failed,
            compared=outcome.compared,
            agreed=outcome.agreed,
            first_failure=outcome.first_failure,
        )
        answer, frame = outcome.answer, outcome.frame
        if answer is None or frame is None:
            return
        self.telemetry.rows_answered(name, "shadow", "shadow", None, answer.fallback)
        if self.telemetry.prediction_log is not None:
            now = time.time()
            self.telemetry.log(
                [
                    PredictionRecord(
                        request_id=copy.request_ids[position],
                        time=now,
                        version=name,
                        slot="shadow",
                        role="shadow",
                        inputs=logged_inputs(row),
                        output=json_text(prediction),
                        confidence=confidence,
                        fallback=reason,
                        latency_ms=seconds * 1000,
                    )
                    for position, row, prediction, confidence, reason in zip(
                        outcome.answered,
                        frame.to_dict(orient="records"),
                        answer.model_predictions,
                        answer.confidence,
                        answer.fallback,
                        strict=True,
                    )
                ]
            )

    def _switched(self, lineup: Lineup) -> None:
        self.telemetry.generation = lineup.generation

    def _loaded(self, served: ServedModel, slot: str) -> None:
        self.telemetry.model_loaded(served.name, slot, served.load_seconds)

    def _record_once(self, check: Check, model: ServedModel, details: dict[str, Any], value: float) -> None:
        """Evidence that this process did something (once per process: not once per request); ``value``
        counts what it did, judged against at least one."""
        with self._record_lock:
            if check in self._recorded:
                return
            self._recorded.add(check)
        with started_by("server"):
            self.store.evidence.record(
                check,
                subject_kind="replica",
                subject_id=self.replica.id,
                value=value,
                limit=Limit(1, ">="),
                measured=Measurement(sample_size=int(value), method="counted in this server process"),
                details={**details, "version": model.name},
            )


def _sent_rows(jobs: list[Job]) -> list[dict[str, Any]] | pd.DataFrame:
    """The rows of ``jobs`` as their clients sent them, in one list (or a table, when some sent tables)."""
    lists = [job.rows for job in jobs if isinstance(job.rows, list)]
    if len(lists) == len(jobs):
        return [row for rows in lists for row in rows]
    frames = [
        job.rows if isinstance(job.rows, pd.DataFrame) else pd.DataFrame.from_records(job.rows)
        for job in jobs
    ]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _records(answered: list[tuple[Job, JobResult]], route: Route, now: float) -> list[PredictionRecord]:
    records: list[PredictionRecord] = []
    for job, result in answered:
        answer = result.answer
        assert answer is not None
        rows = job.rows if isinstance(job.rows, list) else job.rows.to_dict(orient="records")
        latency_ms = result.seconds * 1000
        for row, prediction, confidence, reason in zip(
            rows, answer.predictions, answer.confidence, answer.fallback, strict=True
        ):
            records.append(
                PredictionRecord(
                    request_id=job.request_id,
                    time=now,
                    version=route.model.name,
                    slot=route.slot,
                    role=route.role,
                    inputs=logged_inputs(row),
                    output=json_text(prediction),
                    confidence=confidence,
                    fallback=reason,
                    latency_ms=latency_ms,
                )
            )
    return records


MAX_LOGGED_INPUT_CHARS = 16_384  # of one row's inputs in the prediction log: a quota, not a cut of the answer


def logged_inputs(row: Any) -> str:
    """A row's inputs as the log keeps them; beyond the quota, a note of their size instead.

    Example:
        >>> logged_inputs({"x": 1})
        '{"x":1}'
        >>> logged_inputs({"x": "a" * 20_000})
        '{"_not_logged":"inputs of 20008 characters, over the 16384 logged per row"}'
    """
    text = json_text(row)
    if len(text) <= MAX_LOGGED_INPUT_CHARS:
        return text
    return json_text(
        {"_not_logged": f"inputs of {len(text)} characters, over the {MAX_LOGGED_INPUT_CHARS} logged per row"}
    )


def json_text(value: Any) -> str:
    """JSON text of a row or a prediction as the prediction log keeps it (numpy values, dates as text)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
