"""Runs as recorded: the `Run` record and the queries that read runs, metric curves and run artifacts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select

from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.tables import MetricPointRow, RunArtifactRow, RunRow
from taxiway.train.run_owners import mark_dead_runs

MAX_CURVE_POINTS = 2_000  # a drawn curve: more points than pixels add nothing but bytes

RunKind = Literal["baseline", "candidate", "trial", "custom"]
RunStatus = Literal["running", "finished", "failed"]
KINDS: tuple[RunKind, ...] = ("baseline", "candidate", "trial", "custom")
STATUSES: tuple[RunStatus, ...] = ("running", "finished", "failed")
ID_PREFIX = "r-"
MIN_PREFIX = 4  # hex characters after "r-": 65,536 choices, enough to be unique in one project's runs
_SHOWN_MATCHES = 10
_HEX = re.compile(r"[0-9a-f]+")
_LIST_HINT = "run `taxiway runs` to list them"


@dataclass(frozen=True)
class Run:
    """One training run as the store holds it: what went in, what came out, how it ended.

    Example:
        >>> import datetime as dt
        >>> t0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
        >>> run = Run(id="r-3f2a9c01b7de", name="gbm", kind="candidate", status="finished",
        ...           parent_id=None, dataset_id=None, split_id=None, params={"lr": 0.1},
        ...           metrics={"roc_auc": 0.91}, lineage={}, resources={}, tags={},
        ...           model_artifact=None, predictions_artifact=None, error=None,
        ...           started_at=t0, ended_at=t0 + dt.timedelta(seconds=42))
        >>> run.duration_s
        42.0
    """

    id: str
    name: str
    kind: RunKind
    status: RunStatus
    parent_id: str | None
    dataset_id: str | None
    split_id: str | None
    params: dict[str, Any]
    metrics: dict[str, float]
    lineage: dict[str, Any]
    resources: dict[str, Any]
    tags: dict[str, Any]
    model_artifact: str | None
    predictions_artifact: str | None
    error: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end; None while the run is still running."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @classmethod
    def _from_row(cls, row: RunRow) -> Run:
        return cls(
            id=row.id,
            name=row.name,
            kind=row.kind,  # type: ignore[arg-type]  # written only by start_run, which checks it
            status=row.status,  # type: ignore[arg-type]
            parent_id=row.parent_id,
            dataset_id=row.dataset_id,
            split_id=row.split_id,
            params=dict(row.params or {}),
            metrics=dict(row.metrics or {}),
            lineage=dict(row.lineage or {}),
            resources=dict(row.resources or {}),
            tags=dict(row.tags or {}),
            model_artifact=row.model_artifact,
            predictions_artifact=row.predictions_artifact,
            error=row.error,
            started_at=row.started_at,
            ended_at=row.ended_at,
        )


def list_runs(
    store: Store,
    *,
    kind: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
    sort: str | None = None,
) -> list[Run]:
    """The recorded runs, newest first, optionally only one kind, one status, or those started since a time.

    ``sort`` names a metric: the runs that have it come best first (highest, or lowest for a loss, as the
    metrics registry says), sorted by the database, then those without it; ties newest first.

    Raises:
        TaxiwayError: an unknown kind or status, a naive ``since``, a ``limit`` below 1, or an empty ``sort``.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with start_run("first", kind="baseline", store=store): pass
        >>> with start_run("second", store=store): pass
        >>> [run.name for run in list_runs(store)], [run.name for run in list_runs(store, kind="baseline")]
        (['second', 'first'], ['first'])
        >>> store.close()
    """
    query = select(RunRow)
    if sort is not None:
        if not sort.strip():
            raise TaxiwayError("sort by an empty metric name", hint="give a metric, e.g. --sort roc_auc")
        value = RunRow.metrics[sort.strip()].as_float()
        best_first = value.desc() if greater_is_better(sort.strip()) else value.asc()
        query = query.order_by(best_first.nulls_last())
    query = query.order_by(RunRow.started_at.desc(), RunRow.id.desc())
    if kind is not None:
        query = query.where(RunRow.kind == _choice("kind", kind, KINDS))
    if status is not None:
        query = query.where(RunRow.status == _choice("status", status, STATUSES))
    if since is not None:
        if since.tzinfo is None:
            raise TaxiwayError(
                f"since={since.isoformat()} has no time zone",
                hint="pass an aware datetime, e.g. datetime(2026, 11, 1, tzinfo=datetime.UTC)",
            )
        query = query.where(RunRow.started_at >= since)
    if limit is not None:
        if limit < 1:
            raise TaxiwayError(f"limit {limit} is below 1", hint="give a positive number of runs to list")
        query = query.limit(limit)
    mark_dead_runs(store)  # a run whose process was killed reads failed, not running forever
    with store.session() as session:
        return [Run._from_row(row) for row in session.scalars(query)]


def greater_is_better(metric: str) -> bool:
    """Whether a higher value of ``metric`` is better: the registry's answer, else not for losses and errors.

    Example:
        >>> greater_is_better("roc_auc"), greater_is_better("log_loss"), greater_is_better("my_error")
        (True, False, False)
    """
    from taxiway.measure.metrics import METRICS

    known = METRICS.get(metric)
    return known.greater_is_better if known is not None else not metric.endswith(("loss", "error"))


def get_run(store: Store, ref: str) -> Run:
    """One run, by its full id (``r-3f2a9c01b7de``) or a unique prefix of it (``r-3f2a``).

    A prefix needs at least 4 hex digits after ``r-``; the ``r-`` may be left out.

    Raises:
        NotFoundError: no run has that id or prefix.
        TaxiwayError: the prefix is too short, or several runs start with it.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with start_run("gbm", store=store) as run: run.log_metric("loss", 0.3)
        >>> found = get_run(store, run.id[:6])
        >>> found.id == run.id, found.metrics, found.status
        (True, {'loss': 0.3}, 'finished')
        >>> store.close()
    """
    prefix = ref.strip().lower().removeprefix(ID_PREFIX)
    if prefix and not _HEX.fullmatch(prefix):
        raise NotFoundError(
            f"no run '{ref}': run ids are 'r-' and hexadecimal digits (0-9, a-f), e.g. r-3f2a9c01b7de",
            hint=_LIST_HINT,
        )
    if len(prefix) < MIN_PREFIX:
        raise TaxiwayError(
            f"run '{ref}' is too short: give at least {MIN_PREFIX} characters after 'r-'", hint=_LIST_HINT
        )
    query = select(RunRow).where(RunRow.id.startswith(ID_PREFIX + prefix)).order_by(RunRow.id)
    mark_dead_runs(store)
    with store.session() as session:
        rows = list(session.scalars(query.limit(_SHOWN_MATCHES + 1)))
    if not rows:
        raise NotFoundError(f"no run starts with '{ID_PREFIX}{prefix}'", hint=_LIST_HINT)
    if len(rows) > 1:
        shown = ", ".join(row.id for row in rows[:_SHOWN_MATCHES])
        count = f"more than {_SHOWN_MATCHES}" if len(rows) > _SHOWN_MATCHES else str(len(rows))
        raise TaxiwayError(
            f"run '{ref}' is ambiguous: {count} runs start with '{ID_PREFIX}{prefix}': {shown}",
            hint="give more characters of the id",
        )
    return Run._from_row(rows[0])


def metric_history(store: Store, run_id: str, key: str) -> list[tuple[int, float, float]]:
    """A metric's curve in one run: ``(step, value, timestamp)`` by step, then time of logging.

    ``timestamp`` is seconds since the epoch (UTC), as logged.

    Raises:
        NotFoundError: no run ``run_id``, or the run has no metric ``key`` (the hint lists its metrics).

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with start_run(store=store) as run:
        ...     for step, loss in enumerate([0.9, 0.5, 0.4]):
        ...         run.log_metric("loss", loss, step=step, timestamp=1_800_000_000 + step)
        >>> metric_history(store, run.id, "loss")[-1]
        (2, 0.4, 1800000002.0)
        >>> store.close()
    """
    query = (
        select(MetricPointRow.step, MetricPointRow.value, MetricPointRow.timestamp)
        .where(MetricPointRow.run_id == run_id, MetricPointRow.key == key)
        .order_by(MetricPointRow.step, MetricPointRow.timestamp, MetricPointRow.id)
    )
    with store.session() as session:
        points = [(int(step), float(value), float(stamp)) for step, value, stamp in session.execute(query)]
        if points:
            return points
        metrics = session.scalar(select(RunRow.metrics).where(RunRow.id == run_id))
    if metrics is None:
        raise NotFoundError(f"no run '{run_id}'", hint=_LIST_HINT)
    known = ", ".join(sorted(metrics)) or "none yet"
    raise NotFoundError(
        f"run {run_id} has no metric '{key}'", hint=f"its metrics: {known} (`taxiway runs show {run_id}`)"
    )


def curve_keys(store: Store, run_ids: Sequence[str]) -> list[str]:
    """The metrics that any of the runs logged at more than one step: those worth drawing as curves."""
    query = (
        select(MetricPointRow.key)
        .where(MetricPointRow.run_id.in_(list(run_ids)))
        .group_by(MetricPointRow.run_id, MetricPointRow.key)
        .having(func.count(func.distinct(MetricPointRow.step)) > 1)
    )
    with store.session() as session:
        return sorted(set(session.scalars(query)))


def curve(
    store: Store, run_id: str, key: str, *, max_points: int = MAX_CURVE_POINTS
) -> list[tuple[int, float]]:
    """A run's (step, value) points of one metric, the last value per step, thinned to ``max_points``.

    Empty when the run or the metric is not there (a chart with nothing to draw, not an error).
    """
    try:
        history = metric_history(store, run_id, key)
    except NotFoundError:
        return []
    last = {step: value for step, value, _ in history}
    points = sorted(last.items())
    if len(points) > max_points:
        stride = -(-len(points) // max_points)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return points


def run_artifacts(store: Store, run_id: str) -> dict[str, str]:
    """The files attached to a run: name → digest in the artifact store, by name.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with start_run(store=store) as run:
        ...     digest = run.log_bytes("notes.txt", b"hello", media_type="text/plain")
        >>> run_artifacts(store, run.id) == {"notes.txt": digest}
        True
        >>> store.close()
    """
    query = (
        select(RunArtifactRow.name, RunArtifactRow.digest)
        .where(RunArtifactRow.run_id == run_id)
        .order_by(RunArtifactRow.name)
    )
    with store.session() as session:
        return {name: digest for name, digest in session.execute(query)}


def _choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise TaxiwayError(f"unknown run {option} '{value}'", hint=f"use one of: {', '.join(choices)}")
    return value
