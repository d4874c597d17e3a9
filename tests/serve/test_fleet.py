"""Three `taxiway serve` replicas behind Debian's nginx, sharing their desired state through PostgreSQL and
scraped by Debian's Prometheus through the file-SD targets they write. One fleet for the module; the tests
change it in order, on purpose:

1. a blue/green switch under load through nginx loses no request; `taxiway deploy` returns once every
   replica applied it, and `taxiway status` shows each replica;
2. Prometheus's summed request counter equals the requests the client sent, exactly, across that switch and
   a worker restarted inside a replica (prometheus_client's multiprocess mode);
3. a replica killed with kill -9 in the middle of a switch does not block it, and catches up when restarted.

About PostgreSQL by nature (the store is the replicas' only channel): it runs in the SQLite pass only, on a
database of its own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from taxiway.deploy import list_replicas
from taxiway.project import Project
from taxiway.train.runs import list_runs
from tests.backend import DATABASES
from tests.serve.engines import (
    Prometheus,
    free_port,
    nginx_test,
    running_nginx,
    running_prometheus,
    write_nginx,
)
from tests.serve.server import ROW, Server, Traffic, cli, cli_result, start_server, stop_server, wait_ready
from tests.validate.trained_model import trained_project

pytestmark = pytest.mark.one_backend
TAXIWAY = [sys.executable, "-c", "from taxiway.cli import main; main()"]
WAIT_S = 120.0
PREDICT_SENT = 'sum(taxiway_requests_total{job="taxiway",route="/predict"})'


@dataclass
class Fleet:
    root: Path
    replicas: list[Server]
    ports: list[int]
    balancer: Server  # nginx: Traffic and clients talk to it as to one server
    prometheus: Prometheus
    targets: Path
    logs: Path
    sent: int = 0  # /predict requests answered through nginx so far (every one a 200: asserted as sent)


def _wait_for(condition: Callable[[], Any], what: str | Callable[[], str], timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"waited {timeout_s} s for {what if isinstance(what, str) else what()}")


def _replicas_on(root: Path, port: int) -> list[Any]:
    store = Project.load(root).store
    try:
        return [r for r in list_replicas(store) if r.port == port]
    finally:
        store.close()


def _workers(server: Server) -> list[psutil.Process]:
    """The live uvicorn worker processes of a `taxiway serve --workers N` (spawned children)."""
    found = []
    for child in psutil.Process(server.process.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any("spawn_main" in p for p in child.cmdline()):
                found.append(child)
        except psutil.Error:  # it exited while we looked
            pass
    return found


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited; its supervisor reaps it at its next check
    except psutil.Error:
        return True


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    uri = DATABASES.fresh()
    root = trained_project(folder / "weather", store_uri=uri)
    runs = {run.name: run.id for run in list_runs(Project.load(root).store)}
    for name in ("candidate", "linear"):
        cli(root, "register", runs[name], "--force", "--reason", "fleet tests")
    cli(root, "deploy", "v1", "--force", "--reason", "fleet tests", "--no-wait")
    targets, logs = folder / "targets", folder / "logs"
    logs.mkdir()
    ports = [free_port() for _ in range(3)]
    # The first replica has two workers (one is restarted in test 2); the others one each.
    replicas = [
        start_server(
            root,
            "--port",
            str(port),
            "--workers",
            "2" if number == 0 else "1",
            "--prometheus-targets",
            str(targets),
            log_dir=logs,
        )
        for number, port in enumerate(ports)
    ]
    try:
        for replica in replicas:
            wait_ready(replica)
        _wait_for(lambda: len(_replicas_on(root, ports[0])) == 2, "both workers of the first replica")
        site = cli(
            root,
            "serve",
            "--print-nginx",
            "--nginx-listen",
            f"127.0.0.1:{(nginx_port := free_port())}",
            *[arg for port in ports for arg in ("--upstream", f"127.0.0.1:{port}")],
        )
        nginx_folder = write_nginx(folder / "nginx", site)
        checked = nginx_test(nginx_folder)
        assert checked.returncode == 0, checked.stderr
        url = f"http://127.0.0.1:{nginx_port}"
        with (
            running_nginx(nginx_folder, url) as nginx,
            running_prometheus(folder / "prometheus", targets) as prometheus,
        ):
            yield Fleet(root, replicas, ports, Server(url, nginx, logs / "nginx"), prometheus, targets, logs)
    finally:
        for replica in replicas:
            stop_server(replica)


def _deploy(fleet: Fleet, version: str, *extra: str) -> dict[str, Any]:
    args = ("deploy", version, "--force", "--reason", "fleet", *extra, "--format", "json")
    result = cli_result(fleet.root, *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _status(fleet: Fleet) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(cli(fleet.root, "status", "--format", "json"))
    return document


def test_a_blue_green_switch_across_replicas_under_load_loses_no_request(fleet: Fleet) -> None:
    with Traffic(fleet.balancer, threads=4, prefix="switch") as traffic:
        traffic.wait_for(60)
        deployed = _deploy(fleet, "v2", "--timeout", str(WAIT_S))
        switched_at = time.monotonic()
        traffic.wait_for(60, sent_after=switched_at)
    answered = traffic.answered
    failed = [a for a in answered if a.status != 200]
    assert not failed, f"{len(failed)} of {len(answered)} requests failed, e.g. {failed[:3]}"
    assert {a.version for a in answered} == {"v1", "v2"}
    assert {a.version for a in answered if a.sent > switched_at} == {"v2"}, "deploy returned before a replica"
    generation = deployed["state"]["generation"]
    applied = {r["port"] for r in deployed["replicas"] if r["generation"] >= generation}
    assert set(fleet.ports) <= applied, deployed["replicas"]
    shown = [r for r in _status(fleet)["replicas"] if r["alive"] and r["port"] in fleet.ports]
    assert sorted({r["port"] for r in shown}) == sorted(fleet.ports)
    assert all(r["generation"] == generation and r["error"] is None for r in shown)
    text = cli(fleet.root, "status")
    assert all(f":{port} " in text for port in fleet.ports), text
    fleet.sent += len(answered)


def test_prometheus_sums_the_requests_sent_exactly_across_a_switch_and_a_worker_restart(fleet: Fleet) -> None:
    up = 'count(up{job="taxiway"} == 1)'
    _wait_for(lambda: fleet.prometheus.value(up) == 3, "Prometheus to scrape the three replicas")
    assert len(list(fleet.targets.glob("*.json"))) == 3
    first = fleet.replicas[0]
    [doomed, _] = _workers(first)
    with Traffic(fleet.balancer, threads=4, prefix="restart") as traffic:
        traffic.wait_for(40)
        doomed.send_signal(signal.SIGTERM)  # a graceful stop: uvicorn's supervisor starts another
        _wait_for(lambda: _gone(doomed), "the worker to finish its requests and stop")
        _wait_for(
            lambda: len(_workers(first)) == 2 and len(_replicas_on(fleet.root, fleet.ports[0])) == 2,
            "the supervisor to replace the stopped worker",
            # uvicorn's supervisor checks its workers in turn (a ping of a busy live worker may wait up to
            # 60 s, see serve/run.py), then the new one imports the service and loads the models.
            timeout_s=300.0,
        )
        _deploy(fleet, "v1", "--timeout", str(WAIT_S))  # and back to blue, under the same load
        traffic.wait_for(40, sent_after=time.monotonic())
    failed = [a for a in traffic.answered if a.status != 200]
    assert not failed, f"{len(failed)} of {len(traffic.answered)} requests failed, e.g. {failed[:3]}"
    fleet.sent += len(traffic.answered)
    # Each worker publishes its counts within a second and Prometheus scrapes each second: wait for the
    # sum to reach the count, then hold it there for a few scrapes (an overcount would show by then).
    seen: list[float | None] = []

    def summed() -> bool:
        seen.append(fleet.prometheus.value(PREDICT_SENT))
        return seen[-1] == fleet.sent

    _wait_for(summed, lambda: f"Prometheus's sum to reach {fleet.sent} (it says {seen[-1:]})")
    for _ in range(3):
        time.sleep(1.5)
        assert fleet.prometheus.value(PREDICT_SENT) == fleet.sent
    by_replica = fleet.prometheus.query(f"sum by (instance) ({PREDICT_SENT[4:-1]})")
    assert len(by_replica) == 3 and all(float(r["value"][1]) > 0 for r in by_replica), by_replica


def test_a_replica_killed_mid_switch_does_not_block_the_others_and_catches_up(fleet: Fleet) -> None:
    victim, port = fleet.replicas[2], fleet.ports[2]
    before = _status(fleet)["state"]["generation"]
    deployer = subprocess.Popen(
        [*TAXIWAY, "--project", str(fleet.root), "deploy", "v2", "--force", "--reason", "kill"]
        + ["--timeout", str(WAIT_S), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    victim.process.kill()  # kill -9 while the switch is under way: no goodbye in the store
    victim.process.wait()
    stop_server(victim)  # reaps it and closes its pipe
    out, err = deployer.communicate(timeout=WAIT_S + 60)
    assert deployer.returncode == 0, err.decode()[-2000:]
    deployed = json.loads(out)
    generation = deployed["state"]["generation"]
    assert generation > before
    ports = {r["port"] for r in deployed["replicas"]}
    assert {fleet.ports[0], fleet.ports[1]} <= ports and port not in ports, deployed["replicas"]
    with fleet.balancer.client() as client:  # nginx skips the dead replica
        for _ in range(10):
            response = client.post("/predict", json={"row": ROW})
            assert response.status_code == 200 and response.json()["model"]["version"] == "v2"
    restarted = start_server(
        fleet.root, "--port", str(port), "--prometheus-targets", str(fleet.targets), log_dir=fleet.logs
    )
    fleet.replicas[2] = restarted
    wait_ready(restarted)
    caught_up = _wait_for(
        lambda: [r for r in _replicas_on(fleet.root, port) if r.generation == generation],
        "the restarted replica to apply the generation it missed",
    )
    assert caught_up[0].pid == restarted.process.pid and caught_up[0].error is None
    shown = {r["port"]: r for r in _status(fleet)["replicas"] if r["alive"]}
    assert all(shown[p]["generation"] == generation for p in fleet.ports), shown

