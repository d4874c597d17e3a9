"""Tracking: record a run's params, metric curves, artifacts and outcome while it trains, in batched writes.

`ActiveRun.log_metric` only checks its arguments and appends to an in-memory buffer (about a
microsecond). The buffer and any changed params, tags, lineage or resources reach the store together, in
one transaction (one multi-row INSERT of metric points, one UPDATE of the run), when:

- ``FLUSH_EVERY`` points are waiting: the logging call itself flushes, which bounds memory;
- ``FLUSH_INTERVAL_S`` has passed: one background thread per process flushes every open run. A check at
  log time alone would leave a loop that logs once per long epoch with its newest point unwritten, unseen
  by the dashboard and lost to a kill, until the next epoch;
- ``flush()`` or ``end()`` is called, or the ``with`` block is left;
- the interpreter exits normally with the run still open: it is flushed and ended ``finished``, or
  ``failed`` if an exception reached the top level after the run started.

A run whose process is killed (SIGKILL, SIGTERM without a handler, ``os._exit``) loses at most the last
``FLUSH_INTERVAL_S`` of logging; it records its owner process and a heartbeat, so readers mark it ``failed``
(see :mod:`taxiway.train.run_owners`). ``sys.exit(1)`` outside a ``with`` block counts as a
normal exit. Artifacts, the model and the predictions are written at once, not buffered.

Metric values must be finite: SQLite stores NaN as NULL and JSON has no NaN or Infinity, so a diverging
loss raises a `TaxiwayError` naming the key and step (failing the run in a ``with`` block) instead of
being dropped or stored as something it is not.
"""

from __future__ import annotations

import mimetypes
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, SupportsFloat, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from taxiway.errors import NotFoundError, StoreError, TaxiwayError
from taxiway.project import Project
from taxiway.store import Store
from taxiway.store.artifacts import sha256_file
from taxiway.store.store import record_artifact
from taxiway.store.tables import (
    ArtifactRow,
    DatasetVersionRow,
    MetricPointRow,
    RunArtifactRow,
    RunRow,
    SplitRow,
    utcnow,
)
from taxiway.train import _open_runs
from taxiway.train._open_runs import FLUSH_INTERVAL_S
from taxiway.train._values import (
    MAX_STEP,
    MIN_STEP,
    check_key,
    describe,
    json_dict,
    metric_step,
    metric_time,
    metric_value,
)
from taxiway.train.run_owners import HEARTBEAT_S, this_owner
from taxiway.train.runs import ID_PREFIX, KINDS

# A flush of 5,000 points holds SQLite's write lock ~16 ms (measured, 2 cores): short for other writers.
FLUSH_EVERY = 5_000
_BEGIN_WRITE = "BEGIN IMMEDIATE"  # taxiway.store.database's SQLite BEGIN hook reads this option
# Core statements built once, values passed at execution: no ORM objects per point, one executemany per
# flush, and nothing for SQLAlchemy to compile or hash again per run (~0.1 ms per statement built).
_RUNS = cast(Table, RunRow.__table__)
_INSERT_RUN = insert(_RUNS)
_INSERT_POINTS = insert(cast(Table, MetricPointRow.__table__))
_UPDATE_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("run_id_"))  # SET: the keys passed with it

__all__ = ["FLUSH_EVERY", "FLUSH_INTERVAL_S", "ActiveRun", "EndStatus", "start_run"]

EndStatus = Literal["finished", "failed"]
Point = tuple[str, float, int, float]  # key, value, step, timestamp


