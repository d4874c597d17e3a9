"""`taxiway ci run`: what CI runs on each commit, and the ``ci.check`` evidence about that commit.

Every test (`taxiway test`), the data checks of the current split and the checklist's required ML Test Score
(``ci.require_score``), all under ``started_by("ci", commit=..., provider=..., run_id=...)`` so every
record they make says CI made it about that commit. ``ci.check`` records the number of failures against a
limit of zero; a run on a tree that differs from its commit, or one that could not run a kind of test,
passes with a warning at most, since it does not prove the commit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxiway.ci.git import Checkout, checkout
from taxiway.ci.suite import SuiteRun, run_suite
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence, Limit, Measurement, started_by

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"  # GitHub's job summary: Markdown appended here shows on the run's page


@dataclass
class CiRun:
    """One `taxiway ci run`: the commit, the tests, the data checks, the score, and the ci.check record."""

    checkout: Checkout
    suite: SuiteRun
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    score: float | None = None
    evidence: Evidence | None = None
    report_dir: Path | None = None

    def document(self) -> dict[str, Any]:
        """JSON-ready: what `taxiway ci run --format json` prints."""
        return {
            "passed": not self.failures,
            "commit": self.checkout.commit,
            "dirty": self.checkout.dirty,
            "provider": self.checkout.provider,
            "run_id": self.checkout.run_id,
            "failures": self.failures,
            "warnings": self.warnings,
            "score": self.score,
            "status": self.evidence.status if self.evidence else None,
            "tests": self.suite.document(),
            "report_dir": str(self.report_dir) if self.report_dir else None,
        }


def run_ci(project: Project, *, report_dir: Path, progress: Callable[[str], None] | None = None) -> CiRun:
    """Run CI on the commit the project's folder is at and record ``ci.check`` about it.

    Example (shell):
        git commit -am "new feature" && taxiway ci run; echo $?   # 1 when anything failed

    Raises:
        TaxiwayError: the project is not in a git repository with a commit (nothing to bind CI to).
    """
    say = progress or (lambda _: None)
    root = project.root
    shown = os.path.relpath(report_dir, root) if report_dir.is_relative_to(root) else None
    state = checkout(root, ignore=tuple(p for p in (shown, "taxiway-test.xml") if p))
    with started_by("ci", **state.facts()):
        suite = run_suite(project, junit=report_dir / "junit.xml", progress=say)
        run = CiRun(state, suite, report_dir=report_dir)
        run.failures.extend(f"{c.suite}: {c.name}: {c.failure}" for c in suite.report.failed)
        run.warnings.extend(f"{kind} tests not run: {why}" for kind, why in suite.skipped.items())
        say("data checks")
        _data_checks(project, run)
        say("checklist")
        _score(project, run)
        if state.dirty:
            run.warnings.append("the working tree differs from the commit: this run does not prove it")
        run.evidence = project.store.evidence.record(
            Check.CI_CHECK,
            subject_kind="commit",
            subject_id=state.commit,
            value=float(len(run.failures)),
            limit=Limit(0, "<="),
            measured=Measurement(sample_size=len(suite.report.cases), method="taxiway ci run"),
            warn="; ".join(run.warnings) or None,
            details={
                "dirty": state.dirty,
                "failures": run.failures[:50],
                "score": run.score,
                "junit": str(suite.junit) if suite.junit else None,
                "tests": suite.document()["kinds"],
            },
        )
    _write_checklist(project, report_dir)
    return run


def _data_checks(project: Project, run: CiRun) -> None:
    from taxiway.data.checks import check_split
    from taxiway.data.split import current_split

    split = current_split(project.store)
    if split is None:
        run.warnings.append("data checks not run: the project has no split")
        return
    report = check_split(project.store, split, project.charter)
    run.failures.extend(
        f"data: {name}: {check.status}"
        for name, check in report.document()["checks"].items()
        if check["status"] == "fail"
    )


def _score(project: Project, run: CiRun) -> None:
    from taxiway.checklist import evaluate_checklist

    report = evaluate_checklist(project.charter, project.store.evidence.latest())
    run.score = report.score.final
    required = project.charter.ci.require_score
    if required is not None and report.score.final < required:
        run.failures.append(
            f"checklist: the ML Test Score is {report.score.final:g}, below ci.require_score {required:g}"
        )


def _write_checklist(project: Project, report_dir: Path) -> None:
    """The checklist as Markdown in the report folder (the artifact) and in GitHub's job summary."""
    from taxiway.checklist import evaluate_checklist, to_markdown

    text = to_markdown(evaluate_checklist(project.charter, project.store.evidence.latest()))
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "checklist.md").write_text(text, encoding="utf-8")
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
