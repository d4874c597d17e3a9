"""Drills: `kill -9` of the `taxiway serve` parent, and a second server asked for a port in use.

Workers must not outlive their parent (they served the port unsupervised, and a new `taxiway serve` failed
with "address already in use"); a port held by an earlier server of the project is named with its process;
the folders of Prometheus's multiprocess files go when their server stops, or with the next one after a kill.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from taxiway.serve.supervision import METRICS_PREFIX
from tests.serve.server import (
    ROW,
    cli_result,
    deployed_project,
    running_server,
    start_server,
    stop_server,
    wait_for_workers,
    wait_ready,
)

GONE_TIMEOUT_S = 60  # how long the workers may take to notice (they check every second)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "drills-supervision")


def _metrics_owners(parent: Path) -> list[str]:
    """The pids named by the `taxiway-metrics-<pid>-*` folders in ``parent``."""
    return sorted(folder.name.split("-")[2] for folder in parent.glob(f"{METRICS_PREFIX}*"))


def test_workers_exit_when_the_parent_is_killed_and_the_port_serves_again(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also the `taxiway-metrics-*` folders (Prometheus's multiprocess files), which nobody removed: the
    killed server's goes with the next server, and that one's when it stops."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics))  # where the servers started here make them
    server = start_server(project, "--workers", "2", log_dir=tmp_path)
    try:
        wait_ready(server)
        wait_for_workers(project, server, 2)
        port = server.url.rsplit(":", 1)[1]
        workers = psutil.Process(server.process.pid).children(recursive=True)
        assert len(workers) >= 2
        server.process.kill()  # kill -9 of the parent
        server.process.wait()
        _, alive = psutil.wait_procs(workers, timeout=GONE_TIMEOUT_S)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    finally:
        stop_server(server)
    assert _metrics_owners(metrics) == [str(server.process.pid)]  # nothing of it ran to clean up
    with (
        running_server(project, "--port", port, "--workers", "2", log_dir=tmp_path) as again,
        again.client() as client,
    ):
        assert again.url.endswith(f":{port}")
        response = client.post("/predict", json={"row": ROW})
        assert response.status_code == 200, response.text
        assert _metrics_owners(metrics) == [str(again.process.pid)]  # the killed server's is gone
    assert _metrics_owners(metrics) == []  # Ctrl+C: its own is removed too


def test_a_port_held_by_an_earlier_server_is_named(project: Path, tmp_path: Path) -> None:
    with running_server(project, log_dir=tmp_path) as first:
        port = first.url.rsplit(":", 1)[1]
        second = cli_result(project, "serve", "--port", port)
        assert second.exit_code == 2, second.output
        assert (
            f"port {port} is held by an earlier `taxiway serve` of this project: process {first.process.pid}"
            in " ".join(second.output.split())
        ), second.output
        assert f"kill {first.process.pid}" in second.output
