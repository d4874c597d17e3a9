"""Unit tests of the model spec (ML Test Score I2): the team's pytest tests of pipeline.py, run and counted.

`taxiway init` writes tests/test_pipeline.py; the team extends it. `run_unit_tests` runs pytest in a
subprocess in the project folder (so the tests import the project's code as they would in CI), reads the
counts from pytest's JUnit XML report and records ``model.unit_tests`` evidence.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.scaffold.write import unchanged_tests
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.train.lineage import code_state

DEFAULT_TESTS = "tests"
DEFAULT_TIMEOUT_S = 600.0
SHOWN_FAILURES = 20
_NO_TESTS_COLLECTED = 5  # pytest's exit code when it found no tests
_USAGE_ERROR = 4
_OUTPUT_TAIL_LINES = 30


@dataclass(frozen=True)
class UnitTestReport:
    """What pytest found: counts, the failed tests with their messages, and how long it took."""

    path: str
    command: list[str]
    exit_code: int
    tests: int
    failed: int
    errors: int
    skipped: int
    duration_s: float
    failures: list[dict[str, str]] = field(default_factory=list)
    output_tail: str = ""

    @property
    def passed_count(self) -> int:
        return self.tests - self.failed - self.errors - self.skipped

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and self.errors == 0 and self.tests > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what `taxiway test unit --format json` prints and the evidence stores."""
        return {"passed": self.passed, "passed_count": self.passed_count, **asdict(self)}


def run_unit_tests(
    project: Project, *, path: str = DEFAULT_TESTS, timeout_s: float = DEFAULT_TIMEOUT_S
) -> UnitTestReport:
    """Run pytest on ``path`` (relative to the project folder) and record ``model.unit_tests``.

    Raises:
        TaxiwayError: ``path`` does not exist, pytest is not installed, collects no tests, rejects its
            arguments, or runs past ``timeout_s``.
    """
    root = project.root
    if not (root / path).exists():
        raise TaxiwayError(
            f"no unit tests: {root / path} does not exist",
            hint="`taxiway init` writes tests/test_pipeline.py; or pass --path to your tests",
        )
    with tempfile.TemporaryDirectory(prefix="taxiway-unit-") as folder:
        junit = Path(folder) / "junit.xml"
        # The starter test `taxiway init` wrote, unchanged, tests taxiway's template, not the team's code.
        ignored = [name for name in unchanged_tests(root) if _inside(root / name, root / path)]
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            path,
            *(f"--ignore={name}" for name in ignored),
            f"--junitxml={junit}",
        ]
        done, duration = run_tests(command, root=root, path=path, timeout_s=timeout_s)
        output = (done.stdout + done.stderr).strip()
        if "No module named pytest" in output:
            raise TaxiwayError(
                f"pytest is not installed in {sys.executable}'s environment",
                hint="pip install pytest, in the environment taxiway runs in",
            )
        if done.returncode in (_NO_TESTS_COLLECTED, _USAGE_ERROR) and ignored:
            raise TaxiwayError(
                f"no tests of the team's own in {path}: the only ones are the starter tests `taxiway init` "
                f"wrote ({', '.join(ignored)}), unchanged, and they do not count",
                hint="write tests of your pipeline.py (extend tests/test_pipeline.py or add test_*.py files)",
            )
        if done.returncode in (_NO_TESTS_COLLECTED, _USAGE_ERROR) or not junit.is_file():
            raise TaxiwayError(
                f"pytest found no tests to run in {path} (exit code {done.returncode}): {_last_line(output)}",
                hint="write test_*.py files with test_* functions there; `taxiway init` writes an example",
            )
        report = _read_junit(junit, path, [*command[:-1], "--junitxml=…"], done.returncode, duration, output)
    code = code_state(root)
    # The tests hold for the code they ran on: the commit when the project is in git (dirty changes are
    # noted), else the project as it is.
    in_git = code.in_git and code.commit is not None
    project.store.evidence.record(
        Check.MODEL_UNIT_TESTS,
        subject_kind="commit" if in_git else "project",
        subject_id=str(code.commit) if in_git else project.charter.project.name,
        # Failed and errored tests; a pytest that exits non-zero with none counted still failed once.
        value=float(report.failed + report.errors or (1 if report.exit_code != 0 else 0)),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=report.tests, method="pytest, counted from its JUnit report"),
        details={
            **report.to_dict(),
            "ignored_starter_tests": ignored,
            "git_commit": code.commit,
            "git_dirty": code.is_dirty,
        },
    )
    return report


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it."""
    return path.resolve() == folder.resolve() or folder.resolve() in path.resolve().parents


def _read_junit(
    junit: Path, path: str, command: list[str], exit_code: int, duration: float, output: str
) -> UnitTestReport:
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    count = {
        key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")
    }
    failures = []
    for case in root.iter("testcase"):
        for problem in (*case.findall("failure"), *case.findall("error")):
            name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            failures.append({"test": name, "message": (problem.get("message") or "").strip()[:500]})
    tail = "\n".join(output.splitlines()[-_OUTPUT_TAIL_LINES:])
    return UnitTestReport(
        path=path,
        command=command,
        exit_code=exit_code,
        tests=count["tests"],
        failed=count["failures"],
        errors=count["errors"],
        skipped=count["skipped"],
        duration_s=duration,
        failures=failures[:SHOWN_FAILURES],
        output_tail=tail,
    )


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_tests(
    command: list[str], *, root: Path, path: str, timeout_s: float
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a test command in ``root``; its result and wall seconds. Past ``timeout_s`` it is stopped.

    Raises:
        TaxiwayError: the tests ran past ``timeout_s``.
    """
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise TaxiwayError(
            f"the unit tests in {path} ran past {timeout_s:g} s and were stopped",
            hint="speed them up, or pass --timeout SECONDS",
        ) from None
    return done, time.perf_counter() - started
