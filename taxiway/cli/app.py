"""The `taxiway` command: a Typer app whose verbs are the pipeline's stages, listed as work flows."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from taxiway.cli.lazy import LazyGroup, Verb
from taxiway.errors import TaxiwayError

_START, _DATA, _TRAIN, _SHIP, _PROVE = (
    "Start a project",
    "Data",
    "Train and validate",
    "Deploy and serve",
    "Prove it",
)

# Every verb, in workflow order. The help lines equal the commands' own (tests/cli/test_lazy.py).
VERBS: tuple[Verb, ...] = (
    Verb(
        "init",
        "taxiway.cli.init",
        "Start a project: taxiway.toml (the charter), a starter pipeline.py with unit tests, and .gitignore.",
        _START,
    ),
    Verb("charter", "taxiway.cli.charter", "Read and validate the project charter (taxiway.toml).", _START),
    Verb(
        "up",
        "taxiway.cli.guide",
        "The first hour: add, split, check, train, validate, register, deploy; stops where you must act.",
        _START,
    ),
    Verb(
        "next",
        "taxiway.cli.guide",
        "Print the next command to run, from what is stored, what ran and what the checklist still misses.",
        _START,
    ),
    Verb(
        "data",
        "taxiway.cli.data",
        "Dataset versions: store a data file by the hash of its content, list the versions, show one.",
        _DATA,
    ),
    Verb(
        "train",
        "taxiway.cli.train",
        "Train the baselines and the candidate; exit 1 when the candidate does not beat the best baseline.",
        _TRAIN,
    ),
    Verb(
        "tune-worker",
        "taxiway.cli.train",
        "Work on a tuning study another machine started, until it has the trials it was asked for.",
        _TRAIN,
    ),
    Verb("runs", "taxiway.cli.runs", "Training runs: list them, newest first, or show one.", _TRAIN),
    Verb(
        "validate",
        "taxiway.cli.validate",
        "Evaluate a run and apply every gate; bless it when all pass, exit 1 when one fails.",
        _TRAIN,
    ),
    Verb(
        "test",
        "taxiway.cli.test",
        "Run every test: unit (with feature-code coverage), behaviour, validation gates, full-pipeline "
        "integration; exit 1 when one fails.",
        _TRAIN,
    ),
    Verb(
        "explain",
        "taxiway.cli.explain",
        "Show every pipeline step's output for one row, the prediction, and each column's contribution.",
        _TRAIN,
    ),
    Verb(
        "reproduce",
        "taxiway.cli.reproduce",
        "Retrain RUN from its recorded data, split, seed and code; exit 1 when the result differs.",
        _TRAIN,
    ),
    Verb(
        "register",
        "taxiway.cli.models",
        "Register a blessed run as the next model version (v1, v2, ...); exit 1 when it is not blessed.",
        _TRAIN,
    ),
    Verb(
        "models",
        "taxiway.cli.models",
        "Registered model versions: list them, show one, point an alias at one.",
        _TRAIN,
    ),
    Verb(
        "ct",
        "taxiway.cli.ct",
        "Continuous training: retrain when the charter's triggers fire; simulate policies on past data.",
        _TRAIN,
    ),
    Verb(
        "deploy",
        "taxiway.cli.deploy",
        "Put a registered version live (default), in shadow or as a canary; exit 1 if a server fails it.",
        _SHIP,
    ),
    Verb(
        "status",
        "taxiway.cli.status",
        "The desired deployment, the servers applying it, and each version's figures over the last minutes.",
        _SHIP,
    ),
    Verb(
        "promote",
        "taxiway.cli.deploy",
        "Make the shadow or canary version live; the old live version stays ready for `taxiway rollback`.",
        _SHIP,
    ),
    Verb(
        "rollback",
        "taxiway.cli.deploy",
        "Switch live back to the version live before it; a second rollback rolls forward again.",
        _SHIP,
    ),
    Verb(
        "undeploy",
        "taxiway.cli.deploy",
        "Stop serving the shadow or the canary; live answers everything again.",
        _SHIP,
    ),
    Verb(
        "serve",
        "taxiway.cli.serve",
        "Serve the deployed model version (`taxiway deploy` chooses it; servers follow within a second).",
        _SHIP,
    ),
    Verb(
        "predict",
        "taxiway.cli.serve",
        "Batch prediction: every row of a file through the input contract, the model and its fallback.",
        _SHIP,
    ),
    Verb("logs", "taxiway.cli.logs", "The prediction log: every answered row the servers recorded.", _SHIP),
    Verb(
        "monitor",
        "taxiway.cli.monitor",
        "Judge served traffic: drift, confidence, estimated and realised quality, live limits, alerts.",
        _SHIP,
    ),
    Verb(
        "cd",
        "taxiway.cli.cd",
        "Continuous delivery: advance a blessed version shadow → canary → live by the charter's policy.",
        _SHIP,
    ),
    Verb(
        "loadtest",
        "taxiway.cli.monitor",
        "Measure the capacity of the running server with wrk, within the charter's p99 latency; record it.",
        _SHIP,
    ),
    Verb(
        "ci",
        "taxiway.cli.ci",
        "Continuous integration: write GitHub Actions / GitLab CI files; run what CI runs.",
        _PROVE,
    ),
    Verb(
        "check",
        "taxiway.cli.check",
        "Show where every checklist item stands and the ML Test Score; --explain ITEM shows why.",
        _PROVE,
    ),
    Verb(
        "accept",
        "taxiway.cli.accept",
        "Accept a warned or failed check for the current subject, with a reason; a new subject voids it.",
        _PROVE,
    ),
    Verb(
        "ui",
        "taxiway.cli.ui",
        "Serve the metrics web page: runs, comparisons with intervals, data, the checklist. Ctrl+C stops it.",
        _PROVE,
    ),
    Verb(
        "demo",
        "taxiway.cli.demo",
        "The NYC flights of 2013 end to end: charter, data, training, validation, serving, checklist.",
        _PROVE,
    ),
)


def verb_names() -> frozenset[str]:
    """The commands that exist: a hint may name only these (tests/cli/test_check_cli.py)."""
    return frozenset(verb.name for verb in VERBS)


def run_verb(argv: tuple[str, ...]) -> int:
    """Run ``taxiway ARGV...`` in this process (as `taxiway up` chains steps); return its exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=list(argv), prog_name="taxiway", standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        return 130
    except typer.TyperException as error:  # a usage error in a step taxiway itself built
        typer.echo(f"error: {error}", err=True)
        return 2
    return int(result) if isinstance(result, int) else 0


