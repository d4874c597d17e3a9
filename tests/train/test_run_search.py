"""The runs table's SQL: sort by a JSON metric, filter, page — the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from taxiway.errors import TaxiwayError
from taxiway.store import Store
from taxiway.store.tables import RunRow
from taxiway.train.run_search import RunQuery, count_reaching, metric_keys, ordered_metrics, query_runs
from taxiway.train.tracking import start_run

DAY = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
# name, kind, roc_auc (None: not logged), log_loss, day offset, seconds it ran
RUNS = [
    ("base 100%", "baseline", 0.50, 0.69, 0, 5),
    ("linear_a", "baseline", 0.81, 0.45, 1, 20),
    ("gbm", "candidate", 0.93, 0.21, 2, 300),
    ("gbm-tuned", "trial", 0.95, 0.19, 3, 3600),
    ("custom", "custom", None, 0.30, 4, 1),
]


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    ids = {}
    for name, kind, auc, loss, day, seconds in RUNS:
        with start_run(name, kind=kind, store=store) as run:
            if auc is not None:
                run.log_metric("roc_auc", auc)
            run.log_metric("log_loss", loss)
        start = DAY + dt.timedelta(days=day)
        with store.session() as session, session.begin():
            session.execute(
                update(RunRow)
                .where(RunRow.id == run.id)
                .values(started_at=start, ended_at=start + dt.timedelta(seconds=seconds))
            )
        ids[name] = run.id
    return ids


def _names(store: Store, **params: str) -> list[str]:
    return [line.name for line in query_runs(store, RunQuery.parse(params, "roc_auc")).lines]


def test_sorting_by_a_metric_puts_runs_without_it_last(store: Store, runs: dict[str, str]) -> None:
    assert _names(store) == ["gbm-tuned", "gbm", "linear_a", "base 100%", "custom"]
    assert _names(store, order="asc") == ["base 100%", "linear_a", "gbm", "gbm-tuned", "custom"]
    assert _names(store, sort="metric:log_loss") == ["gbm-tuned", "gbm", "custom", "linear_a", "base 100%"]


def test_sorting_by_columns(store: Store, runs: dict[str, str]) -> None:
    assert _names(store, sort="name") == ["base 100%", "custom", "gbm", "gbm-tuned", "linear_a"]
    assert _names(store, sort="started") == ["custom", "gbm-tuned", "gbm", "linear_a", "base 100%"]
    assert _names(store, sort="duration") == ["gbm-tuned", "gbm", "linear_a", "base 100%", "custom"]
    assert _names(store, sort="kind") == [
        "linear_a",
        "base 100%",
        "gbm",
        "custom",
        "gbm-tuned",
    ]  # ties: newest


def test_filters_combine(store: Store, runs: dict[str, str]) -> None:
    assert _names(store, kind="baseline") == ["linear_a", "base 100%"]
    assert _names(store, status="running") == []
    assert _names(store, since="2026-11-22") == ["gbm-tuned", "gbm", "custom"]
    assert _names(store, since="2026-11-21", until="2026-11-22") == ["gbm", "linear_a"]
    assert _names(store, q="GBM") == ["gbm-tuned", "gbm"]
    assert _names(store, q="100%") == ["base 100%"]  # % is a character here, not a wildcard
    assert _names(store, q="_a") == ["linear_a"]
    assert _names(store, q=runs["gbm"][:8]) == ["gbm"]  # an id prefix
    assert _names(store, kind="", status="", q="  ") == _names(store)  # empty form fields mean "any"


def test_pages_are_cut_in_the_database_and_clamped(store: Store, runs: dict[str, str]) -> None:
    first = query_runs(store, RunQuery.parse({"per_page": "2"}, "roc_auc"))
    assert (
        [line.name for line in first.lines] == ["gbm-tuned", "gbm"] and first.total == 5 and first.pages == 3
    )
    last = query_runs(store, RunQuery.parse({"per_page": "2", "page": "9"}, "roc_auc"))
    assert [line.name for line in last.lines] == ["custom"] and last.query.page == 3


def test_metric_names_and_the_good_enough_count(store: Store, runs: dict[str, str]) -> None:
    assert metric_keys(store) == ["log_loss", "roc_auc"]
    assert ordered_metrics(metric_keys(store), "log_loss") == ["log_loss", "roc_auc"]
    query = RunQuery.parse({}, "roc_auc")
    assert count_reaching(store, query, "roc_auc", 0.9) == 2
    assert count_reaching(store, query, "log_loss", 0.3) == 3  # lower is better: at most 0.3
    assert count_reaching(store, RunQuery.parse({"kind": "trial"}, "roc_auc"), "roc_auc", 0.9) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "colour"}, "sort 'colour' is not a column"),
        ({"sort": "metric:"}, "sort 'metric:' is not a column"),
        ({"order": "up"}, "order 'up' is neither asc nor desc"),
        ({"kind": "winner"}, "kind 'winner' is not a run kind"),
        ({"status": "done"}, "status 'done' is not a run status"),
        ({"since": "yesterday"}, "since 'yesterday' is not a date"),
        ({"page": "0"}, "page '0' is not a whole number from 1 or more"),
        ({"per_page": "501"}, "per_page '501' is not a whole number from 1 to 500"),
    ],
)
def test_bad_queries_name_the_field_and_the_value(params: dict[str, str], message: str) -> None:
    with pytest.raises(TaxiwayError, match=message) as raised:
        RunQuery.parse(params, "roc_auc")
    assert raised.value.hint
