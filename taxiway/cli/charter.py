"""`taxiway charter check`: validate taxiway.toml and say which questions are still unanswered."""

from __future__ import annotations

from pathlib import Path

import typer

from taxiway.charter import CHARTER_FILE, load_charter
from taxiway.charter.model import answer
from taxiway.charter.questions import questions_for
from taxiway.cli.output import FORMAT_OPTION, Format, emit_json, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

charter_app = typer.Typer(help="Read and validate the project charter (taxiway.toml).", no_args_is_help=True)
app.add_typer(charter_app, name="charter")


@charter_app.command("check")
def check(
    file: Path = typer.Argument(
        None, help=f"charter to check (default: the project's {CHARTER_FILE})", dir_okay=False
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Validate a charter; a bad one is answered with the field, what was expected and a hint."""
    path = file if file is not None else Project.load().root / CHARTER_FILE
    charter = load_charter(path)
    questions = questions_for(charter.problem.task)
    unanswered = [q for q in questions if answer(charter, q.path) is None]
    if output is Format.json:
        emit_json(
            {
                "file": str(path.resolve()),
                "valid": True,
                "questions": len(questions),
                "answered": len(questions) - len(unanswered),
                "unanswered": [
                    {
                        "path": q.path,
                        "question": q.prompt,
                        "default_in_use": q.default_value(charter.problem.task),
                    }
                    for q in unanswered
                ],
            }
        )
        return
    console = stdout()
    console.print(
        f"{path} is valid: {len(questions) - len(unanswered)} of {len(questions)} questions answered"
    )
    for q in unanswered:
        default = q.default_value(charter.problem.task)
        note = f" (default in use: {default})" if default is not None else ""
        console.print(f"  ✗ {q.path}: {q.prompt}{note}")
