"""Batch prediction (the charter's batch mode): a file in, a file of answers out, through serving's path.

The same validation, fallback and prediction log as ``taxiway serve``; a row that breaks the schema is
not predicted and its messages are written in the ``errors`` column instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from taxiway.data.reading import read_table
from taxiway.errors import DataError
from taxiway.project import Project
from taxiway.serve.inputs import Rows, check_columns
from taxiway.serve.model import ServedModel, load_served_model
from taxiway.serve.predict import BatchResult, predict_frame
from taxiway.serve.prediction_log import PredictionLog
from taxiway.serve.problems import RequestError
from taxiway.store.checks import Check

CHUNK_ROWS = 50_000  # bounds memory: validation and the model see at most this many rows at once
_WRITERS = {".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class BatchReport:
    """What ``taxiway predict`` did: rows in, rows rejected, fallbacks by reason, time taken."""

    input: Path
    output: Path
    model_version: str
    n_rows: int
    n_rejected: int
    fallbacks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def document(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        return {
            "input": str(self.input),
            "output": str(self.output),
            "model_version": self.model_version,
            "rows": self.n_rows,
            "rejected": self.n_rejected,
            "fallbacks": self.fallbacks,
            "seconds": round(self.seconds, 3),
        }

    def sentence(self) -> str:
        fell = sum(self.fallbacks.values())
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in sorted(self.fallbacks.items()))
        return (
            f"{self.n_rows:,} rows predicted by {self.model_version} into {self.output} "
            f"in {self.seconds:.2f} s; "
            f"{fell:,} answered by the fallback{f' ({reasons})' if reasons else ''}; "
            f"{self.n_rejected:,} rejected (see the errors column)"
        )


def predict_file(
    project: Project, source: Path, target: Path, *, model: str | None = None, log: bool = True
) -> BatchReport:
    """Predict every row of ``source`` into ``target`` (CSV or Parquet, by its extension).

    Raises:
        DataError: the input cannot be read, or the output's extension is not .csv or .parquet.
        TaxiwayError: the model cannot be loaded.
    """
    started = time.perf_counter()
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise DataError(f"output '{target}' has extension '{target.suffix}'", hint="name it .csv or .parquet")
    frame = read_table(source)
    served = load_served_model(project, model)
    prediction_log = PredictionLog(project.store.artifacts.uri) if log else None
    parts: list[pd.DataFrame] = []
    request_id = f"batch-{uuid.uuid4().hex}"
    with threadpool_limits(project.charter.train.threads):
        for start in range(0, max(len(frame), 1), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS].reset_index(drop=True)
            rows = Rows.from_frame(chunk)
            result = _predict(served, rows, ignored=served.ignored | {project.charter.problem.target})
            parts.append(_answer_frame(served, result, chunk, start))
            if prediction_log is not None:
                prediction_log.record(
                    rows, result, request_id=request_id, version=served.version, slot="batch", role="batch"
                )
    if prediction_log is not None:
        prediction_log.close()
    answers = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    getattr(answers, f"to_{writer}")(target, index=False)
    fallbacks = answers["fallback"].value_counts().to_dict() if len(answers) else {}
    report = BatchReport(
        input=source,
        output=target,
        model_version=served.version,
        n_rows=len(frame),
        n_rejected=int(answers["errors"].notna().sum()) if len(answers) else 0,
        fallbacks={str(reason): int(count) for reason, count in fallbacks.items()},
        seconds=time.perf_counter() - started,
    )
    _record_evidence(project, served, report)
    return report


def _predict(served: ServedModel, rows: Rows, *, ignored: frozenset[str]) -> BatchResult:
    try:
        checked = check_columns(rows, served.features, ignored, served.schema)
    except RequestError as error:
        raise DataError(
            f"the input's columns do not fit model {served.version}: {error.message}", hint=error.hint
        ) from None
    return predict_frame(served, pd.DataFrame(dict(checked.columns)))


def _answer_frame(served: ServedModel, result: BatchResult, chunk: pd.DataFrame, start: int) -> pd.DataFrame:
    answers: dict[str, Any] = {"row": np.arange(start, start + len(chunk))}
    if served.key_column is not None and served.key_column in chunk.columns:
        answers[served.key_column] = chunk[served.key_column].to_numpy()
    answers["prediction"] = result.predictions
    if served.classes is not None and result.probabilities is not None:
        answers["confidence"] = result.confidence
        for index, label in enumerate(served.classes.tolist()):
            answers[f"proba_{label}"] = result.probabilities[:, index]
    answers["fallback"] = result.reasons
    answers["answered_by"] = result.answered_by
    answers["errors"] = ["; ".join(p.message for p in row) if row else None for row in result.problems]
    return pd.DataFrame(answers)


def _record_evidence(project: Project, served: ServedModel, report: BatchReport) -> None:
    answered = report.n_rows - report.n_rejected
    fell = sum(report.fallbacks.values())
    project.store.evidence.record(
        Check.SERVE_FALLBACK,
        subject_kind="model",
        subject_id=served.version,
        status="pass",
        value=fell / answered if answered else 0.0,
        details={
            "mode": "batch",
            "fallback": served.fallback.kind,
            "answered_by": served.fallback.name,
            "min_confidence": served.policy.min_confidence,
            "rows": report.n_rows,
            "fallbacks": report.fallbacks,
        },
    )
