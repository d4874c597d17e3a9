"""Capacity: the requests per second a running `taxiway serve` sustains within the charter's p99 latency.

wrk (Debian's ``wrk`` package) drives the server with one valid row per request at 1, 2, 4, ... connections,
each step for ``duration_s``; the capacity is the best throughput of a step whose p99 stayed within
``serving.p99_latency_ms`` and which had no errors. It is recorded as ``monitor.capacity`` about the live
deployment, judged against ``serving.min_throughput_rps``, and live throughput is then judged against it
(:mod:`taxiway.monitor.live_limits`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxiway.errors import TaxiwayError

_LUA = """
local file = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Step:
    """One load level: connections, the throughput reached, its p99 latency and errors."""

    connections: int
    requests_per_second: float
    p99_ms: float
    errors: int


def run_wrk(url: str, body: dict[str, Any], *, connections: int, duration_s: float, threads: int = 1) -> Step:
    """One wrk run POSTing ``body`` to ``url`` with ``connections`` open connections.

    Raises:
        TaxiwayError: wrk is not installed, or did not report.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise TaxiwayError("wrk is not installed", hint="apt-get install wrk (Debian's package)")
    with tempfile.TemporaryDirectory(prefix="taxiway-wrk-") as folder:
        script, payload = Path(folder) / "post.lua", Path(folder) / "body.json"
        script.write_text(_LUA, encoding="utf-8")
        payload.write_text(json.dumps(body), encoding="utf-8")
        done = subprocess.run(
            [wrk, "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{duration_s:g}s",
             "-s", str(script), url],
            capture_output=True,
            text=True,
            env={"WRK_BODY_FILE": str(payload), "PATH": "/usr/bin:/bin"},
            check=False,
        )  # fmt: skip
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise TaxiwayError(
            f"wrk did not report on {url}: {done.stderr.strip() or done.stdout.strip()}",
            hint="is the server up? give the address taxiway serve printed, with /predict",
        )
    figures = json.loads(line.removeprefix("WRK_JSON "))
    seconds = max(figures["duration_us"] / 1e6, 1e-9)
    return Step(connections, figures["requests"] / seconds, figures["p99_us"] / 1000, int(figures["errors"]))


def measure_capacity(
    url: str,
    body: dict[str, Any],
    *,
    p99_limit_ms: float,
    target_rps: float,
    duration_s: float = 5.0,
    max_connections: int = 16,
) -> tuple[float, list[Step]]:
    """Raise the load until p99 breaks the limit, errors appear, the target is passed twice over, or
    ``max_connections``; returns the best throughput within the limit (0 if none) and every step."""
    steps: list[Step] = []
    connections = 1
    best = 0.0
    while connections <= max_connections:
        step = run_wrk(url, body, connections=connections, duration_s=duration_s)
        steps.append(step)
        if step.errors or step.p99_ms > p99_limit_ms:
            break
        best = max(best, step.requests_per_second)
        if best >= 2 * target_rps:
            break
        connections *= 2
    return best, steps
