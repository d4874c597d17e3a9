"""Replica reports on every backend: the upsert a server sends as its heartbeat, stale and stopped servers,
and waiting until every live server applied a generation (or failed it, or ran out of time)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import update

from taxiway.deploy.replicas import (
    STALE_AFTER_S,
    Replica,
    RolloutError,
    list_replicas,
    mark_stopped,
    report_replica,
    wait_for_generation,
)
from taxiway.store import Store
from taxiway.store.tables import ReplicaRow, utcnow

SLOTS = {"blue": {"version": 3, "role": "live", "loaded_at": "2026-11-27T12:00:00Z"}}


def report(
    store: Store, port: int, generation: int, *, error: str | None = None, slots: dict | None = None
) -> str:
    """Report as the server on 127.0.0.1:``port`` would; return its replica id."""
    replica_id = f"127.0.0.1:{port}:{port + 1000}"
    report_replica(
        store,
        replica_id,
        host="127.0.0.1",
        port=port,
        pid=port + 1000,
        generation=generation,
        slots=SLOTS if slots is None else slots,
        error=error,
    )
    return replica_id


def silence(store: Store, replica_id: str, seconds: float) -> None:
    """Move a replica's last heartbeat into the past, as if its process died ``seconds`` ago."""
    with store.write_session() as session, session.begin():
        session.execute(
            update(ReplicaRow)
            .where(ReplicaRow.id == replica_id)
            .values(heartbeat_at=utcnow() - dt.timedelta(seconds=seconds))
        )


def test_a_report_is_an_upsert_that_keeps_when_the_server_started(store: Store) -> None:
    replica_id = report(store, 8000, 1)
    [first] = list_replicas(store)
    assert (first.id, first.host, first.port, first.pid, first.generation) == (
        replica_id,
        "127.0.0.1",
        8000,
        9000,
        1,
    )
    assert first.slots == SLOTS and first.error is None and first.stopped_at is None
    assert first.started_at == first.heartbeat_at and first.is_alive(utcnow())
    time.sleep(0.01)
    report(store, 8000, 2, error="artifact hash mismatch", slots={})
    [second] = list_replicas(store)
    assert (second.generation, second.slots, second.error) == (2, {}, "artifact hash mismatch")
    assert second.started_at == first.started_at and second.heartbeat_at > first.heartbeat_at
    report(store, 8000, 2)  # applied on the next try: the error is cleared
    assert list_replicas(store)[0].error is None


def test_stopped_and_silent_servers_are_not_alive(store: Store) -> None:
    stopped, silent, running = report(store, 8001, 1), report(store, 8002, 1), report(store, 8003, 1)
    mark_stopped(store, stopped)
    silence(store, silent, STALE_AFTER_S + 5)
    assert [r.id for r in list_replicas(store)] == [running]
    everything = {r.id: r for r in list_replicas(store, include_stale=True)}
    assert sorted(everything) == sorted([stopped, silent, running])
    now = utcnow()
    assert everything[stopped].stopped_at is not None and not everything[stopped].is_alive(now)
    assert not everything[silent].is_alive(now) and everything[silent].is_alive(now, within_s=3600)
    report(store, 8001, 2)  # a late heartbeat from a process shutting down does not revive it
    assert [r.id for r in list_replicas(store)] == [running]


def test_is_alive_reads_the_clock_it_is_given() -> None:
    t = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    replica = Replica("h:1:2", "h", 1, 2, t, t, 0, {}, None, None)
    assert replica.is_alive(t + dt.timedelta(seconds=STALE_AFTER_S))
    assert not replica.is_alive(t + dt.timedelta(seconds=STALE_AFTER_S + 0.1))


def test_waiting_with_no_server_running_returns_at_once(store: Store) -> None:
    report(store, 8004, 0)
    silence(store, "127.0.0.1:8004:9004", 60)
    started = time.monotonic()
    assert wait_for_generation(store, 5, timeout_s=10) == []
    assert time.monotonic() - started < 1


def test_waiting_for_a_generation_already_applied_returns_the_servers(store: Store) -> None:
    ids = [report(store, 8005, 3), report(store, 8006, 4)]  # a newer generation counts as applied
    assert [r.id for r in wait_for_generation(store, 3, timeout_s=5)] == ids


def test_waiting_until_a_server_applies_it_later_and_ignoring_a_dead_one(store: Store) -> None:
    dead = report(store, 8007, 1)
    silence(store, dead, 60)  # stuck on an old generation, but gone: nobody waits for it
    server = report(store, 8008, 1)

    def apply_later() -> None:
        time.sleep(0.6)
        report(store, 8008, 2)

    thread = threading.Thread(target=apply_later)
    thread.start()
    started = time.monotonic()
    applied = wait_for_generation(store, 2, timeout_s=10, poll_s=0.05)
    thread.join()
    assert [(r.id, r.generation) for r in applied] == [(server, 2)]
    assert 0.5 < time.monotonic() - started < 5


def test_a_server_that_failed_the_generation_stops_the_wait_with_its_error(store: Store) -> None:
    report(store, 8009, 2)
    report(store, 8010, 2, error="model v4 failed its skew check: 3 of 12 features differ")
    with pytest.raises(
        RolloutError,
        match="replica 127.0.0.1:8010:9010 failed to apply generation 2: model v4 failed its skew check",
    ) as caught:
        wait_for_generation(store, 2, timeout_s=10)
    assert caught.value.exit_code == 1 and "taxiway rollback" in caught.value.hint


def test_a_server_that_does_not_follow_times_out_naming_it(store: Store) -> None:
    report(store, 8011, 5)
    report(store, 8012, 4, error="artifact ab12 was changed after it was written")
    started = time.monotonic()
    with pytest.raises(
        RolloutError,
        match="1 of 2 replicas did not apply generation 5 within 0.3 s: "
        r"127.0.0.1:8012:9012 is on generation 4 \(last error: artifact ab12",
    ) as caught:
        wait_for_generation(store, 5, timeout_s=0.3, poll_s=0.05)
    assert 0.3 <= time.monotonic() - started < 3
    assert caught.value.exit_code == 1 and "--timeout" in caught.value.hint