def start_run(
    name: str | None = None,
    *,
    kind: str = "custom",
    store: Store | None = None,
    project: Project | None = None,
    parent_id: str | None = None,
    dataset_id: str | None = None,
    split_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ActiveRun:
    """Start recording a run: it is committed as ``running`` at once, so even a crash leaves it visible.

    Args:
        name: what people call the run (default: its id).
        kind: ``baseline``, ``candidate``, ``trial`` or ``custom``.
        store: where to record it; default ``project``'s store, and without a project the one of the
            project found from $TAXIWAY_PROJECT or the working folder (closed again when the run ends).
        parent_id, dataset_id, split_id: the run, dataset version and split this run belongs to;
            each must exist.

    Raises:
        TaxiwayError: an unknown kind, a reference to nothing, or a tag that is not JSON.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.runs import get_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with start_run("gbm", kind="candidate", store=store) as run:
        ...     run.log_params({"learning_rate": 0.1, "max_depth": 6})
        ...     for step in range(3):
        ...         run.log_metric("loss", 1 / (step + 1), step=step)
        >>> found = get_run(store, run.id)
        >>> found.status, found.params["max_depth"], round(found.metrics["loss"], 3)
        ('finished', 6, 0.333)
        >>> store.close()
    """
    if kind not in KINDS:
        raise TaxiwayError(f"unknown run kind '{kind}'", hint=f"use one of: {', '.join(KINDS)}")
    run_id = ID_PREFIX + uuid.uuid4().hex[:12]
    if name is not None:
        check_key("run name", name)
    initial_tags = json_dict("tag", tags or {}, nested=False)
    owns_store = store is None and project is None
    if store is None:
        store = (project or Project.load()).store
    try:
        _check_references(store, parent_id, dataset_id, split_id)
        with _writing(store, run_id) as connection:
            connection.execute(
                _INSERT_RUN,
                {
                    "id": run_id,
                    "name": name or run_id,
                    "kind": kind,
                    "status": "running",
                    "parent_id": parent_id,
                    "dataset_id": dataset_id,
                    "split_id": split_id,
                    "params": {},
                    "metrics": {},
                    "lineage": {},
                    "resources": {},
                    "tags": initial_tags,
                    "started_at": utcnow(),
                    "owner": this_owner(),
                    "heartbeat_at": utcnow(),
                },
            )
    except BaseException:
        if owns_store:
            store.close()
        raise
    return ActiveRun(run_id, store, tags=initial_tags, owns_store=owns_store)


class ActiveRun:
    """A run being recorded; made by `start_run`. Leaving its ``with`` block ends it.

    Ends ``finished`` when the block completes (or exits by ``sys.exit(0)``), ``failed`` with
    ``"ExceptionType: message"`` when an exception leaves it; the exception still propagates.
    Methods are for the thread that trains; only the background flush runs beside it.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.runs import get_run, metric_history
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with start_run("unlucky", store=store) as run:
        ...     run.log_metric("loss", 0.7, step=0)
        ...     raise MemoryError("cannot allocate 8 GiB")
        Traceback (most recent call last):
        MemoryError: cannot allocate 8 GiB
        >>> found = get_run(store, run.id)
        >>> found.status, found.error, len(metric_history(store, run.id, "loss"))
        ('failed', 'MemoryError: cannot allocate 8 GiB', 1)
        >>> store.close()
    """

    def __init__(
        self, run_id: str, store: Store, *, tags: dict[str, Any] | None = None, owns_store: bool = False
    ) -> None:
        self._id = run_id
        self._store = store
        self._owns_store = owns_store
        # deque: append (logging thread) and popleft (flushing thread) are atomic, so log_metric needs no lock
        self._points: deque[Point] = deque()
        self._metric_keys: set[str] = set()
        self._latest: dict[str, tuple[int, float, float]] = {}  # key -> (step, timestamp, value)
        self._columns: dict[str, dict[str, Any]] = {
            "params": {},
            "tags": dict(tags or {}),
            "lineage": {},
            "resources": {},
        }
        self._dirty: set[str] = set()
        self._lock = threading.Lock()  # held by a flush and by changes to the JSON columns
        self._ended = False
        self._beat = time.monotonic()  # the last heartbeat written (start_run wrote the first)
        _open_runs.register(self)

    @property
    def id(self) -> str:
        """The run's id, ``r-`` and 12 hex digits."""
        return self._id

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None or (isinstance(error, SystemExit) and error.code in (None, 0)):
            self.end("finished")
            return
        try:
            self.end("failed", error=describe(error))
        except Exception as store_error:  # noqa: BLE001 - the user's exception matters more: keep it, note ours
            error.add_note(f"taxiway could not record run {self._id} as failed: {store_error}")

    def log_metric(
        self, key: str, value: SupportsFloat, step: int = 0, timestamp: float | None = None
    ) -> None:
        """Record ``value`` of metric ``key`` at ``step``; ``timestamp``: seconds since the epoch (now).

        Raises:
            TaxiwayError: ``value`` is not a finite number (NaN, ±inf, text), or ``step`` not an integer.
        """
        if self._ended:
            raise self._ended_error()
        if key not in self._metric_keys:
            self._metric_keys.add(check_key("metric", key))
        if type(value) is not float or value - value != 0.0:  # x - x is 0.0 only for finite floats
            value = metric_value(key, value, step)
        if type(step) is not int or not MIN_STEP <= step <= MAX_STEP:
            step = metric_step(key, step)
        when = time.time() if timestamp is None else metric_time(key, timestamp)
        self._points.append((key, value, step, when))
        if len(self._points) >= FLUSH_EVERY:
            self.flush()

    def log_metrics(self, metrics: Mapping[str, SupportsFloat], step: int = 0) -> None:
        """Record several metrics at one step, with one timestamp."""
        when = time.time()
        for key, value in metrics.items():
            self.log_metric(key, value, step=step, timestamp=when)

    def log_param(self, key: str, value: Any) -> None:
        """Record one parameter; see `log_params`."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merge parameters into the run's: numbers, strings, booleans, None or lists of them.

        NumPy scalars become Python numbers. Anything else raises a TaxiwayError naming the key.
        """
        self._merge("params", json_dict("param", params, nested=False))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Merge tags (values as for params) into the run's."""
        self._merge("tags", json_dict("tag", tags, nested=False))

    def set_lineage(self, lineage: Mapping[str, Any]) -> None:
        """Merge where the run came from (code version, data, environment); values may nest."""
        self._merge("lineage", json_dict("lineage", lineage, nested=True))

    def set_resources(self, resources: Mapping[str, Any]) -> None:
        """Merge what the run used (seconds, bytes, cost); values may nest."""
        self._merge("resources", json_dict("resource", resources, nested=True))

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Store a file in the artifact store and attach it to the run as ``name`` (default: the file's name).

        Returns the file's digest (SHA-256). Attaching another file under the same name replaces it.
        """
        source = Path(path)
        if not source.is_file():
            raise TaxiwayError(
                f"artifact '{source}' is not a file", hint="check the path; log_artifact stores one file"
            )
        name = check_key("artifact name", name or source.name, limit=500)
        media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        self._check_open()
        # Hash and copy before the transaction: a large model must not hold SQLite's write lock while it
        # is copied; save_file then finds the blob in place and only records it.
        digest = sha256_file(source)
        self._store.artifacts.put_file(source, digest=digest)
        with _writing_orm(self._store, self._id) as session:
            self._store.save_file(source, session=session, media_type=media_type, digest=digest)
            session.merge(RunArtifactRow(run_id=self._id, name=name, digest=digest, created_at=utcnow()))
        return digest

    def log_bytes(self, name: str, data: bytes, media_type: str = "application/octet-stream") -> str:
        """Store ``data`` and attach it to the run as ``name``; returns its digest."""
        name = check_key("artifact name", name, limit=500)
        self._check_open()
        digest = self._store.artifacts.put_bytes(data)
        with _writing_orm(self._store, self._id) as session:
            record_artifact(session, digest, size_bytes=len(data), media_type=media_type)
            session.merge(RunArtifactRow(run_id=self._id, name=name, digest=digest, created_at=utcnow()))
        return digest

    def set_model(self, digest: str) -> None:
        """Name the stored artifact that is this run's model (a digest from `log_artifact`)."""
        self._set_artifact("model_artifact", digest)

    def set_predictions(self, digest: str) -> None:
        """Name the stored artifact that holds this run's predictions on the evaluation rows.

        The artifact is read and checked first: pages and comparisons read it later, and a file that is
        not a predictions table is refused here, where it enters, not found broken there.

        Raises:
            NotFoundError: no artifact has that digest.
            DataError: the artifact is not predictions written by ``Predictions.to_parquet()``.
        """
        from taxiway.measure.predictions import Predictions  # pandas, only when predictions are stored

        self._check_open()
        if self._store.artifacts.exists(digest):
            Predictions.from_parquet(self._store.artifacts.get_bytes(digest))
        self._set_artifact("predictions_artifact", digest)

    def flush(self) -> None:
        """Write everything logged so far, now; and the run's heartbeat when one is due."""
        with self._lock:
            beat = time.monotonic() - self._beat >= HEARTBEAT_S
            self._write({"heartbeat_at": utcnow()} if beat else {})
            if beat:
                self._beat = time.monotonic()

    def end(self, status: EndStatus = "finished", error: str | None = None) -> None:
        """Flush and record how the run ended; a second call does nothing.

        The last points and the status are written in one transaction: a run never reads ``finished``
        without all its points.
        """
        if status not in ("finished", "failed"):
            raise TaxiwayError(f"unknown end status '{status}'", hint="use 'finished' or 'failed'")
        with self._lock:
            if self._ended:
                return
            self._write({"status": status, "error": error, "ended_at": utcnow()})
            self._ended = True
        _open_runs.unregister(self)
        if self._owns_store:
            self._store.close()

    def _merge(self, column: str, values: dict[str, Any]) -> None:
        self._check_open()
        with self._lock:
            self._columns[column].update(values)
            self._dirty.add(column)

    def _set_artifact(self, column: str, digest: str) -> None:
        self._check_open()
        with _writing_orm(self._store, self._id) as session:
            if session.get(ArtifactRow, digest) is None:
                raise NotFoundError(
                    f"no artifact '{digest}' in the store",
                    hint="store the file with log_artifact() or log_bytes() and pass the digest it returns",
                )
            session.execute(_UPDATE_RUN, {"run_id_": self._id, column: digest})

    def _write(self, run_values: dict[str, Any]) -> None:
        """One transaction: the buffered points, the changed JSON columns, ``run_values``. Hold the lock."""
        points = [self._points.popleft() for _ in range(len(self._points))]
        values = {column: dict(self._columns[column]) for column in self._dirty}
        latest = self._latest_after(points) if points else self._latest
        if points:
            values["metrics"] = {key: value for key, (_, _, value) in latest.items()}
        values.update(run_values)
        if not values:
            return
        rows = [
            {"run_id": self._id, "key": key, "value": value, "step": step, "timestamp": when}
            for key, value, step, when in points
        ]
        try:
            with _writing(self._store, self._id) as connection:
                if rows:
                    connection.execute(_INSERT_POINTS, rows)
                connection.execute(_UPDATE_RUN, {"run_id_": self._id, **values})
        except BaseException:
            self._points.extendleft(reversed(points))  # nothing logged is dropped: the next flush retries
            raise
        self._latest = latest
        self._dirty.clear()

    def _latest_after(self, points: list[Point]) -> dict[str, tuple[int, float, float]]:
        """Each key's newest value: the highest step, then the latest timestamp, then the last logged."""
        latest = dict(self._latest)
        for key, value, step, when in points:
            current = latest.get(key)
            if current is None or step > current[0] or (step == current[0] and when >= current[1]):
                latest[key] = (step, when, value)
        return latest

    def _check_open(self) -> None:
        if self._ended:
            raise self._ended_error()

    def _ended_error(self) -> TaxiwayError:
        return TaxiwayError(
            f"run {self._id} has ended; nothing more can be logged to it",
            hint="start a new run with start_run()",
        )


@contextmanager
def _writing(store: Store, run_id: str) -> Iterator[Connection]:
    """A Core write transaction (a session costs ~0.2 ms more, a tenth of a short run's recording).

    On SQLite it takes the write lock at BEGIN, waiting its turn (the busy timeout) behind other writers.
    """
    with (
        _store_errors(run_id),
        store.engine.connect() as connection,
        connection.execution_options(sqlite_begin=_BEGIN_WRITE).begin(),
    ):
        yield connection


@contextmanager
def _writing_orm(store: Store, run_id: str) -> Iterator[Session]:
    """An ORM write transaction that takes SQLite's write lock at BEGIN.

    A deferred transaction that reads before it writes fails at once with "database is locked" when another
    process committed in between; BEGIN IMMEDIATE waits its turn instead.
    """
    with _store_errors(run_id), store.write_session() as session, session.begin():
        yield session


@contextmanager
def _store_errors(run_id: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StoreError(
            f"could not record run {run_id} in the store: {reason}",
            hint="check that the metadata database is reachable; logged metrics, params and tags are "
            "kept in memory and written by the next flush() or end()",
        ) from error


def _check_references(
    store: Store, parent_id: str | None, dataset_id: str | None, split_id: str | None
) -> None:
    references = (
        ("parent run", parent_id, RunRow.id, "taxiway runs"),
        ("dataset version", dataset_id, DatasetVersionRow.id, "taxiway data list"),
        ("split", split_id, SplitRow.id, "taxiway data list"),
    )
    if all(value is None for _, value, _, _ in references):
        return
    with store.session() as session:
        for what, value, column, command in references:
            if value is not None and session.scalar(select(column).where(column == value)) is None:
                raise NotFoundError(
                    f"no {what} '{value}' in the store", hint=f"give a full id from `{command}`"
                )
