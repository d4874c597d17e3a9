"""How commands print: Rich for people, exactly one JSON document for machines, errors on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console, JustifyMethod
from rich.table import Table


class Format(StrEnum):
    """Output formats every reporting command offers."""

    text = "text"
    md = "md"
    json = "json"


FORMAT_OPTION = typer.Option(
    Format.text, "--format", "-f", help="text for people, md for docs, json for scripts"
)


class TableFormat(StrEnum):
    """What commands printing a table or one record offer: text for people, one JSON document for scripts."""

    text = "text"
    json = "json"


TableFormatOption = Annotated[
    TableFormat, typer.Option("--format", "-f", help="text for people, json for scripts")
]


# A pipe or a file has no width; Rich would assume 80 columns and cut ids and times with "…".
PIPE_WIDTH = 200


def stdout() -> Console:
    """A console for results: colour only on a terminal and never with NO_COLOR; full width in a pipe."""
    return _console(stderr=False)


def stderr() -> Console:
    """A console for progress bars and messages, so stdout carries only the result."""
    return _console(stderr=True)


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, no_color="NO_COLOR" in os.environ)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def emit_json(document: Any) -> None:
    """Print one JSON document with stable key order (as built) and ISO 8601 times."""
    sys.stdout.write(json.dumps(document, indent=2, default=_jsonable, ensure_ascii=False) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def short(identifier: str, length: int = 12) -> str:
    """The short form of a content hash shown to people (full ids stay in JSON)."""
    return identifier[:length]


def new_table(columns: Iterable[tuple[str, JustifyMethod]], *, title: str | None = None) -> Table:
    """A Rich table with its columns declared as (header, justify) pairs, in a fixed order.

    Example:
        >>> [c.header for c in new_table([("run", "left"), ("roc_auc", "right")]).columns]
        ['run', 'roc_auc']
    """
    table = Table(title=title)
    for header, justify in columns:
        table.add_column(header, justify=justify)
    return table


def show_report(
    document: dict[str, Any],
    output: Format,
    render: Callable[[dict[str, Any], Console], None],
    *,
    passed: bool = True,
) -> None:
    """Print a report as one JSON document or for people; exit 1 when the check it reports failed."""
    if output is Format.json:
        emit_json(document)
    else:
        render(document, stdout())
    if not passed:
        raise typer.Exit(1)
