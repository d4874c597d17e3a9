"""`taxiway next` (the next command, from the project's state) and `taxiway up DATA` (the first hour)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from taxiway.cli.output import stderr, stdout

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

MAX_STEPS = 12  # the first-hour chain has 8 links; more means a step records nothing and repeats


@app.command("next")
def next_() -> None:
    """Print the next command to run, from what is stored, what ran and what the checklist still misses."""
    from taxiway.cli.app import verb_names
    from taxiway.guide import next_step
    from taxiway.project import Project

    project = Project.load()
    try:
        step = next_step(project, verbs=verb_names())
    finally:
        project.store.close()
    if step is None:
        stdout().print("nothing left to run here: `taxiway check` shows every item", highlight=False)
        return
    stdout().print(step.line(), highlight=False, markup=False)


@app.command("up")
def up(
    data: Annotated[
        Path | None,
        typer.Argument(help="the data file to start from (once added, leave it out)", show_default=False),
    ] = None,
) -> None:
    """The first hour: add, split, check, train, validate, register, deploy; stops where you must act."""
    from taxiway.cli.app import run_verb, verb_names
    from taxiway.guide import next_step
    from taxiway.project import Project

    done: list[tuple[str, ...]] = []
    for _ in range(MAX_STEPS):
        project = Project.load()
        try:
            step = next_step(project, verbs=verb_names(), data_file=str(data) if data else None)
        finally:
            project.store.close()
        if step is None:
            stdout().print("up: nothing left to run; `taxiway check` shows every item", highlight=False)
            return
        if not step.automatic:
            stdout().print(
                f"up: {len(done)} step(s) run; the next needs you: {step.command}  ({step.why})",
                highlight=False,
                markup=False,
            )
            return
        if step.argv in done:
            stderr().print(f"up: `{step.command}` ran but recorded nothing new; stopping", highlight=False)
            raise typer.Exit(1)
        stderr().print(f"[bold]up:[/] taxiway {' '.join(step.argv)}", highlight=False)
        saved = os.environ.get("TAXIWAY_NEXT")
        os.environ["TAXIWAY_NEXT"] = "0"  # `up` says what comes next itself, once, at the end
        try:
            code = run_verb(step.argv)
        finally:
            if saved is None:
                os.environ.pop("TAXIWAY_NEXT", None)
            else:
                os.environ["TAXIWAY_NEXT"] = saved
        done.append(step.argv)
        if code != 0:
            stderr().print(
                f"up: stopped at `{step.command}` (exit {code}): fix what it says above, then run "
                "`taxiway up` again (steps already done are not repeated)",
                highlight=False,
                markup=False,
            )
            raise typer.Exit(code)
    stderr().print(f"up: stopped after {MAX_STEPS} steps", highlight=False)
    raise typer.Exit(1)
