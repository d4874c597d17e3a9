"""Unit tests with coverage of the feature code: pytest under coverage.py, in the project's folder.

The feature code is the project's pipeline.py (what `taxiway init` writes and `taxiway train` imports): the
share of its lines the unit tests run is ML Test Score D7's measure ("all input feature code is tested").
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from taxiway.ci.junit import Case, read_cases
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.train.unit_tests import run_tests

FEATURE_CODE = "pipeline.py"
_NO_TESTS_COLLECTED = 5


@dataclass(frozen=True)
class UnitRun:
    """The unit tests' cases and the coverage of the feature code (None: there is no pipeline.py)."""

    cases: list[Case]
    coverage: float | None
    lines: int
    missed_lines: list[int]
    seconds: float

    @property
    def failures(self) -> int:
        return sum(1 for case in self.cases if case.failure is not None)


def run_unit(project: Project, *, path: str = "tests", timeout_s: float = 600.0) -> UnitRun:
    """Run pytest on ``path`` under coverage.py; record ``model.unit_tests`` and ``data.feature_tests``.

    Example (shell):
        taxiway test --only unit   # runs this, then shows the counts and the coverage

    Raises:
        TaxiwayError: ``path`` does not exist, no test was collected, or the run passed ``timeout_s``.
    """
    root = project.root
    if not (root / path).exists():
        raise TaxiwayError(
            f"no unit tests: {root / path} does not exist",
            hint="`taxiway init` writes tests/test_pipeline.py; or pass --path to your tests",
        )
    with tempfile.TemporaryDirectory(prefix="taxiway-unit-") as folder:
        junit, data, report = (Path(folder) / name for name in ("junit.xml", ".coverage", "coverage.json"))
        run = [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--include={FEATURE_CODE}"]
        command = [*run, "-m", "pytest", "-q", "-p", "no:cacheprovider", path, f"--junitxml={junit}"]
        done, seconds = run_tests(command, root=root, path=path, timeout_s=timeout_s)
        if done.returncode == _NO_TESTS_COLLECTED or not junit.is_file():
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise TaxiwayError(
                f"pytest found no tests to run in {path} (exit code {done.returncode}): {' '.join(tail)}",
                hint="write test_*.py files with test_* functions there; `taxiway init` writes an example",
            )
        cases = read_cases(junit, "unit")
        coverage, lines, missed = None, 0, []
        if (root / FEATURE_CODE).is_file() and data.is_file():
            subprocess.run(
                [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(report), "-q"],
                cwd=root,
                capture_output=True,
                check=False,
            )
            files = json.loads(report.read_text()).get("files", {}) if report.is_file() else {}
            measured = files.get(FEATURE_CODE)
            lines = int(measured["summary"]["num_statements"]) if measured else 0
            missed = list(measured["missing_lines"]) if measured else []
            # Never imported by a test: nothing of it ran (coverage.py leaves such a file out of its data).
            coverage = (lines - len(missed)) / lines if measured and lines else 0.0
    result = UnitRun(cases, coverage, lines, missed, seconds)
    _record(project, result, path)
    return result


def _record(project: Project, run: UnitRun, path: str) -> None:
    log, name = project.store.evidence, project.charter.project.name
    counts = {"tests": len(run.cases), "failed": run.failures, "path": path, "seconds": round(run.seconds, 3)}
    log.record(
        Check.MODEL_UNIT_TESTS,
        subject_kind="project",
        subject_id=name,
        value=float(run.failures) if run.cases else 1.0,
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=len(run.cases), method="pytest, failed tests counted"),
        details={**counts, "failures": [c.name for c in run.cases if c.failure is not None][:20]},
    )
    if run.coverage is None:
        return
    log.record(
        Check.DATA_FEATURE_TESTS,
        subject_kind="project",
        subject_id=name,
        value=round(run.coverage, 4),
        limit=Limit(project.charter.ci.min_feature_coverage, ">=", key="ci.min_feature_coverage"),
        measured=Measurement(sample_size=run.lines, method=f"coverage.py line coverage of {FEATURE_CODE}"),
        details={**counts, "file": FEATURE_CODE, "missed_lines": run.missed_lines[:100]},
    )
