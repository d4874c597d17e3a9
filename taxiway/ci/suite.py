"""`taxiway test`: every kind of test the project has, one exit code, one JUnit XML report.

Kinds, in the order they run: ``unit`` (pytest with coverage of pipeline.py, D7), ``behaviour``
(tests/behaviour.yaml on the best candidate), ``validation`` (every gate of the best candidate) and
``integration`` (the whole pipeline on a sample, I3). A kind the project cannot run yet (no tests folder, no
behaviour file, nothing trained, no data) is reported as skipped with the reason, never as passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from taxiway.ci.junit import Case, Report
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store.checks import Check

Kind = Literal["unit", "behaviour", "validation", "integration"]
KINDS: tuple[Kind, ...] = ("unit", "behaviour", "validation", "integration")


@dataclass
class SuiteRun:
    """What one `taxiway test` ran: the cases of every kind, the kinds skipped and why, the report's path."""

    report: Report = field(default_factory=Report)
    skipped: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    junit: Path | None = None

    @property
    def failures(self) -> int:
        return len(self.report.failed)

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def document(self) -> dict[str, Any]:
        """JSON-ready: counts per kind, each failure, the skipped kinds and the JUnit path."""
        kinds: dict[str, dict[str, int]] = {}
        for case in self.report.cases:
            counts = kinds.setdefault(case.suite, {"tests": 0, "failed": 0, "skipped": 0})
            counts["tests"] += 1
            counts["failed"] += case.failure is not None
            counts["skipped"] += case.skipped is not None
        return {
            "passed": self.passed,
            "failures": self.failures,
            "kinds": kinds,
            "failed": [{"kind": c.suite, "test": c.name, "message": c.failure} for c in self.report.failed],
            "skipped": self.skipped,
            "facts": self.facts,
            "junit": str(self.junit) if self.junit else None,
        }


def run_suite(
    project: Project,
    *,
    kinds: Sequence[Kind] = KINDS,
    junit: Path | None = None,
    tests_path: str = "tests",
    progress: Callable[[str], None] | None = None,
) -> SuiteRun:
    """Run ``kinds`` in order and write the JUnit report to ``junit`` (when given).

    Example (shell):
        taxiway test --junit taxiway-ci/junit.xml; echo $?   # 0 only when nothing failed
    """
    say = progress or (lambda _: None)
    run = SuiteRun()
    for kind in KINDS:
        if kind not in kinds:
            continue
        say(kind)
        started = time.perf_counter()
        try:
            _RUNNERS[kind](project, run, tests_path, say)
        except TaxiwayError as error:
            if _missing(kind, project, tests_path):
                run.skipped[kind] = error.message
                run.report.cases.append(Case(kind, kind, 0.0, skipped=error.message))
            else:
                message = f"{error.message} ({error.hint})" if error.hint else error.message
                run.report.cases.append(Case(kind, kind, time.perf_counter() - started, failure=message))
    if junit is not None:
        run.junit = run.report.write(junit)
    return run


def _missing(kind: Kind, project: Project, tests_path: str) -> bool:
    """Whether ``kind`` cannot run because the project has nothing for it yet (not because it broke)."""
    from taxiway.data.versions import latest_dataset
    from taxiway.validate.behaviour_file import BEHAVIOUR_FILE, parse_behaviour

    if kind == "unit":
        return not (project.root / tests_path).exists()
    if kind == "behaviour":
        file = project.root / BEHAVIOUR_FILE
        if not file.is_file() or _best_candidate(project) is None:
            return True
        try:
            parse_behaviour(file.read_text(encoding="utf-8"), str(BEHAVIOUR_FILE))
        except TaxiwayError as error:
            return "declares no tests" in error.message  # the starter file, before the team writes one
        return False
    if kind == "validation":
        return _best_candidate(project) is None
    return latest_dataset(project.store) is None


def _best_candidate(project: Project) -> str | None:
    verdict = project.store.evidence.latest([Check.TRAIN_BASELINES]).get(Check.TRAIN_BASELINES)
    return None if verdict is None else verdict.subject_id


def _unit(project: Project, run: SuiteRun, tests_path: str, say: Callable[[str], None]) -> None:
    from taxiway.ci.unit import run_unit

    unit = run_unit(project, path=tests_path)
    run.report.cases.extend(unit.cases)
    run.facts["feature_coverage"] = unit.coverage
    if unit.coverage is not None:
        floor = project.charter.ci.min_feature_coverage
        failure = None
        if unit.coverage < floor:
            failure = (
                f"the unit tests run {unit.coverage:.0%} of pipeline.py's lines, below "
                f"ci.min_feature_coverage {floor:.0%}; lines never run: "
                + ", ".join(map(str, unit.missed_lines[:15]))
            )
        run.report.cases.append(Case("unit", "feature code coverage (D7)", 0.0, failure=failure))


def _behaviour(project: Project, run: SuiteRun, tests_path: str, say: Callable[[str], None]) -> None:
    from taxiway.validate.behaviour import run_behaviour_tests

    if _best_candidate(project) is None:
        raise TaxiwayError("no trained candidate to run the behaviour tests on", hint="taxiway train")
    report = run_behaviour_tests(project)
    for result in report.results:
        failure = None
        if not result.passed:
            failure = f"{result.failed} of {result.examples} examples fail: {result.failures[:3]}"
        run.report.cases.append(Case("behaviour", result.name, 0.0, failure=failure))


def _validation(project: Project, run: SuiteRun, tests_path: str, say: Callable[[str], None]) -> None:
    from taxiway.validate.judge import validate_run

    candidate = _best_candidate(project)
    if candidate is None:
        raise TaxiwayError("no trained candidate to validate", hint="taxiway train")
    report = validate_run(project, candidate)
    run.facts["candidate"] = candidate
    for gate in report.blessing.gates:
        run.report.cases.append(
            Case(
                "validation",
                gate.gate,
                0.0,
                failure=None if gate.status != "fail" else gate.summary,
                skipped=gate.summary if gate.status == "skip" else None,
            )
        )


def _integration(project: Project, run: SuiteRun, tests_path: str, say: Callable[[str], None]) -> None:
    from taxiway.ci.integration import run_integration

    integration = run_integration(project, progress=lambda stage: say(f"integration: {stage}"))
    run.report.cases.extend(integration.cases)
    run.facts["integration"] = {
        "rows": integration.rows,
        "compared": integration.compared,
        "mismatches": integration.mismatches,
    }


_RUNNERS: dict[Kind, Callable[[Project, SuiteRun, str, Callable[[str], None]], None]] = {
    "unit": _unit,
    "behaviour": _behaviour,
    "validation": _validation,
    "integration": _integration,
}
