"""`taxiway data`: store a data file as a dataset version, list the versions, show one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import JustifyMethod
from rich.filesize import decimal
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from taxiway.cli.lazy import Verb, lazy_group
from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, short, stderr, stdout
from taxiway.display import when
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

if TYPE_CHECKING:
    from taxiway.data.duplicates import Duplicates
    from taxiway.data.profile import ColumnSchema, Scalar
    from taxiway.data.versions import AddProgress, AddResult, DatasetVersion, Phase

# Hashing runs at several hundred MB/s and pandas reads CSV at ~100 MB/s: below this a bar would only flicker.
PROGRESS_MIN_BYTES = 20 * 1024 * 1024
_SHOWN_CATEGORIES = 6  # a table cell, not the whole list: `--format json` has all of them
_PHASE_LABELS: dict[Phase, str] = {"hash": "hashing", "read": "reading", "copy": "storing"}
_UNBROKEN = frozenset({"version", "added (UTC)", "parent", "kind", "nullable"})  # never cut or folded
_LIST_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("version", "left"),
    ("name", "left"),
    ("rows", "right"),
    ("columns", "right"),
    ("size", "right"),
    ("added (UTC)", "left"),
    ("parent", "left"),
)
_SCHEMA_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("column", "left"),
    ("kind", "left"),
    ("nullable", "left"),
    ("nulls", "right"),
    ("distinct", "right"),
    ("min", "right"),
    ("max", "right"),
    ("categories", "left"),
)

_VERSIONS, _CHECKS = "Dataset versions", "Splits and checks"
# `taxiway data` lists these in workflow order and imports a module only when its command runs.
DATA_VERBS: tuple[Verb, ...] = (
    Verb(
        "add",
        "taxiway.cli.data",
        "Store FILE as a new dataset version with its inferred schema (a no-op if it is already stored).",
        _VERSIONS,
    ),
    Verb("list", "taxiway.cli.data", "List the stored dataset versions, newest first.", _VERSIONS),
    Verb(
        "show",
        "taxiway.cli.data",
        "Show one dataset version: where it came from, its size and lineage, and its schema.",
        _VERSIONS,
    ),
    Verb(
        "diff",
        "taxiway.cli.data_diff",
        "Rows added, removed and changed, label changes, columns and lineage between two versions.",
        _VERSIONS,
    ),
    Verb(
        "schema",
        "taxiway.cli.data_schema",
        "Show the schema (schema.yaml, or a version's inferred schema) and write schema.yaml from a version.",
        _CHECKS,
    ),
    Verb(
        "validate",
        "taxiway.cli.data_schema",
        "Check a dataset version against schema.yaml; exit 1 when a value breaks it.",
        _CHECKS,
    ),
    Verb(
        "pii",
        "taxiway.cli.data_pii",
        "Screen a version for personal data; exit 1 if a flagged column is neither allowed nor dropped.",
        _CHECKS,
    ),
    Verb(
        "split",
        "taxiway.cli.data_checks",
        "Split a dataset version into train, validation and test, then run `taxiway data check` on it.",
        _CHECKS,
    ),
    Verb(
        "check",
        "taxiway.cli.data_checks",
        "Check a split for leakage, dev/test distribution shift and dev-set power; record the evidence.",
        _CHECKS,
    ),
)

data_app = typer.Typer(
    cls=lazy_group(DATA_VERBS),
    help="Dataset versions: store a data file by the hash of its content, list the versions, show one.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("add", rich_help_panel=_VERSIONS)
def add(
    file: Annotated[
        Path,
        typer.Argument(
            help="a CSV (.csv, .csv.gz, .csv.bz2, .csv.xz, .csv.zip) or Parquet (.parquet, .pq) file",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            help="dataset name (default: the file name without its extensions)",
            show_default=False,
        ),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Store FILE as a new dataset version with its inferred schema (a no-op if it is already stored).

    A new version is screened for personal data (warnings on stderr, `data.pii` evidence), and the first
    one writes schema.yaml when the project has none.
    """
    # taxiway.data loads pandas and pyarrow (~0.4 s): only the data commands pay for it, not every command.
    from taxiway.data.dialect import CsvDialect, sniff_dialect
    from taxiway.data.reading import detect_kind
    from taxiway.data.versions import add_dataset

    project = Project.load()
    store = project.store
    privacy = project.charter.data
    try:
        with _progress_bar(file) as progress:
            target = project.charter.problem.target
            result = add_dataset(
                store,
                file,
                name=name,
                target=target,
                progress=progress,
                allowed_pii=privacy.allowed_pii,
                drop_columns=privacy.drop_columns,
            )
    finally:
        store.close()
    schema_file = _after_add(project, result)
    if output is TableFormat.json:
        emit_json(
            {
                "is_new": result.is_new,
                "version": _document(result.version),
                "schema_written": str(schema_file) if schema_file is not None else None,
                "pii": result.pii.details() if result.pii is not None else None,
                "duplicates": result.duplicates.document() if result.duplicates is not None else None,
            }
        )
        return
    stdout().print(_added_line(result), highlight=False, markup=False)
    if result.is_new and detect_kind(file).format == "csv":
        dialect = sniff_dialect(file, detect_kind(file).compression)
        if dialect != CsvDialect():  # said when it is not plain comma-separated UTF-8 with decimal points
            stdout().print(f"read as CSV with {dialect}", highlight=False, markup=False)
    if schema_file is not None:
        stdout().print(
            f"wrote {schema_file.name} from this version: the expectations every version is validated "
            "against; edit it by hand and commit it",
            highlight=False,
            markup=False,
        )


