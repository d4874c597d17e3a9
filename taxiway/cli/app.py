"""The `taxiway` command: a Typer app whose verbs are the pipeline's stages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from taxiway.errors import TaxiwayError
from taxiway.project import PROJECT_ENV


def _show(message: str, hint: str) -> None:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)


class _Group(TyperGroup):
    """Turns the errors users are meant to read into `error: …` / `hint: …` on stderr, with no traceback."""

    def invoke(self, ctx: Any) -> Any:  # Typer bundles its own click; its Context type is private
        try:
            return super().invoke(ctx)
        except TaxiwayError as error:
            _show(error.message, error.hint)
            raise typer.Exit(error.exit_code) from None
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise  # Typer's own exits and usage errors (exit 2) already read well
        except Exception as error:
            if os.environ.get("TAXIWAY_DEBUG"):
                raise
            _show(
                f"internal error: {type(error).__name__}: {error}",
                "this is a bug in taxiway; set TAXIWAY_DEBUG=1 to see the traceback and report it",
            )
            raise typer.Exit(1) from None


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
        None,
        "--project",
        "-C",
        help="the project folder (default: the nearest folder with taxiway.toml)",
        file_okay=False,
    ),
) -> None:
    if project is not None:
        os.environ[PROJECT_ENV] = str(project)


def _register() -> None:
    # Each verb group lives in its own module; importing it adds its commands to `app`.
    from taxiway.cli import (  # noqa: F401
        charter,
        check,
        data,
        data_checks,
        data_schema,
        demo,
        deploy,
        explain,
        init,
        logs,
        models,
        reproduce,
        runs,
        serve,
        test,
        train,
        ui,
        validate,
    )


_register()
