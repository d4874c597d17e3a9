"""The behaviour file's format (tests/behaviour.yaml), parsed with pydantic: errors name the line or field.

The kinds and their fields are described in `taxiway.validate.behaviour`, which runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taxiway.errors import TaxiwayError

BEHAVIOUR_FILE = Path("tests") / "behaviour.yaml"
DEFAULT_ROWS = 100  # validation rows perturbed per invariance / directional test
_FORMAT_HINT = (
    "each test needs name, kind (minimum, invariance or directional) and its fields; see the "
    "example `taxiway init` writes to tests/behaviour.yaml"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Shift(_Strict):
    """Add ``steps`` evenly spaced amounts from ``min`` to ``max`` to a number column."""

    min: float
    max: float
    steps: int = Field(5, ge=1, le=100)


class Perturbation(_Strict):
    """One column changed: set to each of ``values``, or shifted by each amount of ``shift``."""

    column: str
    values: list[Any] | None = Field(None, min_length=1)
    shift: Shift | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Perturbation:
        if (self.values is None) == (self.shift is None):
            raise ValueError("give exactly one of values (a list) or shift ({min, max, steps})")
        return self

    def amounts(self) -> list[Any]:
        if self.shift is not None:
            return [float(v) for v in np.linspace(self.shift.min, self.shift.max, self.shift.steps)]
        return list(self.values or [])


class ScoreRange(_Strict):
    min: float | None = None
    max: float | None = None


class Expectation(_Strict):
    label: str | int | float | bool | None = None
    score: ScoreRange | None = None

    @model_validator(mode="after")
    def _something(self) -> Expectation:
        if self.label is None and self.score is None:
            raise ValueError("expect needs a label, a score range ({min, max}) or both")
        return self


class _Test(_Strict):
    name: str = Field(min_length=1)
    score_class: str | int | float | bool | None = Field(None, alias="class")
    input: dict[str, Any] | None = None
    inputs: list[dict[str, Any]] | None = Field(None, min_length=1)

    def given_rows(self) -> list[dict[str, Any]] | None:
        return [self.input] if self.input is not None else self.inputs


class MinimumTest(_Test):
    kind: Literal["minimum"]
    expect: Expectation

    @model_validator(mode="after")
    def _has_input(self) -> MinimumTest:
        if self.given_rows() is None:
            raise ValueError("a minimum functionality test needs input (one row) or inputs (a list)")
        return self


class InvarianceTest(_Test):
    kind: Literal["invariance"]
    rows: int = Field(DEFAULT_ROWS, ge=1)
    perturb: Perturbation
    tolerance: float = Field(ge=0)


class DirectionalTest(_Test):
    kind: Literal["directional"]
    rows: int = Field(DEFAULT_ROWS, ge=1)
    perturb: Perturbation
    expect: Literal["not_lower", "not_higher"]
    tolerance: float = Field(0.0, ge=0)


BehaviourTest = Annotated[MinimumTest | InvarianceTest | DirectionalTest, Field(discriminator="kind")]


class BehaviourFile(_Strict):
    tests: list[BehaviourTest]


def parse_behaviour(text: str, source: str = str(BEHAVIOUR_FILE)) -> BehaviourFile:
    """Parse and validate a behaviour file; errors name the line or the field path.

    Example:
        >>> parse_behaviour("tests:\\n  - {name: n, kind: invariance, perturb: {column: x, values: [1]}}")
        Traceback (most recent call last):
        taxiway.errors.TaxiwayError: tests/behaviour.yaml: tests[0].tolerance: Field required
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise TaxiwayError(f"{source} is not valid YAML{where}: {problem}", hint=_FORMAT_HINT) from None
    if data is None or (isinstance(data, dict) and data.get("tests", []) is None):
        data = {"tests": []}  # an empty file, or `tests:` with every example commented out
    try:
        parsed = BehaviourFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        path = _path(first["loc"])
        raise TaxiwayError(f"{source}: {path}: {first['msg']}", hint=_FORMAT_HINT) from None
    if not parsed.tests:
        raise TaxiwayError(f"{source} declares no tests", hint=_FORMAT_HINT)
    return parsed


def _path(loc: tuple[int | str, ...]) -> str:
    # Pydantic names the union member ("invariance") in the location; people know the test by its index.
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        elif item not in ("minimum", "invariance", "directional"):
            parts.append(item)
    return ".".join(parts) or "the file"
