"""`taxiway check`: every checklist item and the ML Test Score, read from the charter and the evidence."""

from __future__ import annotations

import sys

import typer

from taxiway.checklist import ChecklistReport, evaluate_checklist, to_json, to_markdown, to_rich
from taxiway.cli.output import FORMAT_OPTION, Format, emit_json, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

# The highest final score there is: seven tests per section, one point each.
MAX_SCORE = 7.0


@app.command("check")
def check(
    output: Format = FORMAT_OPTION,
    require_score: float | None = typer.Option(
        None,
        "--require-score",
        min=0.0,
        max=MAX_SCORE,
        help="exit 1 when the final ML Test Score is below this (0 to 7); use it as a CI gate",
    ),
) -> None:
    """Show where every checklist item stands and the ML Test Score; in CI, also record that CI ran it."""
    project = Project.load()
    try:
        report = _report(project, require_score)
    finally:
        project.store.close()
    if output is Format.json:
        emit_json(to_json(report, required_score=require_score))
    elif output is Format.md:
        sys.stdout.write(to_markdown(report))
    else:
        stdout().print(to_rich(report))
    if require_score is not None and report.score.final < require_score:
        ml_score = report.score
        typer.echo(
            f"error: the ML Test Score is {ml_score.final:g}, below the required {require_score:g} "
            f"(weakest section: {ml_score.weakest} at {ml_score.sections[ml_score.weakest]:g})",
            err=True,
        )
        typer.echo(
            "hint: earn points in the weakest section; the report lists how to earn each test's points",
            err=True,
        )
        raise typer.Exit(1)


def _report(project: Project, require_score: float | None) -> ChecklistReport:
    # Reading the checklist proves nothing itself: "CI in place" is proven by `taxiway ci run`, not by an
    # environment variable that says a CI service ran this command.
    evidence = project.store.evidence
    return evaluate_checklist(project.charter, evidence.latest())
