"""The browser tests' session: the trained project (and its deployed copy) served by real `taxiway ui`
processes, and Chromium.

Chromium is Debian's (`make test` installs the package when run as root); Playwright only drives it, so
`playwright install` is never needed. Without the browser these tests fail: they never skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, sync_playwright

from tests.ui.deployed import DeployedProject, shared_deployed_project
from tests.ui.trained import TrainedProject, shared_trained_project

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENS = Path(__file__).parent / "screens"
TAXIWAY = str(Path(sys.executable).with_name("taxiway"))
STOP_TIMEOUT_S = 15


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedProject:
    return shared_trained_project(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def ui_url(trained: TrainedProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`taxiway ui --port 0` as a user runs it; its address is the line it prints."""
    with _taxiway_ui(trained.root, tmp_path_factory.mktemp("ui") / "stderr.log") as url:
        yield url


@pytest.fixture(scope="session")
def deployed(trained: TrainedProject, tmp_path_factory: pytest.TempPathFactory) -> DeployedProject:
    return shared_deployed_project(trained, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def deployed_ui_url(deployed: DeployedProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`taxiway ui` on the deployed copy: registered versions, deployments, replicas, snapshots."""
    with _taxiway_ui(deployed.root, tmp_path_factory.mktemp("ui-deployed") / "stderr.log") as url:
        yield url


@contextmanager
def _taxiway_ui(root: Path, log: Path) -> Iterator[str]:
    """Run `taxiway ui --port 0` on the project in ``root`` until the block ends; yield its address."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [TAXIWAY, "--project", str(root), "ui", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    try:
        assert line.startswith("taxiway ui: serving"), (line, log.read_text())
        yield line.split(" at ")[1].split()[0].rstrip("/")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"taxiway ui did not stop within {STOP_TIMEOUT_S} s of Ctrl+C")
        finally:
            process.stdout.close()
        assert code == 0, log.read_text()


@pytest.fixture(scope="session")
def browser() -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile, at a desktop size."""
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root)"
    SCREENS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="taxiway-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
            env={**os.environ, "TZ": "UTC"},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Watched:
    """What a page did: its console errors, uncaught exceptions and every request it made."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def shoot(self, name: str) -> Path:
        path = SCREENS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def watched(browser: BrowserContext) -> Iterator[Watched]:
    """A new tab whose console errors fail the test, as does any request that leaves 127.0.0.1."""
    page = browser.new_page()
    seen = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def on_request(request: Request) -> None:
        seen.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(f"page error: {error}"))
    page.on("request", on_request)
    try:
        yield seen
    finally:
        page.close()
    assert seen.requests, "the page made no request at all"
    elsewhere = [url for url in seen.requests if urlsplit(url).hostname != "127.0.0.1"]
    assert not elsewhere, f"requests left 127.0.0.1: {elsewhere}"
    assert not seen.errors, seen.errors
