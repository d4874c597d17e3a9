"""Batch prediction on a Dask cluster: `taxiway predict --dask tcp://scheduler:8786` for Parquet too large for
one machine's cores.

The input (a Parquet file or a folder of them, local to the workers or on S3) is cut into pieces of whole
row groups; the model version, loaded and checked once here, is sent to every worker once; each task reads
its piece where it lies, answers it on the same path as a request (input contract, fallback; see
:mod:`taxiway.serve.batch`) and writes its rows to the prediction log itself (under its own file name, so
no two tasks ever share a file). Only the answers come back, in order, and are written as one file.

Dask is an optional dependency (``pip install 'taxiway[dask]'``), imported only here.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow.parquet as pq

from taxiway.data.reading import detect_kind
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.serve.batch import CHUNK_ROWS, BatchReport, _live, _predict_chunk, _write
from taxiway.serve.prediction_log import PredictionLog, log_root
from taxiway.serve.served_model import ServedModel, load_served_model

__all__ = ["predict_on_dask"]

CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class Piece:
    """Row groups of one Parquet file: the unit of work of one task."""

    path: str  # as fsspec names it, with its protocol for remote files
    row_groups: tuple[int, ...]
    rows: int


@dataclass(frozen=True)
class PieceAnswer:
    """What one task sends back."""

    answers: pd.DataFrame
    refused: int
    fallbacks: dict[str, int]
    logged: int


def predict_on_dask(
    project: Project,
    source: str,
    output: Path,
    *,
    address: str,
    version: str | None = None,
    log: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Predict every row of the Parquet ``source`` on the Dask cluster whose scheduler is at ``address``.

    Raises:
        TaxiwayError: Dask is not installed, the scheduler cannot be reached, the input is not Parquet or
            has no rows, nothing is deployed and no ``version`` was given.
    """
    started = time.perf_counter()
    out_kind = detect_kind(output)
    distributed = _distributed()
    pieces = parquet_pieces(source, chunk_rows)
    total = sum(piece.rows for piece in pieces)
    store = project.store
    served = load_served_model(
        store, version or _live(project), project.charter, root=project.root, threads=1
    )
    logs = log_root(store) if log else None
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as error:
        raise TaxiwayError(
            f"cannot reach the Dask scheduler at {address}: {error}",
            hint="start one (dask scheduler; dask worker ADDRESS on each machine) and pass its address, "
            "e.g. --dask tcp://10.0.0.5:8786",
        ) from None
    parts: list[pd.DataFrame] = []
    refused = logged = done = 0
    fallbacks: dict[str, int] = {}
    try:
        model = client.scatter(served, broadcast=True)  # once per worker, not once per task
        futures = client.map(_answer_piece, pieces, model=model, logs=logs, pure=False)
        for piece, future in zip(pieces, futures, strict=True):  # in order: the output keeps the input's
            answer: PieceAnswer = future.result()
            parts.append(answer.answers)
            refused += answer.refused
            logged += answer.logged
            for reason, count in answer.fallbacks.items():
                fallbacks[reason] = fallbacks.get(reason, 0) + count
            done += piece.rows
            if progress is not None:
                progress(done, total)
    finally:
        client.close()
    _write(pd.concat(parts, ignore_index=True), output, out_kind)
    return BatchReport(
        version=served.name,
        rows=total,
        answered=total - refused,
        refused=refused,
        fallbacks=fallbacks,
        output=output,
        seconds=time.perf_counter() - started,
        logged=logged,
    )


def parquet_pieces(source: str, chunk_rows: int = CHUNK_ROWS) -> list[Piece]:
    """Cut a Parquet file, or a folder of them, into pieces of whole row groups of about ``chunk_rows``.

    Raises:
        TaxiwayError: the source is missing, not Parquet, or holds no rows.
    """
    fs, root = fsspec.core.url_to_fs(source)
    if not fs.exists(root):
        raise TaxiwayError(f"input '{source}' does not exist", hint="give a Parquet file or a folder of them")
    files = sorted(p for p in fs.find(root) if p.endswith(".parquet")) if fs.isdir(root) else [root]
    if not files or not all(path.endswith(".parquet") for path in files):
        raise TaxiwayError(
            f"--dask reads Parquet, and '{source}' is not a Parquet file or a folder of them",
            hint="convert it once (pandas: read_csv(...).to_parquet(...)), or predict it without --dask",
        )
    pieces: list[Piece] = []
    for path in files:
        with fs.open(path, "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
        groups: list[int] = []
        rows = 0
        for index in range(metadata.num_row_groups):
            groups.append(index)
            rows += metadata.row_group(index).num_rows
            if rows >= chunk_rows:
                pieces.append(Piece(str(fs.unstrip_protocol(path)), tuple(groups), rows))
                groups, rows = [], 0
        if groups:
            pieces.append(Piece(str(fs.unstrip_protocol(path)), tuple(groups), rows))
    if not any(piece.rows for piece in pieces):
        raise TaxiwayError(f"input '{source}' has no rows", hint="check that the export wrote its rows")
    return pieces


def _answer_piece(piece: Piece, *, model: ServedModel, logs: str | None) -> PieceAnswer:
    """Runs on a worker: read the piece where it lies, answer it, log it under this task's own file name."""
    fs, path = fsspec.core.url_to_fs(piece.path)
    with fs.open(path, "rb") as handle:
        frame = pq.ParquetFile(handle).read_row_groups(list(piece.row_groups)).to_pandas()
    writer = f"dask:{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    prediction_log = PredictionLog(logs, writer) if logs is not None else None
    fallbacks: dict[str, int] = {}
    answers, refused = _predict_chunk(model, frame, prediction_log, fallbacks)
    logged = prediction_log.flush() if prediction_log is not None else 0
    return PieceAnswer(answers, refused, fallbacks, logged)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise TaxiwayError(
            "--dask needs the Dask distributed package, which is not installed",
            hint="pip install 'taxiway[dask]'",
        ) from None
    return distributed
