"""Writing answers to the prediction log and labels to the feedback log (see :mod:`taxiway.serve.logs`)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from taxiway.serve.inputs import Rows
from taxiway.serve.logs import (
    FEEDBACK,
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
    PREDICTIONS,
    ParquetAppender,
    json_texts,
)
from taxiway.serve.predict import BatchResult
from taxiway.serve.service import Answer

FLUSH_INTERVAL_S = 1.0  # at most one interval of answers is lost on kill -9 (issue 7)


@dataclass(frozen=True)
class _Entry:
    rows: Rows
    result: BatchResult
    request_id: str
    version: str
    slot: str
    role: str
    seconds: float
    time: dt.datetime


class PredictionLog:
    """Every answered row, appended to Parquet files in the artifact store in batches.

    It is an answer sink of the service: the request path hands it the answer and moves on.

    Example:
        >>> import tempfile, numpy as np
        >>> from taxiway.serve.logs import read_log
        >>> root = tempfile.mkdtemp()
        >>> log = PredictionLog(root)
        >>> result = BatchResult([[]], [1], [1], None, np.array([0.9]), np.array([None]), ["model"])
        >>> rows = Rows({"x": [2.5]}, 1)
        >>> log.record(rows, result, request_id="r1", version="v1", slot="blue", role="batch")
        >>> log.close()
        >>> logged = read_log(root, "prediction-logs")
        >>> logged.loc[0, ["request_id", "inputs", "prediction", "role"]].tolist()
        ['r1', '{"x":2.5}', '1', 'batch']
    """

    def __init__(self, root: str, *, interval_s: float = FLUSH_INTERVAL_S, start: bool = False) -> None:
        self.appender = ParquetAppender(root, PREDICTIONS, PREDICTION_SCHEMA, _columns, interval_s=interval_s)
        if start:
            self.appender.start()

    def accept(self, rows: Rows, answer: Answer) -> None:
        """Log a live or canary answer (the service calls this after sending it)."""
        self.record(
            rows,
            answer.result,
            request_id=answer.request_id,
            version=answer.version,
            slot=answer.slot.name,
            role=answer.role,
            seconds=answer.seconds,
        )

    def record(
        self,
        rows: Rows,
        result: BatchResult,
        *,
        request_id: str,
        version: str,
        slot: str,
        role: str,
        seconds: float = 0.0,
    ) -> None:
        """Log the answer to ``rows`` (shadow and batch predictions come in here too)."""
        now = dt.datetime.now(dt.UTC)
        self.appender.append(_Entry(rows, result, request_id, version, slot, role, seconds, now))

    def close(self) -> None:
        """Write whatever is buffered and stop flushing."""
        self.appender.stop()


class FeedbackLog:
    """Ground-truth labels by request id and row, for online quality (``POST /feedback``)."""

    def __init__(self, root: str, *, interval_s: float = FLUSH_INTERVAL_S, start: bool = False) -> None:
        self.appender = ParquetAppender(
            root, FEEDBACK, FEEDBACK_SCHEMA, _feedback_columns, interval_s=interval_s
        )
        if start:
            self.appender.start()

    def record(self, request_id: str, labels: list[Any]) -> None:
        now = dt.datetime.now(dt.UTC)
        for row, label in enumerate(labels):
            self.appender.append((request_id, row, now, label))

    def close(self) -> None:
        self.appender.stop()


def _columns(entries: list[_Entry]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {field.name: [] for field in PREDICTION_SCHEMA}
    for entry in entries:
        n = entry.rows.n_rows
        names = list(entry.rows.columns)
        values = [_plain(entry.rows.columns[name]) for name in names]
        inputs = (
            [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)] if names else [{}] * n
        )
        result = entry.result
        columns["request_id"] += [entry.request_id] * n
        columns["row"] += list(range(n))
        columns["time"] += [entry.time] * n
        columns["model_version"] += [entry.version] * n
        columns["slot"] += [entry.slot] * n
        columns["role"] += [entry.role] * n
        columns["inputs"] += json_texts(inputs)
        columns["prediction"] += json_texts(result.predictions)
        columns["model_prediction"] += json_texts(result.model_predictions)
        columns["confidence"] += [
            None if math.isnan(value) else value for value in result.confidence.tolist()
        ]
        columns["fallback"] += result.reasons.tolist()
        columns["answered_by"] += list(result.answered_by)
        columns["latency_ms"] += [entry.seconds * 1000.0] * n
    return columns


def _feedback_columns(entries: list[tuple[str, int, dt.datetime, Any]]) -> dict[str, list[Any]]:
    return {
        "request_id": [entry[0] for entry in entries],
        "row": [entry[1] for entry in entries],
        "time": [entry[2] for entry in entries],
        "label": json_texts([entry[3] for entry in entries]),
    }


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)
