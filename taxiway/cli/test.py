"""`taxiway test`: every kind of test at once (one exit code, a JUnit report); `taxiway test unit` and
`taxiway test behaviour` run one kind alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from taxiway.cli.output import FORMAT_OPTION, Format, new_table, show_report, stderr
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

test_app = typer.Typer(
    invoke_without_command=True,
    help="Run every test: unit (with feature-code coverage), behaviour, validation gates, full-pipeline "
    "integration; exit 1 when one fails.",
)
app.add_typer(test_app, name="test", invoke_without_command=True)


@test_app.callback(invoke_without_command=True)
def everything(
    ctx: typer.Context,
    only: list[str] = typer.Option(
        None,
        "--only",
        help="run only this kind (repeatable): unit, behaviour, validation, integration",
        show_default=False,
    ),
    junit: Path = typer.Option(
        Path("taxiway-test.xml"), "--junit", help="where to write the JUnit XML report", dir_okay=False
    ),
    path: str = typer.Option("tests", "--path", help="the unit tests, relative to the project folder"),
    output: Format = FORMAT_OPTION,
) -> None:
    """Run every kind of test the project has; write a JUnit XML report; exit 1 when one fails."""
    if ctx.invoked_subcommand is not None:
        return
    from taxiway.ci.suite import KINDS, run_suite
    from taxiway.errors import TaxiwayError

    unknown = [kind for kind in only or () if kind not in KINDS]
    if unknown:
        raise TaxiwayError(f"unknown kind of test {unknown[0]!r}", hint=f"use one of {', '.join(KINDS)}")
    project = Project.load()
    try:
        with stderr().status("testing") as status:
            run = run_suite(
                project,
                kinds=[kind for kind in KINDS if not only or kind in only],
                junit=junit if junit.is_absolute() else project.root / junit,
                tests_path=path,
                progress=lambda step: status.update(f"testing: {step} ..."),
            )
    finally:
        project.store.close()
    show_report(run.document(), output, render_suite, passed=run.passed)


def render_suite(document: dict[str, Any], console: Console) -> None:
    """One line per kind, then every failure, then the verdict."""
    table = new_table(
        (("kind", "left"), ("tests", "right"), ("failed", "right"), ("skipped", "right")),
        title="taxiway test",
    )
    for kind, counts in document["kinds"].items():
        table.add_row(kind, str(counts["tests"]), str(counts["failed"]), str(counts["skipped"]))
    console.print(table)
    for failure in document["failed"]:
        first = (failure["message"] or "failed").splitlines()[0]
        console.print(f"✗ {failure['kind']}: {failure['test']}: {first}", highlight=False, markup=False)
    for kind, why in document["skipped"].items():
        console.print(f"- {kind} skipped: {why}", highlight=False, markup=False)
    coverage = document["facts"].get("feature_coverage")
    if coverage is not None:
        console.print(f"feature code coverage: {coverage:.0%} of pipeline.py", highlight=False)
    console.print(f"JUnit report: {document['junit']}", highlight=False, markup=False)
    verdict = "✓ every test passes" if document["passed"] else f"✗ {document['failures']} tests fail"
    console.print(verdict, highlight=False)


@test_app.command("unit")
def unit(
    path: str = typer.Option("tests", "--path", help="the tests, relative to the project folder"),
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="stop pytest after this many seconds"),
    output: Format = FORMAT_OPTION,
) -> None:
    """Run the project's unit tests with pytest (ML Test Score I2); exit 1 when one fails."""
    from taxiway.train.unit_tests import run_unit_tests

    project = Project.load()
    try:
        with stderr().status(f"running pytest on {path}"):
            report = run_unit_tests(project, path=path, timeout_s=timeout)
    finally:
        project.store.close()
    show_report(report.to_dict(), output, render_unit_tests, passed=report.passed)


@test_app.command("behaviour")
def behaviour(
    run: str = typer.Option(
        None,
        "--run",
        help="the run whose model is tested (default: the best candidate of the newest training)",
        show_default=False,
    ),
    file: Path = typer.Option(
        None, "--file", help="the behaviour file (default: tests/behaviour.yaml)", show_default=False
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Run the behaviour tests of tests/behaviour.yaml on a run's model; exit 1 when one fails."""
    from taxiway.validate.behaviour import run_behaviour_tests

    project = Project.load()
    try:
        report = run_behaviour_tests(project, run=run, path=file)
    finally:
        project.store.close()
    show_report(report.to_dict(), output, render_behaviour, passed=report.passed)


def render_unit_tests(document: dict[str, Any], console: Console) -> None:
    """Print the counts, then each failed test with its message."""
    table = new_table(
        [(header, "right") for header in ("tests", "passed", "failed", "errors", "skipped")],
        title=f"unit tests in {document['path']} ({document['duration_s']:.1f} s)",
    )
    table.add_row(*(str(document[key]) for key in ("tests", "passed_count", "failed", "errors", "skipped")))
    console.print(table)
    for failure in document["failures"]:
        first = failure["message"].splitlines()[0] if failure["message"] else "failed"
        console.print(f"✗ {failure['test']}: {first}", highlight=False, markup=False)
    mark = "✓ the unit tests pass" if document["passed"] else "✗ unit tests fail"
    console.print(mark, highlight=False)


def render_behaviour(document: dict[str, Any], console: Console) -> None:
    """Print one line per test, then the failing examples: input, expected, actual."""
    table = new_table(
        [("test", "left"), ("kind", "left"), ("examples", "right"), ("failed", "right"), ("result", "left")],
        title=f"behaviour tests of run {document['run_id']} ({document['run_name']}), {document['file']}",
    )
    for test in document["tests"]:
        table.add_row(
            test["name"],
            test["kind"],
            str(test["examples"]),
            str(test["failed"]),
            "pass" if test["passed"] else "FAIL",
        )
    console.print(table)
    for test in document["tests"]:
        for failure in test["failures"]:
            console.print(
                f"✗ {test['name']} ({failure['row']}): input {failure['input']}; "
                f"expected {failure['expected']}; actual {failure['actual']}",
                highlight=False,
                markup=False,
            )
    failed = sum(1 for test in document["tests"] if not test["passed"])
    total = len(document["tests"])
    console.print(
        f"✓ all {total} behaviour tests pass"
        if failed == 0
        else f"✗ {failed} of {total} behaviour tests fail",
        highlight=False,
    )
