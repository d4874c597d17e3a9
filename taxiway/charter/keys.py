"""Every key a charter can set, read from the pydantic model: its dotted path, its kind and its description.

`taxiway init --answer KEY=VALUE` accepts each of them, so no charter answer needs a hand edit of
taxiway.toml. The table is built from :class:`taxiway.charter.model.Charter`, so a new field is a new key
without a second list to keep in step.
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from taxiway.charter.model import Charter

__all__ = ["CharterKey", "charter_key", "charter_keys", "parse_value"]

KeyKind = Literal["text", "float", "int", "bool", "date", "choice", "list", "table"]


@dataclass(frozen=True)
class CharterKey:
    """One settable charter key.

    Example:
        >>> charter_key("data.time_column").kind, charter_key("serving.mode").choices
        ('text', ('online', 'batch'))
    """

    path: str
    kind: KeyKind
    description: str
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """``path (kind): description``, the line the hint and docs show.

        Example:
            >>> charter_key("problem.domain_experts").describe()
            'problem.domain_experts (comma-separated list): people who know the problem and its error modes'
        """
        kind = {
            "list": "comma-separated list",
            "choice": " | ".join(self.choices),
            "table": "JSON object",
            "date": "YYYY-MM-DD",
        }.get(self.kind, self.kind)
        return f"{self.path} ({kind}): {self.description}" if self.description else f"{self.path} ({kind})"


@cache
def charter_keys() -> tuple[CharterKey, ...]:
    """Every settable key, in the charter's own order (project, problem, serving, data, split, ...).

    Example:
        >>> paths = [key.path for key in charter_keys()]
        >>> "data.time_column" in paths and "problem.costs.false_negative" in paths
        True
        >>> len(paths) == len(set(paths))
        True
    """
    return tuple(_walk(Charter, ""))


def charter_key(path: str) -> CharterKey:
    """Look a key up by its dotted path.

    Raises:
        KeyError: no such key.
    """
    for key in charter_keys():
        if key.path == path:
            return key
    raise KeyError(path)


def parse_value(key: CharterKey, text: str) -> Any:
    """Turn a flag's text into the value the charter stores; raise ValueError with a reason.

    Example:
        >>> parse_value(charter_key("data.protected_columns"), "sex, race")
        ['sex', 'race']
        >>> parse_value(charter_key("validation.require_calibration"), "yes")
        True
    """
    text = text.strip()
    if key.kind == "float":
        return float(text)
    if key.kind == "int":
        return int(text)
    if key.kind == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("use true or false")
    if key.kind == "date":
        return dt.date.fromisoformat(text)
    if key.kind == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    if key.kind == "table":
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError('give a JSON object, e.g. {"max_depth": 6}')
        return value
    if key.kind == "choice" and text not in key.choices:
        raise ValueError(f"choose one of {', '.join(key.choices)}")
    return text


def _walk(model: type[BaseModel], prefix: str) -> list[CharterKey]:
    keys: list[CharterKey] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _model_in(field.annotation)
        if nested is not None:
            keys += _walk(nested, f"{path}.")
            continue
        kind, choices = _kind(field.annotation)
        keys.append(CharterKey(path, kind, field.description or "", choices))
    return keys


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _kind(annotation: Any) -> tuple[KeyKind, tuple[str, ...]]:
    """The kind of a field's annotation, ``X | None`` read as ``X``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union) and len(args) == 1:
        return _kind(args[0])
    if origin is Literal:
        return "choice", tuple(str(a) for a in args)
    if origin is list:
        return "list", ()
    if origin is dict:
        return "table", ()
    simple: dict[Any, KeyKind] = {float: "float", int: "int", bool: "bool", dt.date: "date"}
    return simple.get(annotation, "text"), ()
