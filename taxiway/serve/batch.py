"""Batch prediction (the charter's ``serving.mode = "batch"``): a file in, a file of answers out.

The same path as a request: the input contract (rows that break it get their problems in an ``error``
column and no prediction), per-row fallback with its reason, and the prediction log (role ``batch``).
Rows go through in chunks, so a file much larger than a request never holds more than one chunk of
answers in flight, and the progress bar moves.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from taxiway.data.reading import FileKind, detect_kind, read_table
from taxiway.deploy.state import desired_state
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.serve.prediction_log import PredictionLog, log_root
from taxiway.serve.served_model import ServedModel, load_served_model
from taxiway.serve.service import json_text
from taxiway.serve.telemetry import PredictionRecord

CHUNK_ROWS = 20_000

__all__ = ["BatchReport", "predict_file"]


@dataclass(frozen=True)
class BatchReport:
    """What `taxiway predict` did."""

    version: str
    rows: int
    answered: int
    refused: int  # rows that broke the input contract: an error, no prediction
    fallbacks: dict[str, int]  # reason -> rows the fallback answered
    output: Path
    seconds: float
    logged: int

    @property
    def fallback_rows(self) -> int:
        return sum(self.fallbacks.values())


def predict_file(
    project: Project,
    source: Path,
    output: Path,
    *,
    version: str | None = None,
    log: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Predict every row of ``source`` (CSV or Parquet) with the live version (or ``version``).

    ``output``'s extension chooses its format; it is written whole to a temporary name first, so a failure
    never leaves half a file under its name.

    Raises:
        TaxiwayError: nothing deployed and no ``version``; unreadable input; an output format taxiway
            cannot write.
    """
    started = time.perf_counter()
    out_kind = detect_kind(output)
    frame = read_table(source)
    store = project.store
    ref = version or _live(project)
    served = load_served_model(
        store, ref, project.charter, root=project.root, threads=project.charter.train.threads
    )
    prediction_log = (
        PredictionLog(log_root(store), f"batch:{socket.gethostname()}:{os.getpid()}") if log else None
    )
    parts: list[pd.DataFrame] = []
    fallbacks: dict[str, int] = {}
    refused = 0
    for begin in range(0, len(frame), chunk_rows):
        chunk = frame.iloc[begin : begin + chunk_rows].reset_index(drop=True)
        part, chunk_refused = _predict_chunk(served, chunk, prediction_log, fallbacks)
        parts.append(part)
        refused += chunk_refused
        if progress is not None:
            progress(min(begin + chunk_rows, len(frame)), len(frame))
    answers = pd.concat(parts, ignore_index=True)
    _write(answers, output, out_kind)
    logged = prediction_log.flush() if prediction_log is not None else 0
    return BatchReport(
        version=served.name,
        rows=len(frame),
        answered=len(frame) - refused,
        refused=refused,
        fallbacks=fallbacks,
        output=output,
        seconds=time.perf_counter() - started,
        logged=logged,
    )


def _live(project: Project) -> str:
    state = desired_state(project.store)
    if state.live is None:
        raise TaxiwayError(
            "no version is deployed live, and no --version was given",
            hint="pass --version v1 (taxiway models lists them), or deploy one: taxiway deploy v1",
        )
    return f"v{state.live}"


def _predict_chunk(
    served: ServedModel, chunk: pd.DataFrame, prediction_log: PredictionLog | None, fallbacks: dict[str, int]
) -> tuple[pd.DataFrame, int]:
    problems = served.contract.problems(chunk)
    good = [position for position, row in enumerate(problems) if not row]
    n = len(chunk)
    columns: dict[str, list[object]] = {
        "prediction": [None] * n,
        "confidence": [None] * n,
        "fallback": [None] * n,
        "error": ["; ".join(problem.message for problem in row) or None for row in problems],
    }
    if good:
        inputs = served.contract.coerce(chunk.iloc[good].reset_index(drop=True))
        answer = served.answer(inputs)
        shown = {
            "prediction": answer.predictions,
            "confidence": answer.confidence,
            "fallback": answer.fallback,
        }
        if answer.probabilities is not None:
            for index, label in enumerate(served.classes):
                columns[f"probability_{label}"] = [None] * n
                shown[f"probability_{label}"] = [row[index] for row in answer.probabilities]
        for name, values in shown.items():
            for position, value in zip(good, values, strict=True):
                columns[name][position] = value
        for reason in answer.fallback:
            if reason is not None:
                fallbacks[reason] = fallbacks.get(reason, 0) + 1
        if prediction_log is not None:
            prediction_log.append(
                _records(served, inputs, answer.predictions, answer.confidence, answer.fallback)
            )
    part = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    part["confidence"] = part["confidence"].astype(float)
    return part, len(chunk) - len(good)


def _records(
    served: ServedModel,
    inputs: pd.DataFrame,
    predictions: list[object],
    confidence: list[float | None],
    reasons: list[str | None],
) -> list[PredictionRecord]:
    request_id, now = uuid.uuid4().hex, time.time()
    return [
        PredictionRecord(
            request_id, now, served.name, "batch", "batch", json_text(row), json_text(p), c, r, 0.0
        )
        for row, p, c, r in zip(
            inputs.to_dict(orient="records"), predictions, confidence, reasons, strict=True
        )
    ]


def _write(answers: pd.DataFrame, output: Path, kind: FileKind) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    try:
        if kind.format == "csv":
            answers.to_csv(partial, index=False, compression=kind.compression)
        else:
            answers.to_parquet(partial, index=False)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
