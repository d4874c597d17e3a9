"""`taxiway check`: every checklist item and the ML Test Score, read from the charter and the evidence."""

from __future__ import annotations

import sys

import typer

from taxiway.checklist import ChecklistReport, to_json, to_markdown, to_rich
from taxiway.checklist.bound import checklist_of
from taxiway.checklist.explain import explain
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
    explain_ref: str | None = typer.Option(
        None,
        "--explain",
        metavar="ITEM",
        help="show why one item (e.g. data.leakage), check or ML Test Score test (e.g. I6) stands where it "
        "does: the record, what it measured, about what, when, by whom, against which threshold, until when",
    ),
) -> None:
    """Show where every checklist item stands and the ML Test Score; --explain ITEM shows why."""
    project = Project.load()
    try:
        report = _report(project, require_score)
    finally:
        project.store.close()
    if explain_ref is not None:
        for line in explain(report, explain_ref):
            typer.echo(line)
        return
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
    # environment variable that says a CI service ran this command. Each check reads only records about the
    # subject it must be about (the live model, its data, a commit of this repository, the live deployment).
    return checklist_of(project.store, project.charter, project.root)
