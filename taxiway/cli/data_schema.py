"""`taxiway data schema / validate`: schema.yaml, written from a version and checked against any version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from taxiway.cli.data import FormatOption, OutputFormat, data_app
from taxiway.cli.output import emit_json, stderr, stdout
from taxiway.errors import DataError
from taxiway.project import Project

if TYPE_CHECKING:
    from taxiway.data.duplicates import Duplicates
    from taxiway.data.schema import DatasetSchema
    from taxiway.data.validate import ValidationReport
    from taxiway.data.versions import AddResult, DatasetVersion
    from taxiway.store import Store

_SHOWN = 6  # categories or example values in a table cell; `--format json` has them all
VersionOption = Annotated[
    str | None,
    typer.Option(
        "--version",
        "-v",
        help="a dataset version id or unique prefix (default: the newest version)",
        show_default=False,
    ),
]


@data_app.command("schema")
def schema(
    version: VersionOption = None,
    write: Annotated[
        bool, typer.Option("--write", help="write schema.yaml from the version's inferred schema")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="with --write: replace an existing schema.yaml (hand edits are lost)"),
    ] = False,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Show the schema (schema.yaml, or a version's inferred schema) and write schema.yaml from a version."""
    from taxiway.data.schema import SCHEMA_FILE, from_profile, load_schema, save_schema

    project = Project.load()
    path = project.root / SCHEMA_FILE
    if force and not write:
        raise DataError("--force only applies with --write", hint="run `taxiway data schema --write --force`")
    if write and path.exists() and not force:
        raise DataError(
            f"{path} already exists and may hold hand edits; --write will not replace it silently",
            hint="compare first with `taxiway data schema --version V`, then replace it with "
            "`taxiway data schema --write --force`, or edit the file by hand",
        )
    found: DatasetVersion | None = None
    previous: DatasetSchema | None = None
    if write or version is not None or not path.is_file():
        store = project.store
        try:
            found = version_or_newest(store, version)
        finally:
            store.close()
        shown = from_profile(found.schema, target=project.charter.problem.target)
    else:
        shown = load_schema(path)
    if write and found is not None:
        previous = _readable(path)
        save_schema(shown, path, origin=_origin(found))
    changed = _changed_columns(previous, shown) if previous is not None else []
    if output is OutputFormat.json:
        emit_json(
            {
                "source": "version" if found is not None else "file",
                "file": str(path),
                "version": brief(found) if found is not None else None,
                "written": write,
                "replaced": write and previous is not None,
                "changed_columns": changed,
                "schema": _schema_document(shown),
            }
        )
        return
    console = stdout()
    console.print(_schema_table(shown, f"schema of version {found.short_id}" if found else f"{path.name}"))
    if write:
        replaced = f"replaced (columns changed: {', '.join(changed) or 'none'})" if previous else "wrote"
        console.print(f"{replaced} {path}: edit it by hand and commit it", highlight=False, markup=False)
    elif found is not None:
        console.print(
            f"inferred from version {found.short_id}; `taxiway data schema --write` saves it as "
            f"{SCHEMA_FILE}",
            highlight=False,
            markup=False,
        )


@data_app.command("validate")
def validate(version: VersionOption = None, output: FormatOption = OutputFormat.text) -> None:
    """Check a dataset version against schema.yaml; exit 1 when a value breaks it."""
    from taxiway.data.schema import SCHEMA_FILE, load_schema
    from taxiway.data.validate import validate_frame
    from taxiway.data.versions import load_dataset
    from taxiway.store.checks import Check

    project = Project.load()
    expected = load_schema(project.root / SCHEMA_FILE)  # bad input stops here, before any work
    store = project.store
    try:
        found = version_or_newest(store, version)
        report = validate_frame(expected, load_dataset(store, found))
        store.evidence.record(
            Check.DATA_SCHEMA,
            subject_kind="dataset",
            subject_id=found.id,
            status="pass" if report.is_valid else "fail",
            value=float(report.n_violations),
            threshold=0.0,
            details={
                "schema_file": SCHEMA_FILE,
                "inferred": False,
                "n_rows": report.n_rows,
                "n_violations": report.n_violations,
                "columns": report.counts(),
            },
        )
    finally:
        store.close()
    _print_validation(found, report, output, SCHEMA_FILE)
    if not report.is_valid:
        raise typer.Exit(1)


def after_add(project: Project, result: AddResult) -> Path | None:
    """After `data add` stored a new version: warn about personal data; write schema.yaml if none exists.

    Returns the path of schema.yaml when this call wrote it.
    """
    from taxiway.cli.data_pii import warn_pii
    from taxiway.data.schema import SCHEMA_FILE, from_profile, save_schema

    if result.pii is not None and result.pii.findings:
        warn_pii(result.pii)
    if result.duplicates is not None:
        _warn_duplicates(result.duplicates, project.charter.problem.target)
    path = project.root / SCHEMA_FILE
    if not result.is_new or path.exists():
        return None
    expected = from_profile(result.version.schema, target=project.charter.problem.target)
    save_schema(expected, path, origin=_origin(result.version))
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


