"""The Open Inference Protocol (KServe v2, Triton's HTTP API): health, metadata and inference under ``/v2``.

Decisions, each where the protocol leaves room:

- the model is named after the project (``[project] name`` in taxiway.toml); any other name is a 404, so a
  client pointed at the wrong server learns it at once. Its one version is the live one (``v3``; ``3`` is
  accepted too). The lineup still routes: a canary answers its share even on a versioned path, and the
  answer's ``model_version`` names the version that gave it;
- one input tensor per column, shape ``[rows]`` or ``[rows, 1]``; datatypes INT64, FP64, BOOL and BYTES
  from ``schema.yaml`` (other integer and float widths are read too); a missing value is JSON null, or NaN;
- outputs: ``predictions``, ``fallback`` (the reason the fallback answered a row, ``""`` when the model
  did) and, for a classifier, ``confidence`` and ``probabilities`` (``[rows, classes]``, in the order of
  the model metadata's ``parameters.classes``). Class labels are INT64 when they are integers and the
  fallback never abstains, FP64 for other numbers, else BYTES; where the fallback abstained, a label is NaN
  or ``""``;
- a tensor that cannot be read is a 400; rows that break the input contract are the native 422, with the
  first problems in ``error`` (tritonclient shows only that) and all of them in ``detail``;
- the binary tensor data extension, for inputs and outputs, and gzip or deflate request bodies.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from taxiway import __version__
from taxiway.serve.protocols.rows import (
    UnsupportedMediaType,
    canary_key,
    summary,
)
from taxiway.serve.protocols.tensors import (
    DATATYPES,
    Tensor,
    answer_tensors,
    encode_tensor,
    model_metadata,
    output_specs,
    read_inputs,
)
from taxiway.serve.request import BadRequest, loads_lenient, read_body
from taxiway.serve.responses import answered_by, json_response, service_of
from taxiway.serve.served_model import ServedModel
from taxiway.serve.service import (
    InvalidRows,
    NotServing,
    Prediction,
    PredictionService,
    RequestRefused,
    RequestTooLarge,
)

__all__ = ["UnknownModel", "add_routes"]

HEADER_LENGTH = "inference-header-content-length"
EXTENSIONS = ["binary_tensor_data"]
MAX_ID_LENGTH = 256
_BINARY_HINT = "true asks for the output as binary data after the JSON header, false for JSON"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}  # deflate: zlib-wrapped, as tritonclient

_INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                "datatype": {"type": "string", "enum": list(DATATYPES)},
                                "data": {"type": "array"},
                                "parameters": {"type": "object"},
                            },
                            "required": ["name", "shape", "datatype"],
                        },
                    },
                    "outputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
                            "required": ["name"],
                        },
                    },
                },
                "required": ["inputs"],
            }
        }
    },
}


class UnknownModel(RequestRefused):
    """A model name or version this server does not serve: 404."""

    http_status = 404


def add_routes(app: FastAPI) -> None:
    """Add the ``/v2`` routes (server and model health and metadata, inference) to the service's app."""
    # app.py imports this module before it defines these: take them when the routes are added.

    @app.get("/v2", summary="OIP server metadata")
    async def server_metadata() -> Response:
        return json_response({"name": "taxiway", "version": __version__, "extensions": EXTENSIONS})

    @app.get("/v2/health/live", summary="OIP: the server answers")
    async def live() -> Response:
        return json_response({"live": True})

    @app.get("/v2/health/ready", summary="OIP: a model is live (503 before the first deploy)")
    async def ready(request: Request) -> Response:
        is_ready = service_of(request).lineup.live is not None
        return json_response({"ready": is_ready}, status=200 if is_ready else 503)

    async def metadata(request: Request, model: str, version: str | None) -> Response:
        try:
            service = service_of(request)
            return json_response(model_metadata(_served(service, model, version), model))
        except RequestRefused as error:
            return _error(error)

    async def model_ready(request: Request, model: str, version: str | None) -> Response:
        try:
            _served(service_of(request), model, version)
        except RequestRefused as error:
            return _error(error)
        return json_response({"name": model, "ready": True})

    async def infer(request: Request, model: str, version: str | None) -> Response:
        service = service_of(request)
        try:
            served = _served(service, model, version)
            limit = service.limits.max_body_bytes
            body = _inflate(await read_body(request, limit), request.headers.get("content-encoding"), limit)
            header, binary = _split(body, request.headers.get(HEADER_LENGTH))
            document = loads_lenient(header)
            if not isinstance(document, dict):
                raise BadRequest("the inference request must be a JSON object", hint='send {"inputs": [...]}')
            tensors = read_inputs(document.get("inputs"), binary)
            wanted = _requested_outputs(document, served)
            parameters = document.get("parameters")
            request_id = _request_id(document.get("id"))
            prediction = await service.predict(
                _records(tensors),
                key=canary_key(parameters, "parameters"),
                request_id=request_id or request.headers.get("x-request-id"),
            )
        except RequestRefused as error:
            return _error(error)
        by_name = {tensor.name: tensor for tensor in answer_tensors(prediction)}
        outputs = [(by_name[name], binary_out) for name, binary_out in wanted if name in by_name]
        return _inference_response(model, prediction, outputs, answered_by(prediction))

    @app.get("/v2/models/{model}", summary="OIP model metadata: inputs (one per column) and outputs")
    async def model_metadata_route(request: Request, model: str) -> Response:
        return await metadata(request, model, None)

    @app.get("/v2/models/{model}/versions/{version}", summary="OIP model metadata of one version")
    async def version_metadata(request: Request, model: str, version: str) -> Response:
        return await metadata(request, model, version)

    @app.get("/v2/models/{model}/ready", summary="OIP: the model is loaded and live")
    async def model_ready_route(request: Request, model: str) -> Response:
        return await model_ready(request, model, None)

    @app.get("/v2/models/{model}/versions/{version}/ready", summary="OIP: this version is live")
    async def version_ready(request: Request, model: str, version: str) -> Response:
        return await model_ready(request, model, version)

    @app.post(
        "/v2/models/{model}/infer",
        summary="OIP inference: one tensor per column, JSON or binary",
        openapi_extra={"requestBody": _INFER_BODY},
    )
    async def infer_route(request: Request, model: str) -> Response:
        return await infer(request, model, None)

    @app.post(
        "/v2/models/{model}/versions/{version}/infer",
        summary="OIP inference with the version named (it must be the live one)",
        openapi_extra={"requestBody": _INFER_BODY},
    )
    async def version_infer(request: Request, model: str, version: str) -> Response:
        return await infer(request, model, version)


