"""`taxiway data split` and `taxiway data check`: a leakage-safe split, and the checks that prove it."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, stderr, stdout
from taxiway.display import when
from taxiway.errors import DataError
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.data lists them in `taxiway data --help`

if TYPE_CHECKING:
    from taxiway.charter.model import SplitStrategy
    from taxiway.data.checks import DataCheckReport
    from taxiway.data.findings import CheckReport, Finding, Verdict
    from taxiway.data.split import Split, SplitResult
    from taxiway.store import Store

_LABELS: dict[str, str] = {
    "leakage": "leakage",
    "same_distribution": "same distribution",
    "dev_power": "dev-set power",
}
_VERDICTS: dict[str, str] = {
    "pass": "pass",
    "warn": "warn",
    "fail": "FAIL",
    "skipped": "skipped",
}
_MARKS: dict[str, str] = {"fail": "✗", "warn": "!", "pass": "·", "skipped": "-"}
_SHOWN_CLASSES = 6  # class-share columns in the split table; `--format json` has every class


class Strategy(StrEnum):
    """How `taxiway data split` assigns rows (see docs/cli.md)."""

    random = "random"
    group = "group"
    time = "time"


@app.command("split")
def split(
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            "-v",
            help="a dataset version id or unique prefix (default: the newest version)",
            show_default=False,
        ),
    ] = None,
    strategy: Annotated[
        Strategy | None,
        typer.Option(
            "--strategy",
            "-s",
            help="override the charter's split.strategy (default: time with data.time_column, else group "
            "with data.group_column, else random)",
            show_default=False,
        ),
    ] = None,
    recut: Annotated[
        bool,
        typer.Option("--recut", help="time split: new cut points from this version, not its parent's"),
    ] = False,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Split a dataset version into train, validation and test, then run `taxiway data check` on it."""
    from taxiway.data.checks import check_split
    from taxiway.data.split import split_dataset
    from taxiway.data.versions import get_dataset, latest_dataset, load_dataset

    project = Project.load()
    store = project.store
    try:
        found = get_dataset(store, version) if version is not None else latest_dataset(store)
        if found is None:
            raise _no_dataset()
        frame = load_dataset(store, found)
        chosen: SplitStrategy | None = strategy.value if strategy is not None else None
        result = split_dataset(store, found, project.charter, strategy=chosen, recut=recut, frame=frame)
        report = None
        if result.is_new:
            with stderr().status("checking the split: leakage, same distribution, dev-set power ..."):
                report = check_split(store, result.split, project.charter, frame=frame)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json(
            {
                "is_new": result.is_new,
                "split": split_document(result.split),
                "checks": report.document() if report is not None else None,
            }
        )
    else:
        console = stdout()
        console.print(_made_line(result), highlight=False, markup=False)
        console.print(_split_table(result.split))
        if report is not None:
            _print_report(console, report)
    if report is not None and not report.passed:
        raise typer.Exit(1)


