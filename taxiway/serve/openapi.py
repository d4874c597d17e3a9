"""The OpenAPI document at ``/openapi.json`` (and ``/docs``), with request bodies built from the data schema.

The routes read raw bodies (one parser per protocol feeding one batch path, no per-request pydantic
model), so FastAPI cannot see what they expect; this module writes it in from the live model's request
schema. A value outside the training range or an unseen category is accepted (its row falls back), so
ranges and categories are described in prose, not as constraints.
"""

from __future__ import annotations

from importlib.metadata import version as package_version
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from taxiway.data.schema import ColumnSpec
from taxiway.serve.model import ServedModel
from taxiway.serve.service import Service

_JSON_TYPES = {"integer": "integer", "float": "number", "boolean": "boolean"}


def row_schema(model: ServedModel) -> dict[str, Any]:
    """The JSON schema of one request row: every model column, typed, with an example value.

    Example:
        >>> import pandas as pd
        >>> from sklearn.dummy import DummyClassifier
        >>> from taxiway.serve.model import served_from_frame
        >>> train = pd.DataFrame({"x": [1, 3], "c": ["a", "b"], "y": [0, 1]})
        >>> model = served_from_frame(DummyClassifier().fit(train[["x", "c"]], train["y"]), train, target="y")
        >>> schema = row_schema(model)
        >>> schema["required"], schema["properties"]["x"]["type"], schema["properties"]["c"]["examples"]
        (['x', 'c'], ['integer', 'null'], ['a'])
    """
    properties = {name: _column(spec) for name, spec in model.schema.columns.items()}
    for name in sorted(model.ignored):
        properties[name] = {"description": "accepted and not used by the model (row key or dropped column)"}
    return {
        "type": "object",
        "properties": properties,
        "required": list(model.features),
        "additionalProperties": False,
    }


def _column(spec: ColumnSpec) -> dict[str, Any]:
    kind = _JSON_TYPES.get(spec.type, "string")
    schema: dict[str, Any] = {"type": [kind, "null"]}
    notes = []
    if spec.type == "datetime":
        schema["format"] = "date-time"
    low, high = spec.min, spec.max
    if isinstance(low, int | float) and isinstance(high, int | float):
        notes.append(f"values outside {low:g} to {high:g} (the training range and a margin) fall back")
        middle = (low + high) / 2
        schema["examples"] = [round(middle) if spec.type == "integer" else round(middle, 3)]
    if spec.categories:
        shown = ", ".join(str(value) for value in spec.categories[:20])
        notes.append(f"categories seen in training: {shown}; others fall back")
        schema["examples"] = [spec.categories[0]]
    if not spec.nullable:
        notes.append("training had no missing values here: null falls back")
    if notes:
        schema["description"] = "; ".join(notes)
    return schema


def install_openapi(app: FastAPI, service: Service) -> None:
    """Make ``app.openapi()`` describe the request bodies of the version that is live when it is asked."""
    documents: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        model = service.slots.live.model
        if model.version not in documents:
            documents.clear()
            documents[model.version] = _document(app, service, model)
        return documents[model.version]

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it


def _document(app: FastAPI, service: Service, model: ServedModel) -> dict[str, Any]:
    document = get_openapi(
        title=f"taxiway: {service.model_name}",
        version=package_version("taxiway"),
        description=f"Serving model version {model.version} (run {model.ref.run_id}).",
        routes=app.routes,
    )
    row = row_schema(model)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Row"] = row
    reference = {"$ref": "#/components/schemas/Row"}
    max_rows = service.settings.max_rows
    rows = {"type": "array", "items": reference, "minItems": 1, "maxItems": max_rows}
    paths = document["paths"]
    _body(
        paths,
        "/predict",
        {"type": "object", "properties": {"rows": rows}, "required": ["rows"], "additionalProperties": False},
    )
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": list(row["properties"])}},
            "data": {"type": "array", "items": {"type": "array"}, "minItems": 1, "maxItems": max_rows},
        },
        "required": ["columns", "data"],
    }
    mlflow = {
        "oneOf": [
            {
                "type": "object",
                "properties": {"dataframe_records": rows},
                "required": ["dataframe_records"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"dataframe_split": split},
                "required": ["dataframe_split"],
                "additionalProperties": False,
            },
        ]
    }
    _body(paths, "/invocations", mlflow, csv=True)
    tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": list(model.features)},
            "shape": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "maxItems": 2,
            },
            "datatype": {"type": "string", "enum": ["BOOL", "INT64", "FP32", "FP64", "BYTES"]},
            "data": {"type": "array"},
        },
        "required": ["name", "shape", "datatype", "data"],
    }
    infer = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "inputs": {"type": "array", "items": tensor}},
        "required": ["inputs"],
    }
    for path in paths:
        if path.endswith("/infer"):
            _body(paths, path, infer)
    return document


def _body(paths: dict[str, Any], path: str, schema: dict[str, Any], *, csv: bool = False) -> None:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    operation = paths[path]["post"]
    operation["requestBody"] = {"required": True, "content": content}
    errors = {
        "400": "the body is not JSON, or not in the protocol's shape",
        "408": "not answered within the time limit",
        "413": "too many bytes or rows",
        "415": "unsupported content type",
        "422": "a value of the wrong type, a missing or unknown column: one message per row and field",
    }
    responses = operation.setdefault("responses", {})
    for status, description in errors.items():
        responses.setdefault(status, {"description": description})
