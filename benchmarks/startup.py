"""How long a command waits before it starts: ``import taxiway`` and ``taxiway --help``, beside MLflow's.

Each figure is the median of ``--repeat`` fresh processes. Wall time on a shared machine mostly measures the
other tenants, so CPU time of the child process (user + system, from ``resource.getrusage``) is reported
beside it; ``python -X importtime`` names the slowest imports of ``import taxiway``.

Run: ``.venv/bin/python benchmarks/startup.py --repeat 10``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _time(command: list[str]) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _median(command: list[str], repeat: int) -> tuple[float, float]:
    _time(command)  # warm the file cache: the first run measures the disk
    runs = [_time(command) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _slowest_imports(module: str, count: int = 5) -> list[tuple[int, str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines()[1:]:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            rows.append((int(parts[1]), parts[2]))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    cases = {
        "import taxiway": [sys.executable, "-c", "import taxiway"],
        "import mlflow": [sys.executable, "-c", "import mlflow"],
        "taxiway --help": [str(BIN / "taxiway"), "--help"],
        "mlflow --help": [str(BIN / "mlflow"), "--help"],
    }
    print(f"load average {os.getloadavg()[0]:.1f}; median of {args.repeat} processes")
    figures = {}
    for name, command in cases.items():
        figures[name] = _median(command, args.repeat)
        wall, cpu = figures[name]
        print(f"{name:16} wall {wall:6.3f} s   cpu {cpu:6.3f} s")
    for ours, theirs in (("import taxiway", "import mlflow"), ("taxiway --help", "mlflow --help")):
        ratio = figures[theirs][1] / figures[ours][1]
        print(f"{theirs} / {ours} (cpu): {ratio:.1f}x")
    print("slowest imports under `import taxiway` (cumulative µs):")
    for micros, name in _slowest_imports("taxiway"):
        print(f"  {micros:8d}  {name}")


if __name__ == "__main__":
    main()