@app.command("check")
def check(
    split_ref: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="a split id or unique prefix (default: the newest split of the newest dataset version)",
            show_default=False,
        ),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Check a split for leakage, dev/test distribution shift and dev-set power; record the evidence."""
    from taxiway.data.checks import check_split
    from taxiway.data.split import current_split, get_split

    project = Project.load()
    store = project.store
    try:
        chosen = (
            get_split(store, split_ref) if split_ref is not None else _current(store, current_split(store))
        )
        with stderr().status("checking the split: leakage, same distribution, dev-set power ..."):
            report = check_split(store, chosen, project.charter)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json({"split": split_document(chosen), **report.document()})
    else:
        console = stdout()
        console.print(_split_table(chosen))
        _print_report(console, report)
    if not report.passed:
        raise typer.Exit(1)


def split_document(found: Split) -> dict[str, Any]:
    """A split as `--format json` prints it; docs/cli.md lists these keys, in this order."""
    return {
        "id": found.id,
        "short_id": found.short_id,
        "dataset_id": found.dataset_id,
        "strategy": found.strategy,
        "settings": found.settings,
        "counts": found.counts,
        "manifest": found.manifest,
        "created_at": found.created_at,
    }


def _current(store: Store, found: Split | None) -> Split:
    if found is not None:
        return found
    from taxiway.data.versions import latest_dataset

    newest = latest_dataset(store)
    if newest is None:
        raise _no_dataset()
    raise DataError(
        f"dataset version {newest.short_id} ({newest.name}) has no split yet: nothing to check",
        hint="run `taxiway data split` first (it also runs these checks)",
    )


def _no_dataset() -> DataError:
    return DataError("no dataset version is stored yet", hint="add one with `taxiway data add FILE`")


def _made_line(result: SplitResult) -> str:
    found = result.split
    settings = found.settings
    how = {
        "random": "random split (stratified by hash)",
        "group": f"group split by {settings.get('group_column')}",
        "time": f"time split by {settings.get('time_column')} (validation from "
        f"{settings.get('valid_start')}, test from {settings.get('test_start')})",
    }[found.strategy]
    if found.strategy == "time" and settings.get("holdout") == "shuffled":
        how = (
            f"time split by {settings.get('time_column')} (training before {settings.get('valid_start')}; "
            "validation and test drawn at random from the rows since)"
        )
    if not result.is_new:
        return (
            f"already split as {found.short_id}: {how} of dataset version {found.dataset_id[:12]}, made "
            f"{when(found.created_at)}; nothing written (run `taxiway data check` to check it again)"
        )
    return f"made split {found.short_id}: {how} of dataset version {found.dataset_id[:12]}"


def _split_table(found: Split) -> Table:
    counts = found.counts
    table = Table(
        title=f"split {found.short_id} ({found.strategy}) of dataset version {found.dataset_id[:12]}"
    )
    table.add_column("split")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    classes = list(counts.get("classes", {}))[:_SHOWN_CLASSES]
    target = found.settings["target"]
    for label in classes:
        table.add_column(f"{target}={label}", justify="right")
    if "target_mean" in counts:
        table.add_column(f"mean {target}", justify="right")
    for name in ("train", "valid", "test"):
        rows = counts[name]
        cells = [name, f"{rows:,}", f"{rows / max(counts['rows'], 1):.1%}"]
        cells += [f"{counts['classes'][label][name] / max(rows, 1):.1%}" for label in classes]
        if "target_mean" in counts:
            cells.append(f"{counts['target_mean'][name]:.4g}")
        table.add_row(*(Text(cell) for cell in cells))
    if counts.get("dropped"):
        why = "gap, window" if counts.get("outside_window") else "gap"
        table.add_row(Text(f"dropped ({why})"), Text(f"{counts['dropped']:,}"), Text(""))
    return table


def _print_report(console: Console, report: DataCheckReport) -> None:
    overview = Table(title=f"data checks of split {report.split.short_id}")
    for header in ("check", "verdict", "summary"):
        overview.add_column(header, no_wrap=header != "summary")
    named = dict(zip(_LABELS, report.reports, strict=True))
    for name, check_report in named.items():
        overview.add_row(Text(_LABELS[name]), _verdict(check_report.verdict), Text(check_report.summary))
    console.print(overview)
    for name, check_report in named.items():
        console.print(_details(_LABELS[name], check_report))
    warned = [str(r.check) for r in report.reports if r.status == "warn"]
    outcome = "all checks pass" if report.passed else "a check failed"
    if report.passed and warned:
        # A warning does not stop the command, but it is not proof: the checklist shows it ⚠ until accepted.
        outcome = f"no check failed; {', '.join(warned)} warned (not proven until `taxiway accept`)"
    console.print(f"{outcome}; evidence recorded for split {report.split.short_id}", highlight=False)


def _details(label: str, report: CheckReport) -> Table:
    table = Table(title=f"{label}: {_VERDICTS[report.verdict]}", show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for part in report.parts:
        table.add_row(Text(part.name), Text(f"{_VERDICTS[part.verdict]}: {part.summary}"))
        shown = set()
        for finding in part.findings:
            # A summary cut short of the finding's reasons and advice: the whole message, then a row.
            if finding.message not in part.summary:
                table.add_row(Text(f"  {_MARKS[finding.verdict]}"), Text(finding.message))
            example = _example(finding) if finding.examples else ""
            if example and example not in shown:
                shown.add(example)
                table.add_row(Text(f"  {_MARKS[finding.verdict]} e.g."), Text(example))
    for key, value in report.figures if not report.parts else ():
        table.add_row(Text(key), Text(value))
    for finding in report.findings:
        if finding.verdict in ("fail", "warn"):
            table.add_row(Text(f"{_MARKS[finding.verdict]} {finding.check}"), Text(finding.message))
    for note in report.notes:
        table.add_row(Text("note"), Text(note))
    return table


def _example(finding: Finding) -> str:
    splits = finding.figures.get("splits")
    where = f"{splits[1]} row " if splits else ""
    row = ", ".join(f"{key}={value!r}" for key, value in finding.examples[0].items())
    return f"{where}{row}"


def _verdict(verdict: Verdict) -> Text:
    style = {"fail": "bold red", "warn": "yellow", "pass": "green"}.get(verdict, "")
    return Text(_VERDICTS[verdict], style=style)
