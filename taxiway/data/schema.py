"""The schema file: ``schema.yaml``, the team's written expectations of every column (ML Test Score D1).

It starts as the schema inferred when a version is added (:func:`from_profile`) and is then the team's to
edit and commit: tighten a range, remove a category, add a pattern. Every key of a column::

    columns:
      age:
        type: integer        # integer | float | boolean | string | category | datetime
        nullable: false      # whether a value may be missing
        min: 18              # integer/float: numbers; datetime: ISO 8601 text; optional
        max: 120
      country:
        type: string
        nullable: false
        categories: [FR, NO] # string/category: the allowed values; optional
        pattern: '[A-Z]{2}'  # string/category: a regex every value matches in full; optional
      churned:
        type: boolean
        nullable: false
        target: true         # the column the model predicts; at most one

:mod:`taxiway.data.schema_check` checks a table against it, offline (``taxiway data validate``) and in
serving.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from taxiway.data.profile import KINDS, Kind, Schema
from taxiway.errors import DataError

SCHEMA_FILE = "schema.yaml"
_RANGED: frozenset[str] = frozenset({"integer", "float", "datetime"})
_TEXT: frozenset[str] = frozenset({"string", "category"})
_HEADER = """\
# schema.yaml: what taxiway expects of every column (ML Test Score D1). EDIT IT BY HAND and commit it.
# {origin}
# Per column: type (integer | float | boolean | string | category | datetime), nullable (true | false),
#   min / max (numbers; ISO 8601 text for datetimes), categories (the allowed values of a string or
#   category column), pattern (a regular expression every value must match in full), target (true for the
#   column the model predicts). Delete a key to stop checking it. Quote text that YAML would read as
#   something else: 'yes', 'no', 'on', 'off', '007', '2024-05-01'.
# `taxiway data validate` checks a dataset version against this file; `taxiway serve` checks requests.
# `taxiway data schema --write --force` replaces it with a version's inferred schema (your edits are lost).
"""

__all__ = [
    "SCHEMA_FILE",
    "ColumnSpec",
    "DatasetSchema",
    "dump_schema",
    "from_profile",
    "load_schema",
    "parse_schema",
    "save_schema",
]

Category = str | int | float | bool
Bound = int | float | str


class ColumnSpec(BaseModel):
    """What every value of one column must be.

    Example:
        >>> ColumnSpec(type="integer", nullable=False, min=0, max=120).max
        120
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Kind
    nullable: bool = True
    min: Bound | None = None
    max: Bound | None = None
    categories: list[Category] | None = None
    pattern: str | None = None
    target: bool = False

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic reports a ValueError, not a TypeError, as a field error
            raise ValueError("a bound is a number (or ISO 8601 text for a datetime), not true/false")  # noqa: TRY004
        if isinstance(value, dt.date):  # YAML reads an unquoted 2024-05-01 as a date
            return value.isoformat()
        return value

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> ColumnSpec:
        kind = self.type
        if (self.min is not None or self.max is not None) and kind not in _RANGED:
            raise ValueError(f"min/max apply to integer, float and datetime columns, not {kind}")
        if self.categories is not None and kind not in _TEXT:
            raise ValueError(f"categories apply to string and category columns, not {kind}; use min/max")
        if self.pattern is not None and kind not in _TEXT:
            raise ValueError(f"a pattern applies to string and category columns, not {kind}")
        low, high = self.bounds()
        if low is not None and high is not None and low > high:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if kind == "string" and any(not isinstance(value, str) for value in self.categories or ()):
            raise ValueError("categories of a string column are text: quote 'yes', 'no', 'true', ...")
        return self

    def bounds(self) -> tuple[Any, Any]:
        """``(min, max)`` as comparable values: numbers, or naive UTC timestamps for a datetime column.

        Example:
            >>> ColumnSpec(type="datetime", min="2024-05-01T02:00:00+02:00").bounds()
            (Timestamp('2024-05-01 00:00:00'), None)
        """
        if self.type == "datetime":
            return _timestamp(self.min), _timestamp(self.max)
        for bound in (self.min, self.max):
            if isinstance(bound, str):
                raise ValueError(f"min/max of a {self.type} column are numbers (got {bound!r})")  # noqa: TRY004
        return self.min, self.max

    @model_validator(mode="before")
    @classmethod
    def _text_categories(cls, data: Any) -> Any:
        # YAML reads an unquoted 7 or 1.5 as a number; in a string column it is the text "7".
        if (
            isinstance(data, dict)
            and data.get("type") == "string"
            and isinstance(data.get("categories"), list)
        ):
            numbers = (int, float)
            data = {
                **data,
                "categories": [
                    str(v) if isinstance(v, numbers) and not isinstance(v, bool) else v
                    for v in data["categories"]
                ],
            }
        return data


