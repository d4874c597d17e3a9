"""Real `taxiway serve` processes for the serving tests, on a trained, registered, deployed project.

The project is the weather project of :mod:`tests.evaluate.trained_model` (real data, real `taxiway train`),
copied per test module; its candidate and its linear baseline are registered as v1 and v2 through the CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import PROJECT_ENV, Project
from taxiway.train.runs import list_runs
from tests.evaluate.trained_model import trained_copy

TAXIWAY = str(Path(sys.executable).with_name("taxiway"))
READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20

# One valid row of the weather data, as a client sends it.
ROW = {
    "origin": "EWR",
    "month": 6,
    "day": 19,
    "hour": 1,
    "dewp": 62.06,
    "humid": 93.28,
    "wind_dir": 10.0,
    "wind_speed": 12.6,
    "wind_gust": None,
    "precip": 0.0,
    "pressure": 1012.0,
    "visib": 10.0,
}


def cli(root: Path, *args: str) -> str:
    """Run a taxiway command on ``root`` in this process; fail the test on exit codes other than 0."""
    saved = os.environ.get(PROJECT_ENV)
    try:
        result = CliRunner().invoke(app, ["--project", str(root), *args])
    finally:
        if saved is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = saved
    assert result.exit_code == 0, (args, result.output)
    return result.output


def deployed_project(factory: pytest.TempPathFactory, name: str) -> Path:
    """A trained weather project with v1 (the candidate) and v2 (the linear baseline) registered, v1 live."""
    root = trained_copy(factory, factory.mktemp(name) / "weather")
    runs = {run.name: run.id for run in list_runs(Project.load(root).store)}
    cli(root, "register", runs["candidate"], "--force", "--reason", "serving tests")
    cli(root, "register", runs["linear"], "--force", "--reason", "serving tests")
    cli(root, "deploy", "v1", "--force", "--reason", "serving tests", "--no-wait")
    return root


@dataclass
class Server:
    """A running `taxiway serve` process and its address."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **options)  # type: ignore[arg-type]


@contextmanager
def running_server(root: Path, *args: str, log_dir: Path) -> Iterator[Server]:
    """``taxiway serve --port 0 ARGS`` until the block ends (then Ctrl+C, and it must exit 0)."""
    log = log_dir / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [TAXIWAY, "--project", str(root), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("taxiway serve: serving"), (line, log.read_text())
    url = line.split(" at ")[1].split()[0].rstrip("/")
    server = Server(url, process, log)
    try:
        wait_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"taxiway serve did not stop within {STOP_TIMEOUT_S} s of Ctrl+C: {log.read_text()}")
        finally:
            process.stdout.close()
        assert code == 0, log.read_text()


def wait_ready(server: Server, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll /health until it answers 200 (a live model loaded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"taxiway serve exited with {server.process.returncode}: {server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"taxiway serve was not ready within {timeout_s} s: {server.log.read_text()}")
