"""Real `taxiway serve` processes for the serving tests, on a trained, registered, deployed project.

The project is the weather project of :mod:`tests.validate.trained_model` (real data, real `taxiway train`),
copied per test module; its candidate and its linear baseline are registered as v1 and v2 through the CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest
from typer.testing import CliRunner, Result

from taxiway.cli import app
from taxiway.project import PROJECT_ENV, Project
from taxiway.train.runs import list_runs
from tests.validate.trained_model import trained_copy

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

# Rows every protocol's test sends: the second falls back (out of the training range).
PROTOCOL_ROWS: list[dict[str, Any]] = [
    ROW,
    {**ROW, "dewp": 620.0},
    {**ROW, "origin": "JFK", "hour": 14, "wind_gust": 25.3},
    {**ROW, "humid": 40.0, "dewp": 20.5, "pressure": None},
]


def native_answer(server: Server, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the native /predict answers for ``rows``: every other protocol must say the same."""
    with server.client() as client:
        response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def cli(root: Path, *args: str) -> str:
    """Run a taxiway command on ``root`` in this process; fail the test on exit codes other than 0."""
    result = cli_result(root, *args)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def cli_result(root: Path, *args: str) -> Result:
    """Run a taxiway command on ``root`` in this process and return how it ended, whatever its exit code."""
    saved = os.environ.get(PROJECT_ENV)
    try:
        return CliRunner().invoke(app, ["--project", str(root), *args])
    finally:
        if saved is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = saved


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
    server = start_server(root, *args, log_dir=log_dir)
    try:
        wait_ready(server)
        yield server
    finally:
        stop_server(server)


def start_server(root: Path, *args: str, log_dir: Path) -> Server:
    """Start ``taxiway serve --port 0 ARGS`` and return once it printed its address (not yet ready:
    see :func:`wait_ready`), so several servers can load their models at the same time."""
    log = log_dir / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [TAXIWAY, "--project", str(root), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("taxiway serve: serving"):
        process.kill()
        process.wait()
        process.stdout.close()
        pytest.fail(f"taxiway serve did not start: {line!r} {log.read_text()}")
    url = line.split(" at ")[1].split()[0].rstrip("/")
    return Server(url, process, log)


def stop_server(server: Server) -> None:
    """Ctrl+C; the server must exit 0 within ``STOP_TIMEOUT_S`` (a killed one is only reaped)."""
    process = server.process
    assert process.stdout is not None
    if process.poll() is not None:  # killed by the test (kill -9): nothing left to stop
        process.stdout.close()
        return
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        log = server.log.read_text()
        pytest.fail(f"taxiway serve did not stop within {STOP_TIMEOUT_S} s of Ctrl+C: {log}")
    finally:
        process.stdout.close()
    assert code == 0, server.log.read_text()


def wait_ready(server: Server, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll /health until it answers 200 (a live model loaded)."""
    deadline = time.monotonic() + timeout_s
    # One client for all the polls: building one costs ~50 ms of CPU (its TLS context), which a server
    # loading its model on two shared cores would feel at ten polls a second.
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(
                    f"taxiway serve exited with {server.process.returncode}: {server.log.read_text()}"
                )
            try:
                if client.get(f"{server.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"taxiway serve was not ready within {timeout_s} s: {server.log.read_text()}")


def wait_for_workers(root: Path, server: Server, workers: int, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until ``workers`` processes of ``server`` report themselves alive in the store.

    :func:`wait_ready` sees one worker answer; with ``--workers N`` the others may still be loading.
    """
    from taxiway.deploy import list_replicas

    port = int(server.url.rsplit(":", 1)[1])
    store = Project.load(root).store
    deadline = time.monotonic() + timeout_s
    try:
        while len([r for r in list_replicas(store) if r.port == port]) < workers:
            if server.process.poll() is not None:
                pytest.fail(
                    f"taxiway serve exited with {server.process.returncode}: {server.log.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{workers} workers were not ready within {timeout_s} s: {server.log.read_text()}"
                )
            time.sleep(0.2)
    finally:
        store.close()


@dataclass(frozen=True)
class Answered:
    """One request of :class:`Traffic`: when it was sent and answered (monotonic seconds), and how."""

    request_id: str
    sent: float
    done: float
    status: int | None  # None: no HTTP answer at all (``error`` says what happened)
    version: str | None
    error: str | None = None


@dataclass
class Traffic:
    """Client threads posting ``{"row": ROW}`` to /predict without pause, each on its own keep-alive
    connection, recording every request; use as ``with Traffic(server, threads=4) as traffic:``.

    Request ids are ``<prefix>-<thread>-<n>`` (sent as ``x-request-id``), so logs can be matched to them.
    """

    server: Server
    threads: int = 4
    prefix: str = "load"
    row: dict[str, Any] = field(default_factory=lambda: dict(ROW))
    answered: list[Answered] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Self:
        for number in range(self.threads):
            worker = threading.Thread(target=self._send, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)
        assert not any(worker.is_alive() for worker in self._workers), "a traffic thread did not stop"

    def wait_for(self, count: int, *, sent_after: float = 0.0, timeout_s: float = 60.0) -> None:
        """Block until ``count`` requests sent after ``sent_after`` were answered (or failed)."""
        deadline = time.monotonic() + timeout_s
        while sum(1 for a in list(self.answered) if a.sent > sent_after) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"fewer than {count} requests answered within {timeout_s} s")
            time.sleep(0.02)

    def _send(self, number: int) -> None:
        # Everything is caught: an exception escaping a thread would only surface as a warning.
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                request_id = f"{self.prefix}-{number}-{n}"
                n += 1
                sent = time.monotonic()
                try:
                    response = client.post(
                        "/predict", json={"row": self.row}, headers={"x-request-id": request_id}
                    )
                    version = None
                    if response.status_code == 200:
                        version = response.json()["model"]["version"]
                    done = time.monotonic()
                    self.answered.append(Answered(request_id, sent, done, response.status_code, version))
                except Exception as error:  # noqa: BLE001 - recorded; the test decides what it means
                    done = time.monotonic()
                    self.answered.append(
                        Answered(request_id, sent, done, None, None, f"{type(error).__name__}: {error}")
                    )
                    time.sleep(0.01)
