"""The prediction log and the feedback log: Parquet files appended in batches to the artifact store.

Each flush writes one complete Parquet file (a temporary name, then a rename; an object store makes a
put visible at once), so a file that exists is always readable and a ``kill -9`` loses at most the rows
of one flush interval. The request path only appends a reference to its answer to a list; the flushing
thread turns answers into columns.

Layout: ``<artifacts>/prediction-logs/date=YYYY-MM-DD/<writer>-<sequence>.parquet`` (and ``feedback/``),
where ``<writer>`` names the host, process and start time, so replicas and restarts never collide.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import fsspec
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from taxiway.store import Store

PREDICTIONS = "prediction-logs"
FEEDBACK = "feedback"
PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("model_version", pa.string()),
        ("slot", pa.string()),
        ("role", pa.string()),  # live | canary | shadow | batch
        ("inputs", pa.string()),  # the row as sent, JSON
        ("prediction", pa.string()),  # the answer, JSON (labels keep their type)
        ("model_prediction", pa.string()),  # what the model said before any fallback, JSON
        ("confidence", pa.float64()),  # the model's top class probability
        ("fallback", pa.string()),  # the reason a fallback answered, or null
        ("answered_by", pa.string()),
        ("latency_ms", pa.float64()),
    ]
)
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("label", pa.string()),
    ]
)
Builder = Callable[[list[Any]], dict[str, list[Any]]]


def writer_name() -> str:
    """A name no other writer (replica, worker, restart) shares: host, process id, start time."""
    started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{socket.gethostname()}-{os.getpid()}-{started}-{uuid.uuid4().hex[:6]}"


class ParquetAppender:
    """Buffer entries in memory; every ``interval_s`` (from a thread) write them as one Parquet file.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> log = ParquetAppender(root, "demo", pa.schema([("x", pa.int64())]), lambda xs: {"x": xs})
        >>> log.append(1); log.append(2)
        >>> log.flush()
        2
        >>> read_log(root, "demo")["x"].tolist()
        [1, 2]
    """

    def __init__(
        self, root: str, folder: str, schema: pa.Schema, build: Builder, *, interval_s: float = 1.0
    ) -> None:
        self._fs, base = fsspec.core.url_to_fs(root)
        self._is_local = "file" in (
            self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        )
        self._folder = f"{base.rstrip('/')}/{folder}"
        self._schema, self._build = schema, build
        self._interval_s = interval_s
        self._writer = writer_name()
        self._pending: list[Any] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._sequence = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written_rows = 0

    def append(self, entry: Any) -> None:
        """Queue one entry (cheap: the request path calls this)."""
        with self._lock:
            self._pending.append(entry)

    def start(self) -> None:
        """Flush every interval from a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="taxiway-log-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is still buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def flush(self) -> int:
        """Write the buffered entries as one file; returns how many rows were written."""
        with self._write_lock:
            with self._lock:
                entries, self._pending = self._pending, []
            if not entries:
                return 0
            table = pa.Table.from_pydict(self._build(entries), schema=self._schema)
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression="zstd")
            self._sequence += 1
            day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
            path = f"{self._folder}/date={day}/{self._writer}-{self._sequence:06d}.parquet"
            self._put(path, buffer.getvalue())
            written = int(table.num_rows)
            self.written_rows += written
            return written

    def _put(self, path: str, data: bytes) -> None:
        if not self._is_local:
            self._fs.pipe_file(path, data)  # object stores make a put visible all at once
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except Exception as error:  # noqa: BLE001 - a full disk must not stop serving; retried next time
                print(f"taxiway: prediction log flush failed: {error}", flush=True)
                time.sleep(self._interval_s)


def read_log(root: str, folder: str, *, since: dt.date | None = None) -> pd.DataFrame:
    """Every row written under ``folder`` (``prediction-logs`` or ``feedback``), oldest file first.

    Files are complete by construction; a leftover ``.tmp`` from a killed writer is skipped.
    """
    fs, base = fsspec.core.url_to_fs(root)
    pattern = f"{base.rstrip('/')}/{folder}/date=*/*.parquet"
    paths = sorted(fs.glob(pattern))
    if since is not None:
        paths = [p for p in paths if p.split("date=")[1][:10] >= since.isoformat()]
    tables = [pq.read_table(fs.open(path, "rb")) for path in paths]
    schema = PREDICTION_SCHEMA if folder == PREDICTIONS else FEEDBACK_SCHEMA
    if not tables:
        return schema.empty_table().to_pandas() if folder in (PREDICTIONS, FEEDBACK) else pd.DataFrame()
    frame: pd.DataFrame = pa.concat_tables(tables, promote_options="default").to_pandas()
    return frame


def read_predictions(store: Store, *, since: dt.date | None = None) -> pd.DataFrame:
    """The prediction log of a project's store, as a DataFrame (see :data:`PREDICTION_SCHEMA`)."""
    return read_log(store.artifacts.uri, PREDICTIONS, since=since)


def read_feedback(store: Store, *, since: dt.date | None = None) -> pd.DataFrame:
    """The labels sent to ``POST /feedback``, by request id and row."""
    return read_log(store.artifacts.uri, FEEDBACK, since=since)


def json_texts(values: Sequence[Any]) -> list[str]:
    return [orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode() for value in values]
