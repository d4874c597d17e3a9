"""`taxiway ci init` (write the CI files) and `taxiway ci run` (what CI runs, bound to the commit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from taxiway.cli.output import FORMAT_OPTION, Format, show_report, stderr
from taxiway.errors import TaxiwayError
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

ci_app = typer.Typer(help="Continuous integration: write GitHub Actions / GitLab CI files; run what CI runs.")
app.add_typer(ci_app, name="ci")


@ci_app.command("init")
def init(
    provider: list[str] = typer.Option(
        None, "--provider", help="github, gitlab (repeatable; default: both)", show_default=False
    ),
    force: bool = typer.Option(False, "--force", help="replace CI files that exist"),
) -> None:
    """Write GitHub Actions and GitLab CI files: `taxiway ci run` on every push, CT on a schedule."""
    from taxiway.ci.workflows import PROVIDERS, write

    chosen = tuple(provider or PROVIDERS)
    unknown = [name for name in chosen if name not in PROVIDERS]
    if unknown:
        raise TaxiwayError(f"unknown CI provider {unknown[0]!r}", hint=f"use one of {', '.join(PROVIDERS)}")
    project = Project.load()
    try:
        written = write(project.root, chosen, force=force)  # type: ignore[arg-type]
    finally:
        project.store.close()
    for item in written:
        typer.echo(f"wrote {item.path} ({item.provider})")
    typer.echo(
        "commit them; set TAXIWAY_STORE_URI (and TAXIWAY_ARTIFACTS_URI) as CI secrets for a shared store"
    )


@ci_app.command("run")
def run(
    report_dir: Path = typer.Option(
        Path("taxiway-ci"), "--report-dir", help="where the JUnit report and checklist.md go", file_okay=False
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Run every test, the data checks and the checklist's required score; record ci.check about HEAD."""
    from taxiway.ci.run import run_ci

    project = Project.load()
    folder = report_dir if report_dir.is_absolute() else Path.cwd() / report_dir
    try:
        with stderr().status("taxiway ci run") as status:
            result = run_ci(project, report_dir=folder, progress=lambda s: status.update(f"ci: {s} ..."))
    finally:
        project.store.close()
    document = result.document()
    show_report(document, output, render_ci, passed=document["passed"])


def render_ci(document: dict[str, Any], console: Console) -> None:
    """The commit, each failure and warning, the score, and the verdict recorded."""
    from taxiway.cli.test import render_suite

    render_suite(document["tests"], console)
    where = f"{document['provider']} run {document['run_id']}" if document["run_id"] else document["provider"]
    console.print(f"commit {document['commit'][:12]} ({where})", highlight=False, markup=False)
    for failure in document["failures"]:
        console.print(f"✗ {failure.splitlines()[0]}", highlight=False, markup=False)
    for warning in document["warnings"]:
        console.print(f"⚠ {warning}", highlight=False, markup=False)
    if document["score"] is not None:
        console.print(f"ML Test Score: {document['score']:g}", highlight=False)
    console.print(f"ci.check about this commit: {document['status']}; reports in {document['report_dir']}")
