"""Bounding the work of one request before any per-field work is done on it.

A body of one valid row plus 500,000 unknown keys is only 7 MB, but built into a table it costs minutes of
CPU and gigabytes (a column per key); 10,000 empty rows cost a problem per required field per row. So
before a request's rows reach the validator, one pass looks only at sizes: fields per row (a dict's
length is free), then for rows of a sane size their unknown fields, empty rows and over-long text. A
request that breaks any of these is refused here, naming the first few problems and counting the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from taxiway.data.schema_check import FieldProblem
from taxiway.serve.contract import InputContract
from taxiway.serve.limits import Limits
from taxiway.serve.refusals import InvalidRows

__all__ = ["guard_rows"]


def guard_rows(rows: list[dict[str, Any]] | pd.DataFrame, contract: InputContract, limits: Limits) -> None:
    """Refuse ``rows`` cheaply when their size alone shows they are hostile or broken.

    Raises:
        InvalidRows: unknown or too many fields, empty rows, over-long text (422).

    Example:
        >>> from taxiway.data.schema import ColumnSpec, DatasetSchema
        >>> from taxiway.serve.contract import build_contract
        >>> contract = build_contract(DatasetSchema(columns={"x": ColumnSpec(type="float")}), ["x"],
        ...                           profile=None, margin=0.0)
        >>> guard_rows([{"x": 1.0}], contract, Limits())  # fine: nothing raised
        >>> try:
        ...     guard_rows([{"x": 1.0, **{f"k{i}": 0 for i in range(5000)}}, {}], contract, Limits())
        ... except Exception as error:
        ...     print(error.message, error.detail()[0]["kind"])
        2 of 2 rows do not match the model's input schema unexpected_column
    """

    known = frozenset(contract.features) | contract.ignored
    if isinstance(rows, pd.DataFrame):
        columns = [str(c) for c in rows.columns[: len(known) + limits.max_unknown_fields + 1]]
        unknown = [c for c in columns if c not in known]
        if len(rows.columns) > len(known) + limits.max_unknown_fields or unknown:
            problem = _unknown(unknown, max(len(unknown), len(rows.columns) - len(known)))
            raise InvalidRows.first_rows([[problem]], total_rows=len(rows))
        return
    widest = len(known) + limits.max_unknown_fields
    problems: dict[int, list[FieldProblem]] = {}
    refused = unknown_total = 0
    empty = [FieldProblem("*", "missing_column", "the row is empty: send its fields")]  # one for them all
    for position, row in enumerate(rows):
        if not row:
            found = empty
        else:
            found = _row_problems(row, widest, limits.max_text_chars, len(contract.features))
        if not found and not known.issuperset(row):  # a set operation in C: no Python loop when all known
            unknown = [name for name in row if name not in known]
            unknown_total += len(unknown)
            if unknown_total > limits.max_unknown_fields:
                found = [_unknown(unknown, len(unknown))]
        if found:
            refused += 1
            if len(problems) < limits.max_problems_shown:
                problems[position] = found
    # A few unknown fields are left to the validator, which names each; many are refused here.
    if refused:
        raise InvalidRows.first_rows(
            [problems.get(position, []) for position in range(max(problems) + 1)],
            total_rows=len(rows),
            refused_rows=refused,
        )


def _row_problems(row: dict[str, Any], widest: int, max_text: int, features: int) -> list[FieldProblem]:
    if len(row) > widest:  # len() of a dict is free: no key of it is looked at
        message = f"the row has {len(row):,} fields; the model takes {features}"
        return [FieldProblem("*", "unexpected_column", message)]
    long_text = _long_text(row.items(), max_text)
    return [] if long_text is None else [long_text]


def _unknown(names: list[str], count: int) -> FieldProblem:
    shown = ", ".join(repr(str(name)[:40]) for name in names[:5])
    listed = f" ({shown}{', ...' if count > 5 else ''})" if shown else ""
    return FieldProblem(
        "*", "unexpected_column", f"{max(count, 1):,} field(s) the model does not take{listed}"
    )


def _long_text(items: Iterable[tuple[str, Any]], max_text: int) -> FieldProblem | None:
    for name, value in items:
        if isinstance(value, str) and len(value) > max_text:
            return FieldProblem(
                str(name)[:40],
                "wrong_type",
                f"{name}: text of {len(value):,} characters (at most {max_text:,})",
            )
    return None
