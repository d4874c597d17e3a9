"""`taxiway data pii`: screen a dataset version for personal data, and the warnings `data add` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from taxiway.cli.data_schema import VersionOption, brief, version_or_newest
from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, stderr, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.data lists them in `taxiway data --help`

if TYPE_CHECKING:
    from taxiway.data.pii import PiiReport
    from taxiway.data.versions import DatasetVersion


@app.command("pii")
def pii(version: VersionOption = None, output: TableFormatOption = TableFormat.text) -> None:
    """Screen a version for personal data; exit 1 if a flagged column is neither allowed nor dropped."""
    from taxiway.data.version_checks import screen_pii

    project = Project.load()
    store = project.store
    try:
        found = version_or_newest(store, version)
        report = screen_pii(store, found, project.charter.data)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json({"version": brief(found), "status": report.status, **_pii_document(report)})
    else:
        _print_pii(found, report)
    if report.status == "fail":
        raise typer.Exit(1)


def _pii_document(report: PiiReport) -> dict[str, Any]:
    details = report.details()
    return {
        "flagged": details["flagged"],
        "unhandled": details["unhandled"],
        "columns": [{"column": column, **facts} for column, facts in details["columns"].items()],
    }


def _print_pii(version: DatasetVersion, report: PiiReport) -> None:
    console = stdout()
    if not report.findings:
        console.print(f"no personal data found in version {version.short_id}", highlight=False, markup=False)
        return
    table = Table(title=f"personal data in version {version.short_id}")
    for header in ("column", "kind", "evidence", "charter"):
        table.add_column(header)
    for f in report.findings:
        handling = (
            "allowed"
            if f.column in report.allowed
            else "dropped"
            if f.column in report.dropped
            else "NOT HANDLED"
        )
        table.add_row(
            *(Text(c) for c in (f.column, f.kind, _evidence(f.share, f.sampled, f.name_hint), handling))
        )
    console.print(table)
    if report.unhandled:
        console.print(
            f"{len(report.unhandled)} column(s) neither allowed nor dropped: add each to data.allowed_pii or "
            "data.drop_columns in taxiway.toml",
            highlight=False,
            markup=False,
        )


def warn_pii(report: PiiReport) -> None:
    """Print what the personal-data screen found on stderr: a warning per unhandled column, else a note."""
    console = stderr()
    for f in report.findings:
        evidence = _evidence(f.share, f.sampled, f.name_hint)
        if f.column in report.unhandled:
            line = f"warning: column '{f.column}' looks like personal data ({f.kind}: {evidence})"
        else:
            rule = "data.allowed_pii" if f.column in report.allowed else "data.drop_columns"
            line = f"note: column '{f.column}' looks like personal data ({f.kind}); listed in {rule}"
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if report.unhandled:
        console.print(
            "hint: list each in data.allowed_pii (kept, with care) or data.drop_columns (never a model "
            "input) in taxiway.toml, then run `taxiway data pii`",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _evidence(share: float | None, sampled: int, hint: str | None) -> str:
    parts = [f"{share:.0%} of {sampled:,} sampled values"] if share is not None else []
    if hint is not None:
        parts.append(f"name hint '{hint}'")
    return "; ".join(parts)