def _readable(path: Path) -> DatasetSchema | None:
    """The schema a file holds, or None when there is none or it cannot be read (it is being replaced)."""
    from taxiway.data.schema import load_schema

    if not path.is_file():
        return None
    try:
        return load_schema(path)
    except DataError:
        return None


def version_or_newest(store: Store, ref: str | None) -> DatasetVersion:
    """The version ``ref`` names, or the newest one when ``ref`` is None."""
    from taxiway.data.versions import get_dataset, latest_dataset

    if ref is not None:
        return get_dataset(store, ref)
    newest = latest_dataset(store)
    if newest is None:
        raise DataError("no dataset versions stored yet", hint="add one with `taxiway data add FILE`")
    return newest


def _origin(version: DatasetVersion) -> str:
    added = version.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"Written from dataset version {version.short_id} ({version.name}, added {added})."


def brief(version: DatasetVersion) -> dict[str, Any]:
    """A version as JSON output names it: ``{id, short_id, name, n_rows}``."""
    return {"id": version.id, "short_id": version.short_id, "name": version.name, "n_rows": version.n_rows}


def _changed_columns(before: DatasetSchema, after: DatasetSchema) -> list[str]:
    names = [*before.columns, *(name for name in after.columns if name not in before.columns)]
    return [name for name in names if before.columns.get(name) != after.columns.get(name)]


def _schema_document(expected: DatasetSchema) -> dict[str, Any]:
    return {
        "schema_version": expected.schema_version,
        "columns": [{"name": name, **spec.model_dump()} for name, spec in expected.columns.items()],
    }


def _schema_table(expected: DatasetSchema, title: str) -> Table:
    table = Table(title=title)
    for header in ("column", "type", "nullable", "min", "max", "categories", "pattern", "target"):
        table.add_column(header, no_wrap=header in ("type", "nullable", "target"))
    for name, spec in expected.columns.items():
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    name,
                    spec.type,
                    "yes" if spec.nullable else "no",
                    cell(spec.min),
                    cell(spec.max),
                    _few(spec.categories) if spec.categories is not None else "-",
                    spec.pattern or "-",
                    "yes" if spec.target else "",
                )
            )
        )
    return table


def _print_validation(
    version: DatasetVersion, report: ValidationReport, output: OutputFormat, schema_file: str
) -> None:
    if output is OutputFormat.json:
        emit_json(
            {
                "version": brief(version),
                "schema_file": schema_file,
                "valid": report.is_valid,
                "n_rows": report.n_rows,
                "n_violations": report.n_violations,
                "counts": report.counts(),
                "violations": [
                    {
                        "column": v.column,
                        "kind": v.kind,
                        "count": v.count,
                        "expected": v.expected,
                        "rows": list(v.rows),
                        "examples": list(v.examples),
                    }
                    for v in report.violations
                ],
            }
        )
        return
    console = stdout()
    where = f"version {version.short_id} ({version.name}, {report.n_rows:,} rows) against {schema_file}"
    if report.is_valid:
        console.print(f"valid: {where}: every column meets it", highlight=False, markup=False)
        return
    columns = len(report.counts())
    table = Table(title=f"{report.n_violations:,} violations in {columns} column{'s' if columns > 1 else ''}")
    for header in ("column", "problem", "count", "expected", "rows", "examples"):
        table.add_column(header, justify="right" if header == "count" else "left")
    for v in report.violations:
        rows = ", ".join(str(row) for row in v.rows) + (", ..." if v.count > len(v.rows) else "")
        examples = "-" if v.kind in ("null", "missing_column") else ", ".join(repr(e) for e in v.examples)
        table.add_row(
            *(Text(c) for c in (v.column, v.kind, f"{v.count:,}", v.expected, rows or "-", examples))
        )
    console.print(f"invalid: {where}", highlight=False, markup=False)
    console.print(table)


def _few(values: list[Any]) -> str:
    shown = ", ".join(cell(value) for value in values[:_SHOWN])
    return shown + (f", ... ({len(values) - _SHOWN} more)" if len(values) > _SHOWN else "")


def cell(value: Any) -> str:
    """A value as a table cell shows it: ``-`` for None, floats to 6 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _register() -> None:
    # `taxiway data diff` and `taxiway data pii` live beside this module and share its helpers.
    from taxiway.cli import data_diff, data_pii  # noqa: F401


_register()
