"""The Open Inference Protocol (KServe v2 / Triton): one input tensor per column, JSON or binary tensors.

``POST /v2/models/{name}/infer`` answers the outputs ``predict`` (labels or numbers), ``predict_proba``
(classification, ``[rows, classes]``), ``confidence`` and ``fallback`` (the reason a row fell back, or
""; an abstained row keeps the model's own label in ``predict`` and says ``abstain`` here only through
its reason). The model's name is the project's name; its version is the served version.
"""

from __future__ import annotations

import re
import struct
from enum import Enum
from functools import partial
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from taxiway.serve.direct import DirectRoute
from taxiway.serve.inputs import Rows
from taxiway.serve.problems import RequestError
from taxiway.serve.protocols._json import JSONBody, dumps, loads
from taxiway.serve.service import Answer, Service

HEADER_LENGTH = "inference-header-content-length"  # the binary tensor data extension
_NUMPY = {
    "BOOL": "?",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_OF_KIND = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}


def add_routes(app: FastAPI, service: Service) -> list[DirectRoute]:
    """Add the ``/v2`` routes to ``app``; return the direct ``infer`` route."""
    tags: list[str | Enum] = ["open inference protocol v2"]

    @app.get("/v2", tags=tags, summary="Server metadata")
    async def server() -> Response:
        return JSONBody(
            {"name": "taxiway", "version": package_version("taxiway"), "extensions": ["binary_tensor_data"]}
        )

    @app.get("/v2/health/live", tags=tags, summary="Liveness")
    async def live() -> Response:
        return JSONBody({"live": True})

    @app.get("/v2/health/ready", tags=tags, summary="Readiness")
    async def ready() -> Response:
        return JSONBody({"ready": service.is_ready}, status_code=200 if service.is_ready else 503)

    @app.get("/v2/models/{name}", tags=tags, summary="Model metadata")
    @app.get("/v2/models/{name}/versions/{version}", tags=tags, summary="Model metadata")
    async def metadata(name: str, version: str | None = None) -> Response:
        if problem := _unknown(service, name, version):
            return problem
        model = service.slots.live.model
        inputs = [
            {"name": column, "datatype": _OF_KIND.get(spec.type, "BYTES"), "shape": [-1]}
            for column, spec in model.schema.columns.items()
        ]
        outputs = [{"name": "predict", "datatype": _label_type(model.classes), "shape": [-1]}]
        if model.classes is not None:
            outputs += [
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(model.classes)]},
                {"name": "confidence", "datatype": "FP64", "shape": [-1]},
            ]
        outputs.append({"name": "fallback", "datatype": "BYTES", "shape": [-1]})
        versions = [slot.version for slot in service.slots.loaded()]
        return JSONBody(
            {
                "name": service.model_name,
                "versions": versions,
                "platform": "sklearn",
                "inputs": inputs,
                "outputs": outputs,
            }
        )

    @app.get("/v2/models/{name}/ready", tags=tags, summary="Model readiness")
    @app.get("/v2/models/{name}/versions/{version}/ready", tags=tags, summary="Model readiness")
    async def model_ready(name: str, version: str | None = None) -> Response:
        return _unknown(service, name, version) or JSONBody({"name": name, "ready": service.is_ready})

    @app.post("/v2/models/{name}/infer", tags=tags, summary="Predict (Open Inference Protocol)")
    @app.post(
        "/v2/models/{name}/versions/{version}/infer", tags=tags, summary="Predict (Open Inference Protocol)"
    )
    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        """One input tensor per column (shape ``[rows]`` or ``[rows, 1]``), as JSON or binary tensor data."""
        if problem := _unknown(service, name, version):
            return problem
        return await service.handle(request, "infer", _parse, partial(_render, service.model_name), _error)

    pattern = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer")
    return [DirectRoute(pattern, infer)]


def _unknown(service: Service, name: str, version: str | None) -> Response | None:
    if name != service.model_name:
        return JSONBody(
            {"error": f"no model '{name}'; this server serves '{service.model_name}'"}, status_code=404
        )
    if version is not None and version not in {slot.version for slot in service.slots.loaded()}:
        return JSONBody({"error": f"model '{name}' has no loaded version '{version}'"}, status_code=404)
    return None


