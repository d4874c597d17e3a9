"""`taxiway ui` as users start it: a real process, its printed address, its evidence, its refusals."""

from __future__ import annotations

import html
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence
from taxiway.ui.served import prove_served

TAXIWAY = str(Path(sys.executable).with_name("taxiway"))
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


def served_record(project: Path, *, timeout_s: float = START_TIMEOUT_S * 4) -> Evidence:
    """The ``ui.served`` record, once the running dashboard has fetched its own pages and recorded it."""
    deadline = time.monotonic() + timeout_s
    loaded = Project.load(project)
    try:
        while True:
            found = loaded.store.evidence.latest([Check.UI_SERVED]).get(Check.UI_SERVED)
            if found is not None:
                return found
            assert time.monotonic() < deadline, "taxiway ui never recorded ui.served"
            time.sleep(0.1)  # polling a condition, with a deadline
    finally:
        loaded.store.close()


@contextmanager
def running_ui(
    project: Path, *args: str, env: dict[str, str] | None = None, stop: signal.Signals = signal.SIGINT
) -> Iterator[tuple[str, str]]:
    """Start `taxiway ui`, wait for the address it prints; yields (address, printed line); then ``stop``."""
    log = project / "ui-stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [TAXIWAY, "--project", str(project), "ui", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()  # the first line is the address, printed once it listens
        assert line.startswith("taxiway ui: serving"), (line, log.read_text())
        yield line.split(" at ")[1].split()[0].split("?")[0], line
    finally:
        process.send_signal(stop)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"taxiway ui did not stop within {STOP_TIMEOUT_S} s of {stop.name}")
        finally:
            assert process.stdout is not None
            process.stdout.close()
        assert code == 0, log.read_text()


@pytest.fixture
def project(tmp_path: Path, make_project: Callable[..., Path]) -> Path:
    return make_project(tmp_path / "p")


def test_it_serves_prints_its_address_and_records_it_for_the_checklist(project: Path) -> None:
    with running_ui(project, "--port", "0") as (url, _):
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        page = httpx.get(url + "runs", timeout=30)
        assert page.status_code == 200 and "No runs yet" in page.text
        served_record(project)
        checklist = html.unescape(httpx.get(url + "checklist", timeout=30).text)
        assert f"There's a metrics webpage where I can compare runs and the url is {url}" in checklist
    loaded = Project.load(project)
    try:
        record = loaded.store.evidence.latest([Check.UI_SERVED])[Check.UI_SERVED]
    finally:
        loaded.store.close()
    assert (
        record.status == "pass" and record.subject_kind == "project" and record.subject_id == "test-project"
    )
    assert record.details["url"] == url and record.details["token_required"] is False
    assert record.value == 1.0 and record.details["pages"] == [
        {"path": "runs", "ok": True, "http_status": 200}
    ]
    runner = CliRunner()
    report = json.loads(runner.invoke(app, ["--project", str(project), "check", "--format", "json"]).stdout)
    item = next(i for s in report["sections"] for i in s["items"] if i["id"] == "modelling.metrics_webpage")
    assert item["state"] == "proven" and item["text"].endswith(url)


def test_a_token_is_printed_once_and_never_recorded(project: Path) -> None:
    secret = "s3cret-token"
    with running_ui(project, "--port", "0", env={"TAXIWAY_UI_TOKEN": secret}, stop=signal.SIGTERM) as (
        url,
        line,
    ):
        assert line.strip().endswith(f"?token={secret} (Ctrl+C stops)")
        assert httpx.get(url + "runs", timeout=30).status_code == 401
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get(f"/runs?token={secret}", follow_redirects=True).status_code == 200
        record = served_record(project)
        assert record.status == "pass"
        # The same dashboard asked without its token answers 401: not a page anyone can read, so it fails.
        loaded = Project.load(project)
        try:
            refused = prove_served(loaded.store, "test-project", url)
        finally:
            loaded.store.close()
        assert refused.status == "fail" and refused.value == 0.0
        assert refused.details["pages"][0]["http_status"] == 401
    assert secret not in json.dumps(record.details) and record.details["token_required"] is True


def test_another_host_without_a_token_is_refused(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["--project", str(project), "ui", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "error: --host 0.0.0.0 would let other machines read" in result.stderr
    assert "hint: add --token SECRET" in result.stderr


def test_a_port_in_use_is_a_clear_error(project: Path, runner: CliRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["--project", str(project), "ui", "--port", str(port)])
    assert result.exit_code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "hint: pick another port with --port N, or --port 0" in result.stderr
