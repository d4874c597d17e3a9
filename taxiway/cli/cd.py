"""`taxiway cd run`: continuous delivery by the charter's [deploy.policy], one step per run."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from taxiway.cli.output import FORMAT_OPTION, Format, show_report
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

cd_app = typer.Typer(
    help="Continuous delivery: advance a blessed version shadow → canary → live by the charter's policy."
)
app.add_typer(cd_app, name="cd")


@cd_app.command("run")
def run(
    version: str = typer.Option(
        None, "--version", help="the version to deliver (default: the newest blessed one)", show_default=False
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Advance the deployment one step when its evidence allows (idempotent: safe from cron, CI or CT)."""
    from taxiway.cd.step import advance

    project = Project.load()
    try:
        step = advance(project, version=version)
    finally:
        project.store.close()
    # A refusal or a rollback is the policy working, not a failure of the command; scripts read --format json
    show_report(step.document(), output, render_step)


def render_step(document: dict[str, Any], console: Console) -> None:
    """What was done and why, then the deployment as it now stands."""
    mark = {"wait": "·", "refuse": "✗", "stop-shadow": "↩", "stop-canary": "↩", "rollback": "↩"}
    console.print(
        f"{mark.get(document['action'], '→')} {document['action']}: {document['why']}", markup=False
    )
    console.print(document["state"], highlight=False, markup=False)