async def _parse(request: Request, body: bytes) -> Rows:
    header = request.headers.get(HEADER_LENGTH)
    binary = b""
    if header is not None:
        if not header.isdigit() or int(header) > len(body):
            raise RequestError(400, f"{HEADER_LENGTH} '{header}' does not fit a body of {len(body)} bytes")
        body, binary = body[: int(header)], body[int(header) :]
    document = loads(body)
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "expected a JSON object with a non-empty 'inputs' list of tensors")
    columns: dict[str, list[Any]] = {}
    offset = 0
    for tensor in inputs:
        name, values, offset = _tensor(tensor, binary, offset)
        if name in columns:
            raise RequestError(400, f"input '{name}' is given twice")
        columns[name] = values
    return Rows.from_columns(columns)


def _tensor(tensor: Any, binary: bytes, offset: int) -> tuple[str, list[Any], int]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise RequestError(400, "each input needs a 'name', a 'shape', a 'datatype' and its data")
    name, datatype, shape = tensor["name"], tensor.get("datatype"), tensor.get("shape")
    if datatype != "BYTES" and datatype not in _NUMPY:
        raise RequestError(400, f"input '{name}': unknown datatype {datatype!r}")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape) or not shape:
        raise RequestError(400, f"input '{name}': shape must be a list of sizes, e.g. [rows] or [rows, 1]")
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise RequestError(422, f"input '{name}' has shape {shape}; a column is [rows] or [rows, 1]")
    rows = shape[0]
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise RequestError(400, f"input '{name}': binary_data_size {size!r} exceeds the binary data")
        chunk, offset = binary[offset : offset + size], offset + size
        values = _strings(chunk, name) if datatype == "BYTES" else _numbers(chunk, datatype, name)
    else:
        values = _flatten(tensor.get("data"), name)
    if len(values) != rows:
        raise RequestError(400, f"input '{name}' has {len(values)} values for shape {shape}")
    return name, values, offset


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise RequestError(400, f"input '{name}' needs 'data' (a list) or binary data")
    if data and isinstance(data[0], list):
        return [value for row in data for value in (row if isinstance(row, list) else [row])]
    return list(data)


def _numbers(chunk: bytes, datatype: str, name: str) -> list[Any]:
    dtype = np.dtype(_NUMPY[datatype])
    if len(chunk) % dtype.itemsize:
        raise RequestError(400, f"input '{name}': {len(chunk)} bytes is not a whole number of {datatype}")
    values: list[Any] = np.frombuffer(chunk, dtype=dtype).tolist()
    return values


def _strings(chunk: bytes, name: str) -> list[Any]:
    values, position = [], 0
    while position < len(chunk):
        if position + 4 > len(chunk):
            raise RequestError(400, f"input '{name}': truncated BYTES element")
        (length,) = struct.unpack_from("<I", chunk, position)
        position += 4
        if position + length > len(chunk):
            raise RequestError(400, f"input '{name}': truncated BYTES element")
        values.append(chunk[position : position + length].decode("utf-8", errors="replace"))
        position += length
    return values


def _label_type(classes: np.ndarray | None) -> str:
    if classes is None:
        return "FP64"
    return {"i": "INT64", "u": "INT64", "f": "FP64", "b": "BOOL"}.get(np.asarray(classes).dtype.kind, "BYTES")


def _render(model_name: str, answer: Answer) -> Response:
    result, model = answer.result, answer.slot.model
    n = result.n_rows
    labels = [
        p if p is not None else m for p, m in zip(result.predictions, result.model_predictions, strict=True)
    ]
    outputs: list[dict[str, Any]] = [
        {"name": "predict", "datatype": _label_type(model.classes), "shape": [n], "data": labels}
    ]
    if model.classes is not None and result.probabilities is not None:
        shape = [n, len(model.classes)]
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": shape,
                "data": result.probabilities.ravel(),
            }
        )
        outputs.append({"name": "confidence", "datatype": "FP64", "shape": [n], "data": result.confidence})
    reasons = [reason or "" for reason in result.reasons.tolist()]
    outputs.append({"name": "fallback", "datatype": "BYTES", "shape": [n], "data": reasons})
    body = {
        "model_name": model_name,
        "model_version": answer.version,
        "id": answer.request_id,
        "outputs": outputs,
    }
    return Response(dumps(body), media_type="application/json")


def _error(problem: RequestError) -> Response:
    document = {"error": problem.message, **({"detail": problem.detail} if problem.detail else {})}
    return JSONBody(document, status_code=problem.status)
