"""`taxiway data diff OLD NEW`: rows added, removed and changed, label changes, columns, lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from taxiway.cli.data_schema import brief, cell
from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.data lists them in `taxiway data --help`

if TYPE_CHECKING:
    from taxiway.data.diff import VersionDiff


@app.command("diff")
def diff(
    old: Annotated[str, typer.Argument(help="the old version (id or unique prefix)", show_default=False)],
    new: Annotated[str, typer.Argument(help="the new version (id or unique prefix)", show_default=False)],
    examples: Annotated[
        int, typer.Option("--examples", "-n", min=0, max=1000, help="example rows listed per kind of change")
    ] = 5,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Rows added, removed and changed, label changes, columns and lineage between two versions."""
    from taxiway.data.diff import diff_versions

    project = Project.load()
    store = project.store
    try:
        result = diff_versions(
            store,
            old,
            new,
            target=project.charter.problem.target,
            key_column=project.charter.data.key_column,
            max_examples=examples,
        )
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json(_diff_document(result))
        return
    _print_diff(result)


def _diff_document(result: VersionDiff) -> dict[str, Any]:
    rows = result.rows
    return {
        "old": brief(result.old),
        "new": brief(result.new),
        "lineage": {
            "relation": result.lineage.relation,
            "path": list(result.lineage.path),
            "common_ancestor": result.lineage.common_ancestor,
        },
        "matched_by": rows.matched_by,
        "key_column": rows.key_column,
        "target": rows.target,
        "columns_added": list(rows.columns_added),
        "columns_removed": list(rows.columns_removed),
        "rows": {
            "old": rows.n_old,
            "new": rows.n_new,
            "added": rows.added,
            "removed": rows.removed,
            "changed": rows.changed,
            "label_changes": rows.label_changes,
            "unchanged": rows.unchanged,
        },
        "examples": {
            kind: [
                {"key": c.key, "old_row": c.old_row, "new_row": c.new_row, "values": c.values}
                for c in changes
            ]
            for kind, changes in rows.examples.items()
        },
    }


def _print_diff(result: VersionDiff) -> None:
    console = stdout()
    rows = result.rows
    added, removed = ", ".join(rows.columns_added) or "-", ", ".join(rows.columns_removed) or "-"
    say = [
        (
            f"old {result.old.short_id} ({result.old.name}, {rows.n_old:,} rows) -> "
            f"new {result.new.short_id} ({result.new.name}, {rows.n_new:,} rows)"
        ),
        f"lineage: {_lineage_text(result)}",
        f"columns added: {added}; removed: {removed}",
    ]
    if rows.matched_by == "key":
        say.append(f"rows matched by data.key_column '{rows.key_column}'")
    else:
        say.append(
            "rows matched by the content of their feature columns (no data.key_column): "
            "a row whose features changed counts as removed + added"
        )
    for line in say:
        console.print(line, highlight=False, markup=False)
    counts = Table(title="rows")
    for header in ("added", "removed", "changed", "label changes", "unchanged"):
        counts.add_column(header, justify="right")
    changed = "n/a" if rows.changed is None else f"{rows.changed:,}"
    counts.add_row(
        f"{rows.added:,}", f"{rows.removed:,}", changed, f"{rows.label_changes:,}", f"{rows.unchanged:,}"
    )
    console.print(counts)
    totals = {"added": rows.added, "removed": rows.removed, "changed": rows.changed or 0}
    totals["label_changes"] = rows.label_changes
    headers = (
        ("key", "old row", "new row", "values")
        if rows.matched_by == "key"
        else ("old row", "new row", "values")
    )
    for kind, changes in rows.examples.items():
        if not changes:
            continue
        table = Table(title=f"{kind.replace('_', ' ')}: first {len(changes)} of {totals[kind]:,}")
        for header in headers:
            table.add_column(header, overflow="fold")
        for c in changes:
            values = ", ".join(
                f"{k}: {_pair_text(v) if kind in ('changed', 'label_changes') else cell(v)}"
                for k, v in c.values.items()
            )
            cells = (cell(c.key), cell(c.old_row), cell(c.new_row), values)[4 - len(headers) :]
            table.add_row(*(Text(x) for x in cells))
        console.print(table)


def _lineage_text(result: VersionDiff) -> str:
    lineage = result.lineage
    path = " -> ".join(version[:12] for version in lineage.path)
    steps = len(lineage.path) - 1
    generations = f"{steps} generation{'s' if steps != 1 else ''}: {path}"
    return {
        "same": "the same version",
        "ancestor": f"old is an ancestor of new ({generations})",
        "descendant": f"old descends from new ({generations})",
        "common_ancestor": f"siblings through {str(lineage.common_ancestor)[:12]} ({path})",
        "unrelated": "unrelated: no common parent",
    }[lineage.relation]


def _pair_text(value: Any) -> str:
    before, after = value
    return f"{cell(before)} -> {cell(after)}"
