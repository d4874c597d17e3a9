"""The `taxiway` command: a Typer app whose verbs are the pipeline's stages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from taxiway.errors import TaxiwayError
from taxiway.project import PROJECT_ENV


class _ShownError(click.ClickException):
    """A TaxiwayError as Click shows it: `error: …` and `hint: …` on stderr, exit code 2."""

    def __init__(self, error: TaxiwayError) -> None:
        super().__init__(error.message)
        self.exit_code = error.exit_code
        self.hint = error.hint

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)
        if self.hint:
            click.echo(f"hint: {self.hint}", err=True)


class _InternalError(click.ClickException):
    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: internal error: {self.message}", err=True)
        click.echo("hint: this is a bug in taxiway; set TAXIWAY_DEBUG=1 to see the traceback and report it",
                   err=True)


class _Group(TyperGroup):
    """Turns the errors users are meant to read into clean messages, and hides tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TaxiwayError as error:
            raise _ShownError(error) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence against a raw traceback
            if os.environ.get("TAXIWAY_DEBUG"):
                raise
            raise _InternalError(f"{type(error).__name__}: {error}") from None


app = typer.Typer(
    cls=_Group,
    name="taxiway",
    help="From the first dataset to a monitored production service, with evidence for every checklist item.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    project: Path = typer.Option(
        None, "--project", "-C", help="the project folder (default: the nearest folder with taxiway.toml)",
        file_okay=False,
    ),
) -> None:
    if project is not None:
        os.environ[PROJECT_ENV] = str(project)


def _register() -> None:
    # Each verb group lives in its own module; importing it adds its commands to `app`.
    from taxiway.cli import charter, check, data, demo, init  # noqa: F401


_register()
