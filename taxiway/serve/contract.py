"""What a request row must be, and what makes a valid row one the model has not seen the like of.

Two different answers to bad rows:

- a row that breaks the schema's contract (a missing or unknown field, a value of the wrong type, a missing
  value or NaN/inf where the schema forbids it) is refused: the request gets 422 with a message per field;
- a row that keeps the contract but lies outside what training saw (a number past the training range by
  more than the charter's ``range_margin``, a category training never saw, a missing value in a column that
  was never missing in training) is answered, by the fallback, and the answer says why.

So the schema is checked without its ranges and categories (those decide fallback, not refusal), with the
same vectorised validator ``taxiway data validate`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from taxiway.data.profile import Schema as Profile
from taxiway.data.schema import ColumnSpec, DatasetSchema
from taxiway.data.schema_check import FieldProblem, row_failures, validate_frame

__all__ = ["InputContract", "build_contract"]

_NUMERIC = ("integer", "float")
_JSON_TYPE = {"integer": "integer", "float": "number", "boolean": "boolean"}


@dataclass(frozen=True)
class InputContract:
    """The fields a request row holds, checked per row.

    Example:
        >>> schema = DatasetSchema(columns={"age": ColumnSpec(type="integer", nullable=False, min=0, max=100),
        ...                                 "city": ColumnSpec(type="string", categories=["Lyon", "Oslo"])})
        >>> contract = build_contract(schema, ["age", "city"], profile=None, margin=0.1)
        >>> frame = pd.DataFrame({"age": [40, 150, 40], "city": ["Lyon", "Oslo", "Rome"]})
        >>> contract.problems(frame)
        [[], [], []]
        >>> contract.unfamiliar(frame)
        [None, 'out_of_range:age', 'unseen_category:city']
    """

    features: tuple[str, ...]
    checked: DatasetSchema  # the features' types and nullability: breaking it is a 422
    ignored: frozenset[str]  # schema columns that are not model inputs: accepted, not used
    ranges: dict[str, tuple[float, float]]  # numeric features: the training range widened by the margin
    categories: dict[str, frozenset[Any]]  # text features: the values training saw
    never_missing: frozenset[str]  # features with no missing value in training
    specs: dict[str, ColumnSpec]

    @cached_property
    def all_float(self) -> bool:
        """Every feature is a float: one row of inputs can be a single float block."""
        return bool(self.features) and all(self.specs[name].type == "float" for name in self.features)

    @cached_property
    def column_index(self) -> pd.Index:
        """The features as a column index, made once. Plain objects, not pandas' text dtype: scikit-learn
        reads the feature names of every table it is given, and reading them from text arrays costs
        ~0.1 ms a call."""
        return pd.Index(list(self.features), dtype=object)

    def problems(self, frame: pd.DataFrame) -> list[list[FieldProblem]]:
        """Per row, the fields that break the contract (empty lists: the row is fine)."""
        inputs = frame.drop(columns=[c for c in frame.columns if c in self.ignored])
        for name in self.features:  # an optional field no row sent is missing in each, not from the table
            if name not in inputs.columns and self.specs[name].nullable:
                inputs[name] = None
        for name in self.features:  # JSON allows integers of any size; numpy and the model do not
            if name in inputs.columns and inputs[name].dtype == object:
                inputs[name] = inputs[name].map(_beyond_int64_as_text, na_action="ignore")
        rows = row_failures(validate_frame(self.checked, inputs))
        for name in self.features:
            if name in inputs.columns and self.specs[name].type in _NUMERIC:
                values = pd.to_numeric(inputs[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                for position in np.flatnonzero(np.isinf(values)):
                    message = f"{name}: {values[position]} is not a finite number"
                    rows[position].append(FieldProblem(name, "wrong_type", message))
        return rows

    def coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input table from rows that passed :meth:`problems`: feature order, schema types.

        JSON and CSV carry ``"7"`` or ``7.0`` where training had the integer 7; the model gets 7.
        """
        columns: dict[str, Any] = {}
        for name in self.features:
            kind = self.specs[name].type
            column = frame[name] if name in frame.columns else pd.Series([None] * len(frame))
            if kind in _NUMERIC:
                numbers = pd.to_numeric(column, errors="coerce").astype(float)
                whole = kind == "integer" and not numbers.isna().any()
                columns[name] = numbers.astype(np.int64) if whole else numbers
            elif kind == "boolean":
                columns[name] = column.map(_boolean).astype(object)
            elif kind == "datetime":
                columns[name] = pd.to_datetime(column, errors="coerce", utc=True)
            else:
                columns[name] = column.astype(object).where(column.notna(), None)
        return pd.DataFrame(columns, index=frame.index)

    def unfamiliar(self, frame: pd.DataFrame) -> list[str | None]:
        """Per row of a coerced table, why it lies outside what training saw (None: it does not)."""
        reasons: list[str | None] = [None] * len(frame)

        def flag(mask: np.ndarray[Any, np.dtype[np.bool_]], reason: str) -> None:
            for position in np.flatnonzero(mask):
                if reasons[position] is None:
                    reasons[position] = reason

        for name in self.features:
            column = frame[name]
            missing = column.isna().to_numpy()
            if name in self.never_missing:
                flag(missing, f"missing:{name}")
            if name in self.ranges:
                low, high = self.ranges[name]
                values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                with np.errstate(invalid="ignore"):
                    flag((values < low) | (values > high), f"out_of_range:{name}")
            if name in self.categories:
                seen = column.isin(self.categories[name]).to_numpy()
                flag(~seen & ~missing, f"unseen_category:{name}")
        return reasons

    def row_schema(self) -> dict[str, Any]:
        """The JSON Schema of one request row, for the OpenAPI document."""
        properties: dict[str, Any] = {}
        for name in self.features:
            spec = self.specs[name]
            kind: dict[str, Any] = {"type": _JSON_TYPE.get(spec.type, "string")}
            if spec.type == "datetime":
                kind["format"] = "date-time"
            if self.categories.get(name) and len(self.categories[name]) <= 50:
                kind["examples"] = sorted(map(str, self.categories[name]))[:5]
            properties[name] = {"anyOf": [kind, {"type": "null"}]} if spec.nullable else kind
        required = [name for name in self.features if not self.specs[name].nullable]
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }


def build_contract(
    schema: DatasetSchema, features: list[str], *, profile: Profile | None, margin: float
) -> InputContract:
    """The contract for a model with inputs ``features``: types from ``schema``, what training saw from
    ``profile`` (the dataset version's inferred schema; None: the schema's own ranges and categories).

    Example:
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float", min=0.0, max=10.0)})
        >>> build_contract(schema, ["x"], profile=None, margin=0.5).ranges
        {'x': (-5.0, 15.0)}
    """
    specs = {name: schema.columns.get(name, ColumnSpec(type="string")) for name in features}
    seen: dict[str, dict[str, Any]] = {}
    if profile is not None:
        seen = {column["name"]: dict(column) for column in profile["columns"]}
    ranges: dict[str, tuple[float, float]] = {}
    categories: dict[str, frozenset[Any]] = {}
    never_missing: set[str] = set()
    for name, spec in specs.items():
        trained = seen.get(name, {"min": spec.min, "max": spec.max, "categories": spec.categories})
        low, high = trained.get("min"), trained.get("max")
        if spec.type in _NUMERIC and isinstance(low, int | float) and isinstance(high, int | float):
            width = (float(high) - float(low)) * margin
            ranges[name] = (float(low) - width, float(high) + width)
        if spec.type in ("string", "category") and trained.get("categories"):
            categories[name] = frozenset(trained["categories"])
        if seen.get(name, {}).get("null_count") == 0:
            never_missing.add(name)
    checked = DatasetSchema(
        columns={
            name: ColumnSpec(type=spec.type, nullable=spec.nullable, pattern=spec.pattern)
            for name, spec in specs.items()
        }
    )
    ignored = frozenset(name for name in schema.columns if name not in specs)
    return InputContract(
        tuple(features), checked, ignored, ranges, categories, frozenset(never_missing), specs
    )


def _beyond_int64_as_text(value: Any) -> Any:
    """An integer too big for 64 bits, as text: the validator then calls it the wrong type, not a crash."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "1.0")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return bool(value)