def _next_line(ctx: Any) -> None:
    """After a command that changed the project, one line on stderr with the next command (on a terminal,
    or with TAXIWAY_NEXT=1); never fails the command it follows."""
    verb, wanted = ctx.invoked_subcommand, os.environ.get("TAXIWAY_NEXT")
    if verb in _QUIET or wanted == "0" or "json" in sys.argv:
        return
    if not (wanted == "1" or sys.stderr.isatty()):
        return
    try:
        from taxiway.guide import next_step
        from taxiway.project import Project

        project = Project.load()
        try:
            step = next_step(project, verbs=verb_names())
        finally:
            project.store.close()
    except Exception:  # noqa: BLE001 - a hint is a courtesy: no project yet, an old store, ...
        return
    if step is not None:
        typer.echo(step.line(), err=True)


# Commands after which no "next:" line is printed: they print it themselves, read only, or run for long.
_QUIET = frozenset({"next", "up", "check", "status", "ui", "serve", "demo", "logs", "runs", "models"})


def _show(message: str, hint: str) -> None:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)


class _Root(LazyGroup):
    """Loads verbs on use, and turns the errors users are meant to read into `error: …` / `hint: …`."""

    verbs = VERBS

    def invoke(self, ctx: Any) -> Any:  # Typer bundles its own click; its Context type is private
        try:
            result = super().invoke(ctx)
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
        _next_line(ctx)
        return result


app = typer.Typer(
    cls=_Root,
    name="taxiway",
    help="From the first dataset to a monitored production service, with evidence for every checklist item.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"taxiway {version('taxiway')}")
        raise typer.Exit()


@app.callback()
def _root(
    project: Path = typer.Option(
        None,
        "--project",
        "-C",
        help="the project folder (default: the nearest folder with taxiway.toml)",
        file_okay=False,
    ),
    _version: bool = typer.Option(
        False, "--version", help="print taxiway's version and exit", is_eager=True, callback=_print_version
    ),
) -> None:
    if project is not None:
        from taxiway.project import PROJECT_ENV  # here, not above: `taxiway --help` imports no stage

        os.environ[PROJECT_ENV] = str(project)
