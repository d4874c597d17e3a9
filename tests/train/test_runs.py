"""Reading runs back: listing with filters, finding one by a prefix of its id, curves and artifacts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.tables import RunRow, utcnow
from taxiway.train.runs import Run, get_run, list_runs, metric_history, run_artifacts
from taxiway.train.tracking import start_run

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _started(store: Store, run_id: str, when: dt.datetime) -> None:
    with store.session() as session, session.begin():
        session.execute(update(RunRow).where(RunRow.id == run_id).values(started_at=when))


@pytest.fixture
def three_runs(store: Store) -> Iterator[list[str]]:
    """A finished baseline (1 Nov), a failed candidate (5 Nov), a running trial (9 Nov); oldest first."""
    with start_run("majority", kind="baseline", store=store) as baseline:
        baseline.log_metric("roc_auc", 0.5)
    with pytest.raises(RuntimeError), start_run("gbm", kind="candidate", store=store) as candidate:
        raise RuntimeError("diverged")
    trial = start_run("trial 1", kind="trial", store=store, parent_id=candidate.id)
    trial.flush()
    ids = [baseline.id, candidate.id, trial.id]
    for days, run_id in zip((0, 4, 8), ids, strict=True):
        _started(store, run_id, T0 + dt.timedelta(days=days))
    yield ids
    trial.end()


def test_list_runs_newest_first_and_filtered(store: Store, three_runs: list[str]) -> None:
    baseline, candidate, trial = three_runs

    def ids(**filters: object) -> list[str]:
        return [run.id for run in list_runs(store, **filters)]  # type: ignore[arg-type]

    assert ids() == [trial, candidate, baseline]
    assert ids(kind="baseline") == [baseline]
    assert ids(status="failed") == [candidate] and ids(status="running") == [trial]
    assert ids(kind="trial", status="finished") == []
    assert ids(since=T0 + dt.timedelta(days=4)) == [trial, candidate]  # since is inclusive
    assert ids(since=T0 + dt.timedelta(days=9)) == []
    assert ids(limit=2) == [trial, candidate]
    assert ids(since=dt.datetime(2026, 11, 3, 10, tzinfo=dt.timezone(dt.timedelta(hours=5))), limit=1) == [
        trial
    ]


@pytest.mark.parametrize(
    ("filters", "message", "hint"),
    [
        ({"kind": "model"}, "unknown run kind 'model'", "baseline, candidate, trial, custom"),
        ({"status": "done"}, "unknown run status 'done'", "running, finished, failed"),
        ({"since": dt.datetime(2026, 11, 1)}, "has no time zone", "tzinfo"),
        ({"limit": 0}, "limit 0 is below 1", "positive"),
    ],
)
def test_list_runs_bad_filters(store: Store, filters: dict[str, object], message: str, hint: str) -> None:
    with pytest.raises(TaxiwayError, match=message) as caught:
        list_runs(store, **filters)  # type: ignore[arg-type]
    assert hint in caught.value.hint


def test_a_run_record_has_everything(store: Store, three_runs: list[str]) -> None:
    baseline, candidate, trial = three_runs
    found = get_run(store, candidate)
    assert isinstance(found, Run)
    assert (found.name, found.kind, found.status) == ("gbm", "candidate", "failed")
    assert found.error == "RuntimeError: diverged"
    assert found.started_at == T0 + dt.timedelta(days=4) and found.started_at.tzinfo is not None
    running = get_run(store, trial)
    assert (running.parent_id, running.ended_at, running.duration_s) == (candidate, None, None)
    assert get_run(store, baseline).metrics == {"roc_auc": 0.5}


def test_get_run_by_full_id_or_prefix(store: Store, three_runs: list[str]) -> None:
    run_id = three_runs[0]
    for ref in (run_id, run_id[:6], run_id[2:8], run_id.upper(), f" {run_id[:8]} "):
        assert get_run(store, ref).id == run_id, ref


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("r-0000", NotFoundError, "no run starts with 'r-0000'"),
        ("r-00000000000000", NotFoundError, "no run starts with 'r-00000000000000'"),
        ("gbm", NotFoundError, "no run 'gbm': run ids are 'r-' and hexadecimal digits"),
        ("r-3f", TaxiwayError, "run 'r-3f' is too short: give at least 4 characters after 'r-'"),
        ("r-", TaxiwayError, "run 'r-' is too short"),
    ],
)
def test_get_run_unknown(store: Store, ref: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        get_run(store, ref)
    assert caught.value.hint == "run `taxiway runs` to list them"  # type: ignore[attr-defined]


def test_get_run_ambiguous_lists_the_matches(store: Store) -> None:
    with store.session() as session, session.begin():
        for suffix in ("01", "02", "03"):
            session.add(RunRow(id=f"r-abcd000000{suffix}", name=suffix, kind="custom", status="finished"))
    with pytest.raises(TaxiwayError, match="run 'r-abcd' is ambiguous: 3 runs start with 'r-abcd'") as caught:
        get_run(store, "r-abcd")
    assert "r-abcd00000001, r-abcd00000002, r-abcd00000003" in caught.value.message
    assert caught.value.hint == "give more characters of the id"
    assert get_run(store, "abcd00000002").name == "02"


def test_metric_history_and_artifacts(store: Store) -> None:
    with start_run(store=store) as run:
        for step in (2, 0, 1):
            run.log_metric("loss", step / 10, step=step, timestamp=100.0 + step)
        digest = run.log_bytes("b.txt", b"b")
        run.log_bytes("a.txt", b"a")
    assert metric_history(store, run.id, "loss") == [(0, 0.0, 100.0), (1, 0.1, 101.0), (2, 0.2, 102.0)]
    assert list(run_artifacts(store, run.id)) == ["a.txt", "b.txt"]
    assert run_artifacts(store, run.id)["b.txt"] == digest
    assert run_artifacts(store, "r-000000000000") == {}
    with pytest.raises(NotFoundError, match=f"run {run.id} has no metric 'auc'") as caught:
        metric_history(store, run.id, "auc")
    assert "its metrics: loss" in caught.value.hint
    with pytest.raises(NotFoundError, match="no run 'r-000000000000'"):
        metric_history(store, "r-000000000000", "loss")


def test_duration_counts_from_start_to_end(store: Store) -> None:
    with start_run(store=store) as run:
        pass
    found = get_run(store, run.id)
    assert found.ended_at is not None
    assert found.duration_s == (found.ended_at - found.started_at).total_seconds()
    assert 0 <= found.duration_s < 60 and found.ended_at <= utcnow()