class DatasetSchema(BaseModel):
    """The whole ``schema.yaml``: each column's :class:`ColumnSpec`, in the file's order.

    Example:
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float"), "y": ColumnSpec(type="boolean",
        ...     target=True)})
        >>> schema.target, list(schema.without_target().columns)
        ('y', ['x'])
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    columns: dict[str, ColumnSpec]

    @model_validator(mode="after")
    def _one_target(self) -> DatasetSchema:
        if not self.columns:
            raise ValueError("a schema needs at least one column")
        targets = [name for name, spec in self.columns.items() if spec.target]
        if len(targets) > 1:
            raise ValueError(f"only one column can be the target; {', '.join(targets)} all say target: true")
        return self

    @property
    def target(self) -> str | None:
        """The name of the column marked ``target: true``, if any."""
        return next((name for name, spec in self.columns.items() if spec.target), None)

    def without_target(self) -> DatasetSchema:
        """The schema of the model's inputs: what a serving request must hold."""
        return DatasetSchema(columns={name: spec for name, spec in self.columns.items() if not spec.target})


def from_profile(profile: Schema, *, target: str | None = None) -> DatasetSchema:
    """Turn the schema inferred at ``data add`` into the expectations ``schema.yaml`` starts from.

    Example:
        >>> from taxiway.data.profile import profile_frame
        >>> frame = pd.DataFrame({"age": [31, 47], "city": ["Lyon", "Oslo"]})
        >>> schema = from_profile(profile_frame(frame), target="city")
        >>> schema.columns["age"].min, schema.columns["city"].categories, schema.target
        (31, ['Lyon', 'Oslo'], 'city')

    Raises:
        DataError: the profile repeats a column name.
    """
    columns: dict[str, ColumnSpec] = {}
    for column in profile["columns"]:
        name = column["name"]
        if name in columns:
            raise DataError(
                f"column '{name}' appears twice in the data; a schema needs unique column names",
                hint="rename one of the columns in the file and add it again",
            )
        ranged = column["kind"] in _RANGED
        columns[name] = ColumnSpec(
            type=column["kind"],
            nullable=column["nullable"],
            min=column["min"] if ranged else None,
            max=column["max"] if ranged else None,
            categories=column["categories"] if column["kind"] in _TEXT else None,
            target=name == target,
        )
    return DatasetSchema(columns=columns)


