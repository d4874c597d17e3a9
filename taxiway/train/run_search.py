"""Searching runs: filter, sort (by any metric) and page through them in SQL, reading only what is shown.

``runs.metrics`` is a JSON column (JSONB on PostgreSQL): sorting by a metric extracts it in the database
(``json_extract`` on SQLite, ``->>`` on PostgreSQL, both via SQLAlchemy's JSON index + ``as_float``), so a
page of 50 runs out of 10,000 never loads the other 9,950.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, select, text

from taxiway.errors import TaxiwayError
from taxiway.measure.metrics import METRICS
from taxiway.store import Store
from taxiway.store.tables import RunRow
from taxiway.train.runs import KINDS, STATUSES

Order = Literal["asc", "desc"]
COLUMNS = ("started", "name", "kind", "status", "duration")  # sortable besides metrics
METRIC_PREFIX = "metric:"
PER_PAGE = 50
MAX_PER_PAGE = 500
_HINT_SORT = "sort by started, name, kind, status, duration or metric:NAME (a metric the runs have)"


@dataclass(frozen=True)
class RunQuery:
    """What the runs page shows: filters, sort key and order, page.

    Example:
        >>> query = RunQuery.parse({"kind": "baseline", "sort": "metric:roc_auc", "page": "2"}, "roc_auc")
        >>> query.kind, query.metric, query.order, query.page
        ('baseline', 'roc_auc', 'desc', 2)
    """

    kind: str | None = None
    status: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    text: str = ""
    sort: str = "started"
    order: Order = "desc"
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def metric(self) -> str | None:
        """The metric sorted by, when the sort key is a metric."""
        return self.sort.removeprefix(METRIC_PREFIX) if self.sort.startswith(METRIC_PREFIX) else None

    @classmethod
    def parse(cls, params: Mapping[str, str], ranking_metric: str) -> RunQuery:
        """Read the query string; empty fields (as a plain HTML form sends them) mean "any".

        The default sort is the ranking metric, best first.

        Raises:
            TaxiwayError: a value that makes no sense (unknown kind, a date that is not one, page 0).
        """
        value = {key: item.strip() for key, item in params.items() if item is not None and item.strip()}
        sort = value.get("sort", METRIC_PREFIX + ranking_metric)
        if sort not in COLUMNS and not (sort.startswith(METRIC_PREFIX) and len(sort) > len(METRIC_PREFIX)):
            raise TaxiwayError(f"sort '{sort}' is not a column of the runs table", hint=_HINT_SORT)
        metric = sort.removeprefix(METRIC_PREFIX) if sort.startswith(METRIC_PREFIX) else None
        # Metrics best first, times newest first, text A to Z.
        if metric is not None:
            best_first: Order = "desc" if _greater_is_better(metric) else "asc"
        else:
            best_first = "asc" if sort in ("name", "kind", "status") else "desc"
        order = value.get("order", best_first)
        if order not in ("asc", "desc"):
            raise TaxiwayError(f"order '{order}' is neither asc nor desc", hint="use order=asc or order=desc")
        return cls(
            kind=_choice("kind", value.get("kind"), KINDS),
            status=_choice("status", value.get("status"), STATUSES),
            since=_date("since", value.get("since")),
            until=_date("until", value.get("until")),
            text=value.get("q", "")[:200],
            sort=sort,
            order=order,  # type: ignore[arg-type]  # checked just above
            page=_positive("page", value.get("page", "1"), limit=None),
            per_page=_positive("per_page", value.get("per_page", str(PER_PAGE)), limit=MAX_PER_PAGE),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """This query as URL parameters (defaults left out), with ``changes`` applied."""
        query = replace(self, **changes)
        pairs = {
            "kind": query.kind,
            "status": query.status,
            "since": query.since.isoformat() if query.since else None,
            "until": query.until.isoformat() if query.until else None,
            "q": query.text or None,
            "sort": query.sort,
            "order": query.order,
            "page": str(query.page) if query.page != 1 else None,
            "per_page": str(query.per_page) if query.per_page != PER_PAGE else None,
        }
        return {key: item for key, item in pairs.items() if item is not None}


@dataclass(frozen=True)
class RunLine:
    """One row of the table: only the columns the page shows."""

    id: str
    name: str
    kind: str
    status: str
    metrics: dict[str, float]
    started_at: dt.datetime
    ended_at: dt.datetime | None

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunPage:
    """One page of runs and the counts around it."""

    lines: tuple[RunLine, ...]
    total: int  # runs matching the filters
    query: RunQuery

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def query_runs(store: Store, query: RunQuery) -> RunPage:
    """One page of the runs that match ``query``, sorted in the database.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.train.tracking import start_run
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> for name, auc in (("a", 0.7), ("b", 0.9), ("c", 0.8)):
        ...     with start_run(name, store=store) as run: run.log_metric("roc_auc", auc)
        >>> page = query_runs(store, RunQuery.parse({}, "roc_auc"))
        >>> [line.name for line in page.lines], page.total
        (['b', 'c', 'a'], 3)
        >>> store.close()
    """
    filtered = _filtered(query)
    with store.session() as session:
        total = int(session.scalar(select(func.count()).select_from(filtered.subquery())) or 0)
        page = min(query.page, max(1, -(-total // query.per_page)))
        columns = (
            RunRow.id,
            RunRow.name,
            RunRow.kind,
            RunRow.status,
            RunRow.metrics,
            RunRow.started_at,
            RunRow.ended_at,
        )
        ordering = _ordering(query, store.engine.dialect.name)
        # The page's ids first, then their rows: the sort (and the rows an offset skips) carries only the
        # sort key and the id, not every run's metrics (page 100 of 100,000 runs on PostgreSQL: 1.2 s
        # sorting whole rows).
        ids = (
            filtered.with_only_columns(RunRow.id)
            .order_by(*ordering)
            .offset((page - 1) * query.per_page)
            .limit(query.per_page)
            .subquery()
        )
        rows = session.execute(select(*columns).join(ids, RunRow.id == ids.c.id).order_by(*ordering))
        lines = tuple(
            RunLine(id, name, kind, status, dict(metrics or {}), started, ended)
            for id, name, kind, status, metrics, started, ended in rows
        )
    return RunPage(lines, total, replace(query, page=page))


def count_reaching(store: Store, query: RunQuery, metric: str, bar: float) -> int:
    """How many runs matching the filters reach ``bar`` on ``metric`` (the charter's "good enough")."""
    value = RunRow.metrics[metric].as_float()
    reaches = value >= bar if _greater_is_better(metric) else value <= bar
    with store.session() as session:
        counted = select(func.count()).select_from(_filtered(query).where(reaches).subquery())
        return int(session.scalar(counted) or 0)


def metric_keys(store: Store) -> list[str]:
    """Every metric name any run has, read from the JSON column by the database itself."""
    dialect = store.engine.dialect.name
    if dialect == "sqlite":
        sql = "SELECT DISTINCT j.key FROM runs, json_each(runs.metrics) AS j"
    else:
        sql = "SELECT DISTINCT jsonb_object_keys(metrics) FROM runs"  # JSONB there (migration 0007)
    with store.engine.connect() as connection:
        return sorted(str(key) for (key,) in connection.execute(text(sql)))


def ordered_metrics(keys: list[str], ranking_metric: str) -> list[str]:
    """The ranking metric first, then the registry's order, then any other metric by name.

    Example:
        >>> ordered_metrics(["loss", "f1", "accuracy", "roc_auc"], "roc_auc")
        ['roc_auc', 'accuracy', 'f1', 'loss']
    """
    known = [name for name in METRICS if name in keys and name != ranking_metric]
    other = sorted(name for name in keys if name not in METRICS and name != ranking_metric)
    return [ranking_metric, *known, *other]


def reaches(metric: str, value: float | None, bar: float | None) -> bool:
    """Whether ``value`` is at least as good as ``bar`` on ``metric`` (False when either is missing)."""
    if value is None or bar is None:
        return False
    return value >= bar if _greater_is_better(metric) else value <= bar


def _filtered(query: RunQuery) -> Select[Any]:
    statement = select(RunRow.id)
    if query.kind:
        statement = statement.where(RunRow.kind == query.kind)
    if query.status:
        statement = statement.where(RunRow.status == query.status)
    if query.since:
        statement = statement.where(RunRow.started_at >= _midnight(query.since))
    if query.until:
        statement = statement.where(RunRow.started_at < _midnight(query.until + dt.timedelta(days=1)))
    if query.text:
        needle = query.text.lower()
        statement = statement.where(
            func.lower(RunRow.name).contains(needle, autoescape=True)
            | RunRow.id.startswith(needle, autoescape=True)
        )
    return statement


def _ordering(query: RunQuery, dialect: str) -> list[ColumnElement[Any]]:
    metric = query.metric
    column: ColumnElement[Any]
    if metric is not None:
        column = RunRow.metrics[metric].as_float()
    elif query.sort == "duration":
        column = _duration_expression(dialect)
    else:
        plain: dict[str, Any] = {
            "started": RunRow.started_at,
            "name": RunRow.name,
            "kind": RunRow.kind,
            "status": RunRow.status,
        }
        column = plain[query.sort]
    first = column.asc() if query.order == "asc" else column.desc()
    return [first.nulls_last(), RunRow.started_at.desc(), RunRow.id.desc()]  # ties: newest first


def _duration_expression(dialect: str) -> ColumnElement[Any]:
    # End minus start (NULL while running, so running runs sort last): SQLite stores times as text.
    if dialect == "sqlite":
        return func.julianday(RunRow.ended_at) - func.julianday(RunRow.started_at)
    return RunRow.ended_at - RunRow.started_at


def _greater_is_better(metric: str) -> bool:
    known = METRICS.get(metric)
    return known.greater_is_better if known is not None else not metric.endswith(("loss", "error"))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _choice(option: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is None or value == "any":
        return None
    if value not in choices:
        raise TaxiwayError(
            f"{option} '{value}' is not a run {option}", hint=f"use one of: {', '.join(choices)}"
        )
    return value


def _date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise TaxiwayError(
            f"{option} '{value}' is not a date", hint=f"give {option} as YYYY-MM-DD (UTC), e.g. 2026-11-27"
        ) from None


def _positive(option: str, value: str, *, limit: int | None) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1 or (limit is not None and number > limit):
        bound = f"1 to {limit}" if limit is not None else "1 or more"
        raise TaxiwayError(f"{option} '{value}' is not a whole number from {bound}", hint=f"give {option}=1")
    return number
