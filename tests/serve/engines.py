"""Debian's nginx and Prometheus, started by the tests on 127.0.0.1 with configurations in a temporary folder.

Both are system packages (scripts/system-packages.sh installs them when `make test` runs as root); the
tests start them as the current user, with every path (pid file, logs, temporary files, the TSDB) in the
test's folder, and stop them at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A port free on 127.0.0.1 now (the engine binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nginx_main_config(folder: Path, site: Path) -> str:
    """A whole nginx.conf around ``site`` (what Debian's /etc/nginx/nginx.conf does with sites-enabled/)."""
    # As root, nginx's workers drop to `nobody`, who cannot enter pytest's private temporary folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in kinds)
    return (
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )


def nginx_test(folder: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on the configuration in ``folder``."""
    command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-t"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def write_nginx(folder: Path, site_text: str) -> Path:
    """Write the site and the main configuration into ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    site = folder / "taxiway-site.conf"
    site.write_text(site_text, encoding="utf-8")
    (folder / "nginx.conf").write_text(nginx_main_config(folder, site), encoding="utf-8")
    return folder


@contextmanager
def running_nginx(folder: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground on the configuration in ``folder`` until the block ends; ready once
    ``url``/health answers (through it, from a replica)."""
    command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: _answers(f"{url}/health"), process, "nginx", folder / "error.log")
        yield process
    finally:
        _stop(process)


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The result vector of an instant query."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        """The single value of an instant query, or None when it returns nothing."""
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None


@contextmanager
def running_prometheus(folder: Path, targets: Path, *, job: str = "taxiway") -> Iterator[Prometheus]:
    """Prometheus scraping every target the files ``targets``/*.json name, each second."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {job}\n    scrape_timeout: 1s\n"
        f"    file_sd_configs:\n      - files: ['{targets}/*.json']\n        refresh_interval: 1s\n",
        encoding="utf-8",
    )
    port = free_port()
    log = folder / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _answers(f"{url}/-/ready"), process, "prometheus", log)
        yield Prometheus(url, process, log)
    finally:
        _stop(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(ready: Any, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}: {_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{name} was not ready within {START_TIMEOUT_S} s: {_tail(log)}")
        time.sleep(0.1)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
