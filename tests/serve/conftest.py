"""Serving fixtures: a trained project per session, copied per test; `taxiway serve` as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from taxiway.charter import render_charter
from taxiway.cli import app
from taxiway.demo.flights import packaged_flights_file

TAXIWAY = str(Path(sys.executable).parent / "taxiway")
MIN_CONFIDENCE = 0.9  # the weather model is below this on about 12 of 3,000 rows: the low-confidence test
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def weather_rows(rows: int = 3_000) -> pd.DataFrame:
    """Hourly weather at New York's airports in 2013; target: warm (above 60 °F), temperature removed."""
    weather = pd.read_csv(packaged_flights_file().parent / "weather.csv").drop(columns=["time_hour", "year"])
    sample = weather.sample(n=rows, random_state=0).reset_index(drop=True)
    return sample.assign(warm=(sample["temp"] > 60).astype(int)).drop(columns=["temp"])


def train_weather(root: Path, *, settings: dict[str, Any] | None = None) -> Path:
    """A project on the weather rows, its data added and its models trained (about 5 s)."""
    root.mkdir(parents=True, exist_ok=True)
    answers = {"problem.ranking_metric": "log_loss", "problem.smallest_improvement": 0.01}
    text = render_charter(
        name="weather",
        task="classification",
        target="warm",
        answers=answers,
        settings={"serving.min_confidence": MIN_CONFIDENCE, **(settings or {})},
    )
    (root / "taxiway.toml").write_text(text, encoding="utf-8")
    weather_rows().to_csv(root / "weather.csv", index=False)
    runner = CliRunner()
    for command in (["data", "add", str(root / "weather.csv")], ["train"]):
        result = runner.invoke(app, ["--project", str(root), *command])
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="session")
def trained_weather(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained project for the whole session; tests that change its store use ``weather_project``."""
    return train_weather(tmp_path_factory.mktemp("serve") / "weather")


@pytest.fixture
def weather_project(trained_weather: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project (store and artifacts included)."""
    return Path(shutil.copytree(trained_weather, tmp_path / "weather"))


class RunningServer:
    """`taxiway serve` in a subprocess, on a socket this test bound to 127.0.0.1 port 0."""

    def __init__(self, root: Path, *args: str, workers: int = 1, env: dict[str, str] | None = None) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.root = root
        self.port = listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root.parent / f"serve-{self.port}.log"
        command = [
            TAXIWAY,
            "--project",
            str(root),
            "serve",
            "--fd",
            str(listener.fileno()),
            "--workers",
            str(workers),
            *args,
        ]
        environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, pass_fds=[listener.fileno()], stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        listener.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"taxiway serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"taxiway serve was not ready within {START_TIMEOUT_S} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM); fail loudly if shutdown hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"taxiway serve did not stop within {STOP_TIMEOUT_S} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the server and its workers (they share its process group only when spawned by it)."""
        for child in _children(self.process.pid):
            _kill(child)
        _kill(self.process.pid)
        self.process.wait(STOP_TIMEOUT_S)


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """``start_server(root, *args, workers=1)`` starts `taxiway serve`; each is stopped after the test."""
    started: list[RunningServer] = []

    def start(root: Path, *args: str, workers: int = 1, env: dict[str, str] | None = None) -> RunningServer:
        server = RunningServer(root, *args, workers=workers, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def request_rows(count: int = 3, *, start: int = 0) -> list[dict[str, Any]]:
    """Weather rows as a JSON client sends them (the target column removed; missing values as null)."""
    frame = weather_rows().drop(columns=["warm"]).iloc[start : start + count]
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def register_versions(root: Path) -> tuple[str, str]:
    """Register the weather candidate as v1 and the linear baseline as v2 (forced: not validated here)."""
    from taxiway import registry
    from taxiway.project import Project
    from taxiway.train.runs import list_runs

    project = Project.load(root)
    try:
        runs = {run.name: run.id for run in list_runs(project.store)}
        first, _ = registry.register(
            project.store, runs["candidate"], force=True, reason="test: no validation"
        )
        second, _ = registry.register(project.store, runs["linear"], force=True, reason="test: no validation")
    finally:
        project.store.close()
    return first.name, second.name


class Load:
    """Steady traffic from ``clients`` threads, each on its own keep-alive connection, until stopped."""

    def __init__(self, url: str, *, clients: int = 4, key: Callable[[int], str | None] | None = None) -> None:
        import threading

        self.url = url
        self.answers: list[tuple[float, int, str | None]] = []  # (time, status, version that answered)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._key = key
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]
        for thread in self._threads:
            thread.start()

    def _client(self, number: int) -> None:
        rows = request_rows(20)
        count = 0
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                count += 1
                headers = {}
                key = self._key(count * 100 + number) if self._key else None
                if key is not None:
                    headers["x-request-key"] = key
                try:
                    response = client.post(
                        "/predict", json={"rows": [rows[count % len(rows)]]}, headers=headers
                    )
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    continue
                version = response.headers.get("x-taxiway-model-version")
                self.answers.append((time.monotonic(), response.status_code, version))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def versions_since(self, moment: float) -> set[str | None]:
        return {version for at, _, version in self.answers if at >= moment}