@data_app.command("list", rich_help_panel=_VERSIONS)
def list_(
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            help="only the versions of this dataset",
            show_default=False,
        ),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """List the stored dataset versions, newest first."""
    from taxiway.data.versions import list_datasets

    store = Project.load().store
    try:
        versions = list_datasets(store, name)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json({"versions": [_document(version) for version in versions]})
        return
    if not versions:
        which = f"of dataset '{name}' " if name is not None else ""
        stdout().print(
            f"no dataset versions {which}stored yet; add one with `taxiway data add FILE`",
            highlight=False,
            markup=False,
        )
        return
    table = Table(title="dataset versions")
    for header, justify in _LIST_COLUMNS:
        table.add_column(header, justify=justify, no_wrap=header in _UNBROKEN)
    for version in versions:
        _add_row(
            table,
            version.short_id,
            version.name,
            f"{version.n_rows:,}",
            str(version.n_columns),
            decimal(version.size_bytes),
            when(version.created_at),
            _short(version.parent_id),
        )
    _print(table)


@data_app.command("show", rich_help_panel=_VERSIONS)
def show(
    version: Annotated[
        str,
        typer.Argument(
            help="a version id, or a unique prefix of at least 4 characters",
            show_default=False,
        ),
    ],
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Show one dataset version: where it came from, its size and lineage, and its schema."""
    from taxiway.data.versions import get_dataset

    store = Project.load().store
    try:
        found = get_dataset(store, version)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json({**_document(found), "schema": found.schema})
        return
    facts = Table(title=f"dataset version {found.short_id}", show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    for field, value in (
        ("id", found.id),
        ("name", found.name),
        ("format", found.format),
        ("rows", f"{found.n_rows:,}"),
        ("columns", str(found.n_columns)),
        ("size", decimal(found.size_bytes)),
        ("added (UTC)", when(found.created_at)),
        ("parent", found.parent_id or "-"),
        ("source", found.source),
    ):
        _add_row(facts, field, value)
    schema = Table(title=f"schema ({found.n_columns} columns)")
    for header, justify in _SCHEMA_COLUMNS:
        schema.add_column(header, justify=justify, no_wrap=header in _UNBROKEN)
    for column in found.schema["columns"]:
        _add_row(schema, *_schema_cells(column))
    _print(facts, schema)


def _add_row(table: Table, *cells: str) -> None:
    # Cells hold the user's names and values: "[red]" in a column name is text, not Rich markup.
    table.add_row(*(Text(cell) for cell in cells))


def _print(*tables: Table) -> None:
    console = stdout()
    for table in tables:
        console.print(table)


def _document(version: DatasetVersion) -> dict[str, Any]:
    """A version as `--format json` prints it; docs/cli.md lists these keys, in this order."""
    return {
        "id": version.id,
        "short_id": version.short_id,
        "name": version.name,
        "format": version.format,
        "source": version.source,
        "n_rows": version.n_rows,
        "n_columns": version.n_columns,
        "size_bytes": version.size_bytes,
        "artifact": version.artifact,
        "parent_id": version.parent_id,
        "created_at": version.created_at,
    }


def _added_line(result: AddResult) -> str:
    version = result.version
    if not result.is_new:
        return (
            f"already stored as version {version.short_id} (name {version.name}, added "
            f"{when(version.created_at)}); nothing written"
        )
    if version.parent_id:
        lineage = f"parent {_short(version.parent_id)}"
    else:
        lineage = f"first version of '{version.name}'"
    return (
        f"added dataset version {version.short_id}: {version.name}, {version.n_rows:,} rows × "
        f"{version.n_columns} columns, {decimal(version.size_bytes)} ({lineage})"
    )


def _schema_cells(column: ColumnSchema) -> tuple[str, ...]:
    categories = column["categories"]
    if categories is None:
        shown = "-"
    else:
        shown = ", ".join(_cell(value) for value in categories[:_SHOWN_CATEGORIES])
        if len(categories) > _SHOWN_CATEGORIES:
            shown += f", ... ({len(categories) - _SHOWN_CATEGORIES} more)"
    nullable = "yes" if column["nullable"] else "no"
    return (
        column["name"],
        column["kind"],
        nullable,
        f"{column['null_count']:,}",
        f"{column['distinct_count']:,}",
        _cell(column["min"]),
        _cell(column["max"]),
        shown,
    )


def _cell(value: Scalar) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _short(identifier: str | None) -> str:
    return short(identifier) if identifier else "-"


@contextmanager
def _progress_bar(path: Path) -> Iterator[AddProgress | None]:
    """A byte-based progress bar on stderr for files big enough to take a while; None for small ones."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # add_dataset reports the missing file
    if size < PROGRESS_MIN_BYTES:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=stderr(), transient=True) as bar:
        tasks: dict[Phase, TaskID] = {}

        def advance(phase: Phase, n_bytes: int) -> None:
            if phase not in tasks:
                for earlier in tasks.values():
                    bar.update(earlier, visible=False)
                # pandas reports no bytes while reading: an indeterminate (pulsing) bar until it ends.
                tasks[phase] = bar.add_task(_PHASE_LABELS[phase], total=None if phase == "read" else size)
            bar.advance(tasks[phase], n_bytes)

        yield advance


