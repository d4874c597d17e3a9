"""`taxiway logs`: show the prediction log the servers write, and compact its small files."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any

import typer
from rich.text import Text

from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, new_table, stdout
from taxiway.cli.runs import parse_since
from taxiway.display import when
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.serve.log_compaction import CompactionReport, compact_prediction_logs
from taxiway.serve.prediction_log import read_prediction_logs

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

logs_app = typer.Typer(
    help="The prediction log: every answered row the servers recorded.", no_args_is_help=True
)
app.add_typer(logs_app, name="logs")

_VERSION = re.compile(r"v[1-9]\d*")
_CELL = 60  # inputs and outputs are cut to this many characters in the table (JSON keeps them whole)
COLUMNS = (
    "request_id",
    "time",
    "replica_id",
    "version",
    "role",
    "slot",
    "inputs",
    "output",
    "confidence",
    "fallback",
    "latency_ms",
)


@logs_app.command("show")
def show(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="only rows logged since a UTC date or time (2026-11-01T08:00Z) or an age (30m, 1h, 7d)",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="only rows of this model version (v3)", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="the newest N rows")] = 20,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Show the newest logged predictions, oldest of them first."""
    if limit < 1:
        raise TaxiwayError(
            f"--limit {limit} is below 1", hint="give the number of rows to show, e.g. --limit 20"
        )
    if version is not None and not _VERSION.fullmatch(version):
        raise TaxiwayError(
            f"--version '{version}' is not a model version",
            hint="model versions are v1, v2, ...; see `taxiway models`",
        )
    start = parse_since(since, dt.datetime.now(dt.UTC)) if since is not None else None
    store = Project.load().store
    try:
        frame = read_prediction_logs(store, since=start, version=version, limit=limit)
    finally:
        store.close()
    rows = [
        {name: _plain(record.get(name)) for name in COLUMNS} for record in frame.to_dict(orient="records")
    ]
    if output is TableFormat.json:
        emit_json({"count": len(rows), "rows": rows})
        return
    if not rows:
        stdout().print(
            "no predictions logged"
            + (" that match" if since or version else " yet; `taxiway serve` logs every answered row"),
            highlight=False,
            markup=False,
        )
        return
    table = new_table(
        [
            ("time (UTC)", "left"),
            ("request", "left"),
            ("version", "left"),
            ("role", "left"),
            ("slot", "left"),
            ("inputs", "left"),
            ("output", "left"),
            ("confidence", "right"),
            ("fallback", "left"),
            ("latency", "right"),
        ],
        title=f"predictions ({len(rows)}, newest last)",
    )
    for row in rows:
        table.add_row(
            Text(when(row["time"])),
            Text(row["request_id"]),
            Text(row["version"]),
            Text(row["role"]),
            Text(row["slot"]),
            Text(_cut(row["inputs"])),
            Text(_cut(row["output"])),
            Text("-" if row["confidence"] is None else f"{row['confidence']:.3f}"),
            Text(row["fallback"] or "-"),
            Text(f"{row['latency_ms']:.1f} ms"),
        )
    stdout().print(table)


@logs_app.command("compact")
def compact(
    day: Annotated[
        str | None,
        typer.Option("--day", help="only this UTC day, YYYY-MM-DD (default: every day before today)"),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Merge each day's small prediction-log files into one file (readers never see a row twice)."""
    store = Project.load().store
    try:
        report = compact_prediction_logs(store, day=day)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json(_report(report))
        return
    if not report.days:
        stdout().print(f"nothing to compact in {report.uri}", highlight=False, markup=False)
        return
    table = new_table(
        [
            ("day", "left"),
            ("merged files", "right"),
            ("rows", "right"),
            ("file", "left"),
            ("leftovers removed", "right"),
        ],
        title=f"prediction log compaction ({report.uri})",
    )
    for entry in report.days:
        table.add_row(
            entry.day,
            str(entry.merged_files),
            str(entry.rows),
            entry.file or "-",
            str(entry.removed_leftovers),
        )
    stdout().print(table)


def _report(report: CompactionReport) -> dict[str, Any]:
    """The compaction as `--format json` prints it; docs/cli.md lists these keys."""
    return {
        "uri": report.uri,
        "merged_files": report.merged_files,
        "days": [
            {
                "day": d.day,
                "merged_files": d.merged_files,
                "rows": d.rows,
                "file": d.file,
                "removed_leftovers": d.removed_leftovers,
            }
            for d in report.days
        ],
    }


def _plain(value: Any) -> Any:
    """A DataFrame cell as JSON wants it: None for missing values, Python numbers and datetimes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _cut(text: str) -> str:
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"