def _records(tensors: list[Tensor]) -> list[dict[str, Any]]:
    """One record per row, ``{column: value}``: the rows the native protocol sends."""
    names = [tensor.name for tensor in tensors]
    columns = (tensor.values for tensor in tensors)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _served(service: PredictionService, model: str, version: str | None) -> ServedModel:
    """The live model, when ``model`` (and ``version``) name it; else 404 (or 503 before any deploy)."""
    name = service.charter.project.name
    if model != name:
        raise UnknownModel(
            f"unknown model '{model}': this server serves the model '{name}'",
            hint=f"GET /v2/models/{name} shows its inputs and outputs",
        )
    live = service.lineup.live
    if live is None:
        raise NotServing(
            "no model is deployed to this server yet",
            hint="deploy a registered version: taxiway deploy v1 (it applies within a second)",
        )
    if version is not None and version not in (live.name, str(live.version)):
        raise UnknownModel(
            f"model '{name}' has no version '{version}' on this server: {live.name} is live",
            hint=f"leave the version out, or ask for {live.name}",
        )
    return live


def _error(error: RequestRefused) -> Response:
    """The OIP error shape, ``{"error": ...}``, with taxiway's ``hint`` and, for rows, ``detail``."""
    body: dict[str, Any] = {"error": error.message, "hint": error.hint}
    if isinstance(error, InvalidRows):
        body["error"] = summary(error)
        body["detail"] = error.detail()
    return json_response(body, status=error.http_status)


