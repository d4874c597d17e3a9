"""`taxiway accept`: a person accepts a warned or failed check, with a reason, for the current subject."""

from __future__ import annotations

import typer

from taxiway.checklist.accepting import accept_check
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`


@app.command("accept")
def accept(
    check: str = typer.Argument(
        ..., help="the check (e.g. data.dev_power) or checklist item (e.g. data.leakage)"
    ),
    reason: str = typer.Option(..., "--reason", help="why the warning or failure is acceptable"),
    by: str | None = typer.Option(None, "--by", help="who accepts it (default: git's user.name)"),
) -> None:
    """Accept a warned or failed check for the current subject, with a reason; a new subject voids it."""
    project = Project.load()
    try:
        record = accept_check(project.store, project.charter, project.root, check, reason=reason, by=by)
    finally:
        project.store.close()
    typer.echo(
        f"accepted {record.check_id} about {record.subject_kind} {record.subject_id} "
        f"(record #{record.id}, by {record.details.get('by')}): {record.details.get('reason')}"
    )
    typer.echo("it counts as manual (0.5 points) until the subject changes; `taxiway check` shows it ☑")