def _after_add(project: Project, result: AddResult) -> Path | None:
    """After `data add` stored a new version: warn about personal data; write schema.yaml if none exists.

    Returns the path of schema.yaml when this call wrote it.
    """
    from taxiway.cli.data_pii import warn_pii
    from taxiway.cli.data_schema import schema_origin
    from taxiway.data.schema import SCHEMA_FILE, from_profile, save_schema

    if result.pii is not None and result.pii.findings:
        warn_pii(result.pii)
    if result.duplicates is not None:
        _warn_duplicates(result.duplicates, project.charter.problem.target)
    path = project.root / SCHEMA_FILE
    if not result.is_new or path.exists():
        return None
    expected = from_profile(result.version.schema, target=project.charter.problem.target)
    save_schema(expected, path, origin=schema_origin(result.version))
    return path


def _warn_duplicates(found: Duplicates, target: str) -> None:
    """Copies and conflicting labels on stderr, each with an example row: a warning, not a refusal."""
    console = stderr()
    shown = (found.copy_examples, found.conflict_examples)
    for message, rows in zip(found.messages(target), shown if found.copies else shown[1:], strict=False):
        console.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)
        if rows:
            example = ", ".join(f"{key}={value!r}" for key, value in rows[0].items() if key != "row_key")
            console.print(f"  e.g. {example}", highlight=False, markup=False, soft_wrap=True)