def parse_schema(text: str, *, source: str = SCHEMA_FILE) -> DatasetSchema:
    """Read schema YAML text, naming the field and what it expects when something is wrong.

    Example:
        >>> parse_schema("columns:\\n  age: {type: integer, min: 0}\\n").columns["age"].min
        0
        >>> try:
        ...     parse_schema("columns:\\n  a: {type: int}\\n", source="s")
        ... except DataError as error:
        ...     print(error)
        s: columns.a.type: expected one of integer, float, boolean, string, category, datetime (got 'int')

    Raises:
        DataError: the text is not YAML, or a field is missing, unknown or of the wrong type.
    """
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataError(
            f"{source} is not valid YAML{line}: {problem}",
            hint="fix the line shown, or rewrite the file with `taxiway data schema --write --force`",
        ) from None
    if not isinstance(raw, dict):
        raise DataError(
            f"{source}: expected a mapping with a 'columns' key at the top (got {type(raw).__name__})",
            hint="rewrite the file with `taxiway data schema --write --force`",
        )
    try:
        return DatasetSchema.model_validate(raw)
    except ValidationError as exc:
        # A misspelt key also makes a required one "missing": name the misspelling first.
        first = min(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise DataError(f"{source}: {_describe(first)}{more}", hint=_HINT) from None


def load_schema(path: Path) -> DatasetSchema:
    """Read ``schema.yaml`` from ``path``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / SCHEMA_FILE
        >>> save_schema(DatasetSchema(columns={"x": ColumnSpec(type="float", max=1.0)}), path)
        >>> load_schema(path).columns["x"].max
        1.0

    Raises:
        DataError: the file is missing (the hint says how to write it), unreadable or invalid.
    """
    if not path.is_file():
        raise DataError(
            f"no schema file at {path}",
            hint="write one from a dataset version with `taxiway data schema --write`",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} cannot be read: {exc}", hint="save it as UTF-8 text") from None
    return parse_schema(text, source=path.name)


def dump_schema(schema: DatasetSchema, *, origin: str = "") -> str:
    """The YAML text of ``schema``, under a comment header saying the file is for editing.

    Example:
        >>> text = dump_schema(DatasetSchema(columns={"x": ColumnSpec(type="float", min=0.5)}))
        >>> text.startswith("# schema.yaml: what taxiway expects")
        True
        >>> print(text[text.index("schema_version"):])
        schema_version: 1
        columns:
          x:
            type: float
            nullable: true
            min: 0.5
        <BLANKLINE>
    """
    columns: dict[str, dict[str, Any]] = {}
    for name, spec in schema.columns.items():
        entry: dict[str, Any] = {"type": spec.type, "nullable": spec.nullable}
        for key in ("min", "max", "categories", "pattern"):
            if getattr(spec, key) is not None:
                entry[key] = getattr(spec, key)
        if spec.target:
            entry["target"] = True
        columns[name] = entry
    body = yaml.dump(
        {"schema_version": schema.schema_version, "columns": columns},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=110,
    )
    return _HEADER.format(origin=origin or "Written by taxiway.") + body


def save_schema(schema: DatasetSchema, path: Path, *, origin: str = "") -> None:
    """Write ``schema`` to ``path`` atomically: a reader sees the old file or the new one, never half.

    Raises:
        DataError: the folder does not exist or is not writable.
    """
    text = dump_schema(schema, origin=origin)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise DataError(
            f"cannot write {path}: {exc.strerror}", hint="check that the folder exists and is writable"
        ) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_HINT = (
    "the comment at the top of schema.yaml lists every key; "
    "or rewrite the file with `taxiway data schema --write --force`"
)


def _describe(error: Any) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    got = error.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    if kind == "literal_error" and error["loc"][-1:] == ("type",):
        return f"{path}: expected one of {', '.join(KINDS)}{shown}"
    if kind in ("model_type", "dict_type"):
        return f"{path}: expected a mapping of keys (type, nullable, ...){shown}"
    if kind == "extra_forbidden":
        known = [*ColumnSpec.model_fields] if len(error["loc"]) > 2 else [*DatasetSchema.model_fields]
        guess = difflib.get_close_matches(str(error["loc"][-1]), known, n=1, cutoff=0.6)
        mean = f" (did you mean '{guess[0]}'?)" if guess else ""
        return f"{path}: unknown key{mean}; the keys are {', '.join(known)}"
    if kind == "missing":
        return f"{path}: is required but missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}{shown}"


def _timestamp(bound: Bound | None) -> pd.Timestamp | None:
    if bound is None:
        return None
    if not isinstance(bound, str):
        raise ValueError(  # noqa: TRY004
            f"min/max of a datetime column are ISO 8601 text such as '2024-05-01' (got {bound!r})"
        )
    try:
        moment = pd.Timestamp(bound)
    except ValueError:
        raise ValueError(f"{bound!r} is not an ISO 8601 date or time such as '2024-05-01T10:30:00'") from None
    return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo is not None else moment


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Dumper(yaml.SafeDumper):
    """Lists in flow style (``categories: [a, b]``), one line each, so a category is easy to remove."""


def _flow_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(list, _flow_list)
