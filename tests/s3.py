"""A real S3 API server for the tests: moto's server mode, started as a subprocess on 127.0.0.1.

taxiway reaches it as it reaches any S3-compatible store (MinIO, Ceph, R2, AWS): through s3fs, with the
endpoint and credentials in the standard AWS variables (``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, …).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "taxiway-test",
    "AWS_SECRET_ACCESS_KEY": "taxiway-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    """A running moto server: its endpoint URL and process."""

    url: str
    process: subprocess.Popen[str]

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 / s3fs (and so taxiway) at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": self.url, "AWS_ENDPOINT_URL": self.url}


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """``python -m moto.server -H 127.0.0.1 -p 0`` until the block ends; the port is the one it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    drain: threading.Thread | None = None
    try:
        url = _announced_url(process)
        # Keep reading its log, so a full pipe never blocks the server.
        drain = threading.Thread(target=process.stderr.read, daemon=True)
        drain.start()
        _wait_until_answering(url)
        yield S3Server(url, process)
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the moto server did not stop within {STOP_TIMEOUT_S} s") from None
        finally:
            if drain is not None:
                drain.join(STOP_TIMEOUT_S)
            process.stderr.close()


def _announced_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # werkzeug prints " * Running on http://127.0.0.1:PORT" once it listens
        seen.append(line)
        match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return match.group(1)
    raise AssertionError(f"the moto server exited ({process.wait()}) before listening: {''.join(seen)}")


def _wait_until_answering(url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=5)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
