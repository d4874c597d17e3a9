"""The one schema validator: a table (a dataset version, or a batch of live requests) against ``schema.yaml``.

Every check is a vectorised mask over a whole column (numpy / pandas / pyarrow), never a Python loop over
rows: a million rows of twenty columns take well under a second (``benchmarks/schema_validation.py``).
Offline, ``taxiway data validate`` prints the :class:`ValidationReport`; in serving, :func:`row_failures`
turns the same report into one list of field problems per request row (for a 422 answer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from taxiway.data.schema import ColumnSpec, DatasetSchema

ViolationKind = Literal[
    "missing_column",
    "unexpected_column",
    "wrong_type",
    "null",
    "out_of_range",
    "unknown_category",
    "pattern_mismatch",
]
VIOLATION_KINDS: tuple[ViolationKind, ...] = ViolationKind.__args__  # type: ignore[attr-defined]
MAX_EXAMPLES = 5  # rows and values shown per violation; counts are always complete
_SHOWN_CATEGORIES = 8  # in a message: "one of a, b, c, ... (12 in all)"
_A_TYPE = {
    "integer": "an integer",
    "float": "a number",
    "boolean": "true or false",
    "string": "text",
    "category": "a category",
    "datetime": "an ISO 8601 date or time",
}
_TRUE_FALSE = ("true", "false", "1", "0", "1.0", "0.0")

__all__ = [
    "MAX_EXAMPLES",
    "VIOLATION_KINDS",
    "FieldProblem",
    "ValidationReport",
    "Violation",
    "ViolationKind",
    "row_failures",
    "validate_frame",
]


@dataclass(frozen=True)
class Violation:
    """One kind of problem in one column: how many rows have it, what was expected, the first few rows.

    ``rows`` are 0-based positions in the table (the order of its rows, not its index labels).
    """

    column: str
    kind: ViolationKind
    count: int
    expected: str
    rows: tuple[int, ...]
    examples: tuple[Any, ...]
    # Every failing position and the column itself, for row_failures; not part of equality or repr.
    positions: np.ndarray[Any, np.dtype[np.intp]] = field(repr=False, compare=False)
    source: pd.Series | None = field(default=None, repr=False, compare=False)
    is_integral: bool = field(default=False, repr=False, compare=False)  # show 7.0 as 7


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate_frame` found: every violation, in schema column order.

    Example:
        >>> from taxiway.data.schema import ColumnSpec
        >>> schema = DatasetSchema(columns={"age": ColumnSpec(type="integer", min=0)})
        >>> report = validate_frame(schema, pd.DataFrame({"age": [3, -1, -2]}))
        >>> report.is_valid, report.n_violations, report.counts()
        (False, 2, {'age': {'out_of_range': 2}})
    """

    n_rows: int
    violations: tuple[Violation, ...]

    @property
    def is_valid(self) -> bool:
        """Whether the table met every expectation."""
        return not self.violations

    @property
    def n_violations(self) -> int:
        """Failing values over all columns and kinds (a missing column counts once per row)."""
        return sum(violation.count for violation in self.violations)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{column: {kind: count}}``, as recorded in the ``data.schema`` evidence."""
        result: dict[str, dict[str, int]] = {}
        for violation in self.violations:
            result.setdefault(violation.column, {})[violation.kind] = violation.count
        return result


@dataclass(frozen=True)
class FieldProblem:
    """One field of one row that broke the schema, as serving reports it."""

    column: str
    kind: ViolationKind
    message: str


def validate_frame(schema: DatasetSchema, frame: pd.DataFrame) -> ValidationReport:
    """Check every column of ``frame`` against ``schema``, with one vectorised pass per column.

    Values are cast to the schema's type the way a CSV or a JSON request would need (``"7"`` is an integer,
    ``7.0`` too, ``7.5`` is not); a value that cannot be cast is ``wrong_type`` and is not checked further.
    Missing values are only checked for ``nullable``.

    Example:
        >>> from taxiway.data.schema import ColumnSpec
        >>> schema = DatasetSchema(columns={
        ...     "age": ColumnSpec(type="integer", nullable=False, min=0, max=120),
        ...     "city": ColumnSpec(type="string", categories=["Lyon", "Oslo"])})
        >>> frame = pd.DataFrame({"age": ["31", "x", None], "city": ["Lyon", "Rome", "Oslo"]})
        >>> [(v.column, v.kind, v.count, v.rows) for v in validate_frame(schema, frame).violations]
        [('age', 'wrong_type', 1, (1,)), ('age', 'null', 1, (2,)), ('city', 'unknown_category', 1, (1,))]
    """
    n_rows = len(frame)
    names = [str(name) for name in frame.columns]
    violations: list[Violation] = []
    for name, spec in schema.columns.items():
        if name not in names:
            expected = f"{spec.type} values"
            every = np.arange(n_rows, dtype=np.intp)
            violations.append(Violation(name, "missing_column", n_rows, expected, (), (), every))
            continue
        position = names.index(name)  # first of any repeated name, as a reader would take
        violations.extend(_check_column(name, spec, frame.iloc[:, position]))
    for position, name in enumerate(names):
        if name not in schema.columns:
            column = frame.iloc[:, position]
            every = np.arange(n_rows, dtype=np.intp)
            violations.append(
                _violation(name, "unexpected_column", "no such column in the schema", every, column)
            )
    return ValidationReport(n_rows=n_rows, violations=tuple(violations))


def row_failures(report: ValidationReport) -> list[list[FieldProblem]]:
    """One list per row of the validated table: the fields of that row that broke the schema.

    Serving answers a batch with 422 and these messages per row and field; valid rows get ``[]``.

    Example:
        >>> from taxiway.data.schema import ColumnSpec
        >>> schema = DatasetSchema(columns={"age": ColumnSpec(type="integer", nullable=False, max=120)})
        >>> frame = pd.DataFrame({"age": [40, 212, None], "pet": ["cat", None, None]})
        >>> report = validate_frame(schema, frame)
        >>> for problems in row_failures(report):
        ...     print([problem.message for problem in problems])
        ['pet: unexpected field (not in the schema)']
        ['age: 212 is not at most 120']
        ['age: is missing (the schema says it is not nullable)']
    """
    rows: list[list[FieldProblem]] = [[] for _ in range(report.n_rows)]
    for violation in report.violations:
        if violation.kind == "missing_column":
            message = f"{violation.column}: is required ({violation.expected})"
            for position in violation.positions:
                rows[position].append(FieldProblem(violation.column, violation.kind, message))
            continue
        values: list[Any] = [None] * len(violation.positions)
        if violation.source is not None and violation.kind != "null":
            values = _plain(violation.source.iloc[violation.positions], integral=violation.is_integral)
        for position, value in zip(violation.positions, values, strict=True):
            if violation.kind == "unexpected_column" and value is None:
                continue  # a field the row does not set is not a problem of that row
            rows[position].append(FieldProblem(violation.column, violation.kind, _message(violation, value)))
    return rows


def _check_column(name: str, spec: ColumnSpec, column: pd.Series) -> list[Violation]:
    found: list[Violation] = []

    def flag(kind: ViolationKind, expected: str, mask: np.ndarray[Any, np.dtype[np.bool_]]) -> None:
        if mask.any():
            positions = np.flatnonzero(mask)
            found.append(_violation(name, kind, expected, positions, column, integral=spec.type == "integer"))

    present = column.notna().to_numpy(dtype=bool)
    values, cast_ok = _cast(spec, column, present)
    flag("wrong_type", _A_TYPE[spec.type], present & ~cast_ok)
    if not spec.nullable:
        flag("null", "a value (not nullable)", ~present)
    usable = present & cast_ok
    low, high = spec.bounds()
    if values is not None and (low is not None or high is not None):
        if isinstance(values.dtype, np.dtype):
            array = values.to_numpy()
        else:  # nullable extension dtypes (Int64, Float64, int64[pyarrow]): NA as NaN
            array = values.to_numpy(dtype="float64", na_value=np.nan)
        outside = np.zeros(len(array), dtype=bool)
        with np.errstate(invalid="ignore"):
            if low is not None:
                outside |= array < _comparable(low, array)
            if high is not None:
                outside |= array > _comparable(high, array)
        flag("out_of_range", _range_text(spec), outside & usable)
    if spec.categories is not None:
        flag("unknown_category", _one_of(spec.categories), usable & ~_in_categories(column, spec.categories))
    if spec.pattern is not None:
        text = _text_form(column)
        matched = text.str.fullmatch(spec.pattern).to_numpy(dtype=bool, na_value=False)
        flag("pattern_mismatch", f"text matching {spec.pattern}", usable & ~matched)
    return found


def _cast(
    spec: ColumnSpec, column: pd.Series, present: np.ndarray[Any, np.dtype[np.bool_]]
) -> tuple[pd.Series | None, np.ndarray[Any, np.dtype[np.bool_]]]:
    """(the column as comparable values, or None if not ranged; which values could be cast)."""
    types = pd.api.types
    dtype = column.dtype
    is_number = types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)
    everything = np.ones(len(column), dtype=bool)
    if spec.type in ("integer", "float"):
        if is_number:
            numbers = column
        elif types.is_bool_dtype(dtype) or types.is_datetime64_any_dtype(dtype):
            return None, ~present
        else:
            numbers = pd.to_numeric(column, errors="coerce")
            if types.is_bool_dtype(numbers.dtype):
                return None, ~present
        cast_ok = numbers.notna().to_numpy(dtype=bool) | ~present
        if dtype == object:  # to_numeric reads True as 1; true/false is not a number, alone or among them
            cast_ok &= ~column.map(_is_bool, na_action="ignore").fillna(False).to_numpy(dtype=bool)
        if spec.type == "integer" and types.is_float_dtype(numbers.dtype):
            floats = numbers.to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                cast_ok &= ~present | (np.isfinite(floats) & (np.mod(floats, 1.0) == 0))
        return numbers, cast_ok
    if spec.type == "boolean":
        if types.is_bool_dtype(dtype):
            return None, everything
        if is_number:
            return None, ~present | column.isin([0, 1]).to_numpy(dtype=bool)
        lowered = column.astype("str").str.lower()
        return None, ~present | lowered.isin(_TRUE_FALSE).to_numpy(dtype=bool)
    if spec.type == "datetime":
        if types.is_datetime64_any_dtype(dtype):
            moments = column
        elif is_number or types.is_bool_dtype(dtype):
            return None, ~present
        else:
            moments = pd.to_datetime(column.astype("str"), errors="coerce", format="ISO8601", utc=True)
        if getattr(moments.dtype, "tz", None) is not None:
            moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
        return moments, moments.notna().to_numpy(dtype=bool) | ~present
    return None, everything  # string and category: any value has a text form


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _comparable(bound: Any, array: np.ndarray[Any, Any]) -> Any:
    if isinstance(bound, pd.Timestamp):
        return np.asarray(bound.to_datetime64()).astype(array.dtype)
    return bound


def _in_categories(column: pd.Series, categories: list[Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    allowed_text = {str(value) for value in categories}
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Decide once per declared category, then look the answer up by code: no pass over the text.
        declared = column.cat.categories
        if len(declared) == 0:
            return np.ones(len(column), dtype=bool)  # no category declared: every value is missing
        known = np.asarray(declared.isin(categories), dtype=bool)
        known |= np.asarray(declared.astype("str").isin(list(allowed_text)), dtype=bool)
        codes = column.cat.codes.to_numpy()
        return np.where(codes >= 0, known[codes], True)
    same = column.isin(categories).to_numpy(dtype=bool)
    if same.all() or (_is_text(column) and all(isinstance(value, str) for value in categories)):
        return same
    # A CSV may read category "7" as the number 7, a JSON request may send 7 for "7": compare text forms.
    return same | _text_form(column).isin(list(allowed_text)).to_numpy(dtype=bool)


def _text_form(column: pd.Series) -> pd.Series:
    """The column as text; whole floats without ".0" (a CSV reads codes 7, 8 with a gap as 7.0, 8.0)."""
    if _is_text(column):
        return column
    if not pd.api.types.is_float_dtype(column.dtype):
        return column.astype("str")
    numbers = column.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(numbers) & (np.mod(numbers, 1.0) == 0) & (np.abs(numbers) < 2**63)
    text = column.astype("str").to_numpy(dtype=object, copy=True)
    text[whole] = numbers[whole].astype(np.int64).astype(str)
    return pd.Series(text, index=column.index, dtype="str").where(column.notna())


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.dtype) and column.dtype != object


def _violation(
    name: str,
    kind: ViolationKind,
    expected: str,
    positions: np.ndarray[Any, np.dtype[np.intp]],
    column: pd.Series,
    *,
    integral: bool = False,
) -> Violation:
    first = positions[:MAX_EXAMPLES]
    integral = integral and pd.api.types.is_float_dtype(column.dtype)
    examples = (
        tuple(_plain(column.iloc[first], integral=integral)) if kind != "null" else (None,) * len(first)
    )
    return Violation(
        column=name,
        kind=kind,
        count=len(positions),
        expected=expected,
        rows=tuple(int(row) for row in first),
        examples=examples,
        positions=positions,
        source=column,
        is_integral=integral,
    )


def _plain(values: pd.Series, *, integral: bool = False) -> list[Any]:
    """Values as JSON-safe Python: numpy scalars unwrapped, times as ISO 8601, NaN and NA as None."""
    result: list[Any] = []
    for value in values.astype(object).tolist():  # only failing values: a short list, not the column
        if value is None or value is pd.NaT or value is pd.NA:
            result.append(None)
        elif isinstance(value, float) and not math.isfinite(value):
            result.append(None if math.isnan(value) else value)
        elif isinstance(value, float) and integral and value.is_integer():
            result.append(int(value))  # an integer column read as float because it has gaps
        elif hasattr(value, "isoformat"):
            result.append(value.isoformat())
        elif hasattr(value, "item"):
            result.append(value.item())
        else:
            result.append(value)
    return result


def _range_text(spec: ColumnSpec) -> str:
    if spec.min is not None and spec.max is not None:
        return f"between {spec.min} and {spec.max}"
    return f"at least {spec.min}" if spec.min is not None else f"at most {spec.max}"


def _one_of(categories: list[Any]) -> str:
    shown = ", ".join(str(value) for value in categories[:_SHOWN_CATEGORIES])
    if len(categories) > _SHOWN_CATEGORIES:
        shown += f", ... ({len(categories)} in all)"
    return f"one of {shown}"


def _message(violation: Violation, value: Any) -> str:
    if violation.kind == "unexpected_column":
        return f"{violation.column}: unexpected field (not in the schema)"
    if violation.kind == "null":
        return f"{violation.column}: is missing (the schema says it is not nullable)"
    return f"{violation.column}: {value!r} is not {violation.expected}"
