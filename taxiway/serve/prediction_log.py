"""The prediction log: every answered row as Parquet files in the artifact store, one new file per flush.

A :class:`PredictionLog` buffers records in memory (the request path never waits for I/O) and writes them
as a new file per flush; :func:`read_prediction_logs` reads them back with DuckDB. Where the files live
and how they are written whole: :mod:`taxiway.serve.log_folder`; merging small files:
:mod:`taxiway.serve.log_compaction`.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from taxiway.serve.log_folder import LogFolder, log_root, readable_files
from taxiway.serve.typed_inputs import TYPED_INPUTS, typed_inputs
from taxiway.store import Store

__all__ = ["SCHEMA", "PredictionLog", "PredictionRecord", "log_root", "read_prediction_logs"]

_OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
MAX_BUFFERED_RECORDS = 200_000  # ~100 MB of typical rows: past it new records are dropped and counted

SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("replica_id", pa.string()),
        ("version", pa.string()),
        ("role", pa.string()),
        ("slot", pa.string()),
        ("inputs", pa.string()),
        ("output", pa.string()),
        ("confidence", pa.float64()),
        ("fallback", pa.string()),
        ("latency_ms", pa.float64()),
    ]
)


@dataclass(slots=True)
class PredictionRecord:
    """One answered row as the log keeps it; ``inputs`` and ``output`` are JSON text.

    Example:
        >>> PredictionRecord("req-1", 1764201600.0, "v3", "blue", "live", '{"x": 1}', '"yes"', 0.9, None, 2.5)
        ... # doctest: +ELLIPSIS
        PredictionRecord(request_id='req-1', time=1764201600.0, version='v3', ...)
    """

    request_id: str
    time: float  # seconds since the epoch, UTC
    version: str
    slot: str
    role: str  # live | shadow | canary
    inputs: str
    output: str
    confidence: float | None
    fallback: str | None  # the fallback's reason; None when the model answered
    latency_ms: float


class PredictionLog:
    """An in-memory buffer of records that `flush` writes to a new Parquet file.

    Example:
        >>> import tempfile
        >>> log = PredictionLog(tempfile.mkdtemp(), "host:8000:42")
        >>> record = PredictionRecord("r1", 1764201600.0, "v3", "blue", "live", "{}", "1", 0.8, None, 1.0)
        >>> log.append([record])
        >>> log.flush(), log.rows_written
        (1, 1)
        >>> len(read_prediction_logs(log.uri))
        1
    """

    def __init__(self, uri: str, replica_id: str, *, max_buffered: int = MAX_BUFFERED_RECORDS) -> None:
        self.uri = uri.rstrip("/")
        self.replica_id = replica_id
        self.max_buffered = max_buffered
        self.rows_written = 0  # rows in files already renamed into place: safe from kill -9
        self.dropped = 0
        self._folder = LogFolder(self.uri)
        started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._stem = f"{_sanitise(replica_id)}-{started}"
        self._seq = 0
        # deque.extend of a list is atomic under the GIL: appends need no lock (a lock costs more than them)
        self._buffer: deque[PredictionRecord] = deque()
        self._flush_lock = threading.Lock()  # one writer at a time (background thread and stop())

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def append(self, records: Sequence[PredictionRecord]) -> None:
        """Add records to the buffer (no I/O). Past ``max_buffered`` waiting records, drop and count them."""
        room = self.max_buffered - len(self._buffer)
        if room >= len(records):
            self._buffer.extend(records)
            return
        room = max(room, 0)
        self._buffer.extend(records[:room])
        self.dropped += len(records) - room

    def flush(self) -> int:
        """Write what is buffered to new files (one per UTC day), return the rows written.

        Records a failed write did not keep go back to the buffer, and the error is raised.
        """
        with self._flush_lock:
            batch = [self._buffer.popleft() for _ in range(len(self._buffer))]  # later appends wait
            by_day: dict[str, list[PredictionRecord]] = {}
            day_names: dict[int, str] = {}  # formatting a date per record would cost more than the rest
            for record in batch:
                number = int(record.time // 86400)
                day = day_names.get(number) or day_names.setdefault(
                    number, time.strftime("%Y-%m-%d", time.gmtime(number * 86400))
                )
                by_day.setdefault(day, []).append(record)
            written = 0
            for day, records in sorted(by_day.items()):
                try:
                    self._write(day, records)
                except BaseException:
                    unwritten = [r for d, rs in sorted(by_day.items()) if d >= day for r in rs]
                    self._buffer.extendleft(reversed(unwritten[: self.max_buffered]))
                    raise
                written += len(records)
                self.rows_written += len(records)
            return written

    def _write(self, day: str, records: list[PredictionRecord]) -> None:
        table = _table(records, self.replica_id)
        self._seq += 1
        path = f"{self._folder.day_path(day)}/{self._stem}-{self._seq:06d}.parquet"
        self._folder.write(path, lambda where: pq.write_table(table, where))


def _table(records: list[PredictionRecord], replica_id: str) -> pa.Table:
    """Column by column, each from one C-level pass over the records: no pandas, no per-row Python code.

    The inputs are kept twice: as JSON text (the record) and, when they make one, as a typed struct that
    monitoring reads without parsing (:mod:`taxiway.serve.typed_inputs`).
    """
    columns: dict[str, Any] = {}
    texts = list(map(attrgetter("inputs"), records))  # the text column and its typed copy both come from it
    for name in SCHEMA.names:
        kind = SCHEMA.field(name).type
        if name == "inputs":
            columns[name] = pa.array(texts, kind)
        elif name == "replica_id":
            columns[name] = pa.array([replica_id] * len(records), kind)
        elif name == "time":
            seconds = np.fromiter(map(attrgetter("time"), records), np.float64, len(records))
            columns[name] = pa.array(np.round(seconds * 1e6).astype(np.int64)).cast(kind)
        else:
            columns[name] = pa.array(list(map(attrgetter(name), records)), kind)
    typed = typed_inputs(texts)
    if typed is not None:
        columns[TYPED_INPUTS] = typed
    return pa.table(columns)


def _sanitise(replica_id: str) -> str:
    """A replica id fit for a file name (``host:port:pid`` → ``host_port_pid``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", replica_id).lstrip("._") or "replica"


def read_prediction_logs(
    store_or_uri: Store | str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    version: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Logged rows with ``since <= time < until`` (of one version), oldest first; ``limit``: the newest N.

    Example:
        >>> import tempfile
        >>> list(read_prediction_logs(tempfile.mkdtemp()).columns)[:4]
        ['request_id', 'time', 'replica_id', 'version']
    """
    import duckdb  # the query engine is needed by readers only, not by the serving process

    folder = LogFolder(log_root(store_or_uri))
    first = since.astimezone(dt.UTC).date().isoformat() if since else ""
    last = until.astimezone(dt.UTC).date().isoformat() if until else "9999-12-31"
    conditions, params = ["TRUE"], []
    for clause, value in (("time >= ?", since), ("time < ?", until), ("version = ?", version)):
        if value is not None:
            conditions.append(clause)
            params.append(value)
    for attempt in range(3):
        try:
            days = [d for d in folder.days() if first <= d <= last]
            files = [folder.for_duckdb(f"{folder.day_path(d)}/{n}") for d, n in readable_files(folder, days)]
            if not files:
                empty: pd.DataFrame = SCHEMA.empty_table().to_pandas()
                return empty
            # DuckDB would fetch its httpfs extension from the internet for s3:// paths; it reads them through
            # the fsspec filesystem taxiway already has instead (same endpoint, credentials and config).
            connection = duckdb.connect(config=_OFFLINE)
            connection.execute("SET TimeZone = 'UTC'")
            if not folder.is_local:
                connection.register_filesystem(folder.fs)
            newest = f"ORDER BY time DESC, request_id DESC LIMIT {int(limit)}" if limit is not None else ""
            source = "read_parquet(?, union_by_name = true)"
            # every column but the typed copy of the inputs, which repeats the JSON text as a struct
            names = [
                row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}", [files]).fetchall()
            ]
            wanted = ", ".join('"' + n.replace('"', '""') + '"' for n in names if n != TYPED_INPUTS)
            query = (
                f"SELECT * FROM (SELECT {wanted} FROM {source} "
                f"WHERE {' AND '.join(conditions)} {newest}) ORDER BY time, request_id"
            )
            frame: pd.DataFrame = connection.execute(query, [files, *params]).df()
            return frame
        except (duckdb.IOException, FileNotFoundError):
            if attempt == 2:  # a compaction deleted files between listing and reading: list again
                raise
    raise AssertionError("unreachable")