def _inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip or deflate, as tritonclient sends), within ``limit``."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in _WBITS:
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported",
            hint="send the body as is, or gzip or deflate it",
        )
    inflater = zlib.decompressobj(_WBITS[encoding])
    try:
        inflated = inflater.decompress(body, limit + 1)  # a small body can inflate to gigabytes: stop early
    except zlib.error as error:
        raise BadRequest(
            f"the {encoding} body cannot be decompressed: {error}", hint="check the encoding"
        ) from None
    if len(inflated) > limit:
        raise RequestTooLarge(
            f"the body inflates to more than {limit:,} bytes; this server takes at most {limit:,}",
            hint="send fewer rows per request, or start the server with a larger --max-body-mb",
        )
    if not inflater.eof:
        raise BadRequest(f"the {encoding} body ends before its compressed stream does", hint="send it whole")
    return inflated


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data after it (Inference-Header-Content-Length)."""
    if header_length is None:
        return body, b""
    length = header_length.strip()
    if not (length.isascii() and length.isdigit()) or int(length) > len(body):  # not '²': int() refuses it
        raise BadRequest(
            f"Inference-Header-Content-Length is {header_length!r}; the body has {len(body)} bytes",
            hint="set it to the length in bytes of the JSON header at the start of the body",
        )
    return body[: int(length)], body[int(length) :]


def _request_id(value: Any) -> str | None:
    """The request's ``id``: it names the request in the prediction log and /feedback, and comes back in
    the ``x-request-id`` header, so it must be printable ASCII (what a header can carry)."""
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > MAX_ID_LENGTH
        or not (value.isascii() and value.isprintable())
    ):
        raise BadRequest(
            f'"id" must be printable ASCII text of at most {MAX_ID_LENGTH} characters, not {value!r:.80}',
            hint="the id names the request in the logs and in /feedback, and comes back as x-request-id",
        )
    return value


def _requested_outputs(document: dict[str, Any], served: ServedModel) -> list[tuple[str, bool]]:
    """The outputs to answer and whether each goes in binary: all of them unless ``outputs`` names some."""
    parameters = document.get("parameters")
    every_binary = parameters.get("binary_data_output", False) if isinstance(parameters, dict) else False
    if not isinstance(every_binary, bool):
        raise BadRequest("parameters.binary_data_output must be true or false", hint=_BINARY_HINT)
    known = [name for name, _, _ in output_specs(served)]
    requested = document.get("outputs")
    if requested is None or requested == []:
        return [(name, every_binary) for name in known]
    if not isinstance(requested, list) or not all(isinstance(item, dict) for item in requested):
        raise BadRequest('"outputs" must be a list of {"name": ...}', hint=f"outputs: {', '.join(known)}")
    wanted: list[tuple[str, bool]] = []
    for item in requested:
        name = item.get("name")
        if name not in known:
            raise BadRequest(f"unknown output {name!r}", hint=f"this model's outputs: {', '.join(known)}")
        options = item.get("parameters") or {}
        binary = options.get("binary_data", every_binary) if isinstance(options, dict) else None
        if not isinstance(binary, bool):
            raise BadRequest(
                f"output '{name}': parameters.binary_data must be true or false", hint=_BINARY_HINT
            )
        wanted.append((name, binary))
    return wanted


def _inference_response(
    model: str, prediction: Prediction, outputs: list[tuple[Tensor, bool]], headers: dict[str, str]
) -> Response:
    """JSON, or with binary outputs the JSON header then their data (Inference-Header-Content-Length)."""
    encoded = [encode_tensor(tensor, binary=binary) for tensor, binary in outputs]
    body = {
        "model_name": model,
        "model_version": prediction.route.model.name,
        "id": prediction.request_id,
        "outputs": [header for header, _ in encoded],
    }
    if not any(binary for _, binary in outputs):
        return json_response(body, headers=headers)
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    content = header + b"".join(data for _, data in encoded)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={**headers, "Inference-Header-Content-Length": str(len(header))},
    )
