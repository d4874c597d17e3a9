"""Tensors of the Open Inference Protocol: datatypes, data as JSON or binary, a model's inputs and outputs.

A tabular model takes one input tensor per column, shape ``[rows]`` (or ``[rows, 1]``), and answers with
the tensors :func:`output_specs` lists. Binary data follows
the JSON header in the body, in the order of the inputs that declare ``parameters.binary_data_size``:
little-endian, row-major; BOOL one byte; BYTES a 4-byte little-endian length before each element
(KServe/Triton "Binary Tensor Data Extension").
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from taxiway.serve.request import BadRequest
from taxiway.serve.served_model import ServedModel
from taxiway.serve.service import Prediction

__all__ = [
    "DATATYPES",
    "Tensor",
    "answer_tensors",
    "column_datatype",
    "encode_tensor",
    "label_datatype",
    "model_metadata",
    "output_specs",
    "read_inputs",
]

# The datatypes a request may use, as numpy reads their binary form. BF16 has no numpy type: refused.
DATATYPES: dict[str, str] = {
    "BOOL": "|b1",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "",
}
_SCHEMA_DATATYPE = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}  # other schema types: BYTES
_LENGTH = struct.Struct("<I")
_INTEGERS = (-(2**63), 2**64 - 1)  # what INT64 and UINT64 hold; larger JSON integers are refused
_END = object()
_BYTES = "each BYTES element is its length (4 bytes, little-endian) and then its bytes"
_SPEC = "KServe's Open Inference Protocol: {name, shape, datatype, data} per input"


@dataclass(frozen=True)
class Tensor:
    """One tensor: its name, datatype, shape, and its elements flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list[Any]

    @property
    def rows(self) -> int:
        return self.shape[0]


def column_datatype(schema_type: str) -> str:
    """The datatype of a column's tensor, from its type in ``schema.yaml``.

    Example:
        >>> column_datatype("integer"), column_datatype("float"), column_datatype("category")
        ('INT64', 'FP64', 'BYTES')
    """
    return _SCHEMA_DATATYPE.get(schema_type, "BYTES")


def read_inputs(inputs: Any, binary: bytes) -> list[Tensor]:
    """The input tensors of an inference request, their data read from JSON or from ``binary``.

    Raises:
        BadRequest: a tensor that is not one column, data that does not fit its shape or datatype, binary
            sizes that do not add up to the bytes after the header, or tensors of different row counts.

    Example:
        >>> binary = {"binary_data_size": 16}
        >>> inputs = [{"name": "month", "shape": [2], "datatype": "INT64", "data": [6, 7]},
        ...           {"name": "dewp", "shape": [2, 1], "datatype": "FP64", "parameters": binary}]
        >>> [(t.name, t.values) for t in read_inputs(inputs, struct.pack("<2d", 62.5, 40.0))]
        [('month', [6, 7]), ('dewp', [62.5, 40.0])]
    """
    if not isinstance(inputs, list) or not inputs or not all(isinstance(item, dict) for item in inputs):
        raise BadRequest('"inputs" must be a non-empty list of tensors', hint=f"send {_SPEC}")
    tensors: list[Tensor] = []
    offset = 0
    for item in inputs:
        name, datatype, shape = _header(item)
        if any(tensor.name == name for tensor in tensors):
            raise BadRequest(f"input '{name}' is given twice", hint="send one tensor per column")
        size = _binary_size(item, name)
        if size is None:
            values = _from_json(item, name, datatype, shape)
        else:
            if offset + size > len(binary):
                raise BadRequest(
                    f"input '{name}' declares {size} bytes of binary data, but only {len(binary) - offset} "
                    "are left after the JSON header",
                    hint="set Inference-Header-Content-Length to the JSON header's length in bytes",
                )
            values = _from_binary(binary[offset : offset + size], name, datatype, shape)
            offset += size
        tensors.append(Tensor(name, datatype, shape, values))
    if offset != len(binary):
        raise BadRequest(
            f"{len(binary) - offset} bytes after the JSON header belong to no input",
            hint="give each binary input its parameters.binary_data_size",
        )
    counts = {tensor.rows for tensor in tensors}
    if len(counts) > 1:
        shown = ", ".join(f"{tensor.name} has {tensor.rows}" for tensor in tensors)
        raise BadRequest(
            f"the inputs disagree on the number of rows ({shown})",
            hint="every input is one column: shape[0] is the number of rows, the same for all",
        )
    return tensors


def _header(item: dict[str, Any]) -> tuple[str, str, tuple[int, ...]]:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("every input needs a name (the column it holds)", hint=f"send {_SPEC}")
    datatype = item.get("datatype")
    if datatype not in DATATYPES:
        raise BadRequest(
            f"input '{name}' has datatype {datatype!r}, which this server does not read",
            hint=f"use one of {', '.join(DATATYPES)}; GET /v2/models/<model> lists each input's",
        )
    shape = item.get("shape")
    if (
        not isinstance(shape, list)
        or not all(isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape)
        or len(shape) not in (1, 2)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise BadRequest(
            f"input '{name}' has shape {shape!r}; an input is one column: [rows] or [rows, 1]",
            hint="send one tensor per column",
        )
    return name, datatype, tuple(shape)


def _binary_size(item: dict[str, Any], name: str) -> int | None:
    parameters = item.get("parameters")
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise BadRequest(f"input '{name}': parameters must be an object", hint=f"send {_SPEC}")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadRequest(
            f"input '{name}': binary_data_size must be a count of bytes, not {size!r}",
            hint="binary_data_size is the size of the tensor's binary data in bytes",
        )
    if "data" in item:
        raise BadRequest(f"input '{name}' has both JSON data and binary data", hint="send one of them")
    return size


def _from_json(item: dict[str, Any], name: str, datatype: str, shape: tuple[int, ...]) -> list[Any]:
    if "data" not in item:
        raise BadRequest(
            f"input '{name}' has no data",
            hint='put its elements in "data", or send them as binary with parameters.binary_data_size',
        )
    values = _flatten(item["data"])
    _check_count(name, len(values), shape)
    for position, value in enumerate(values):
        if value is not None and not _fits(datatype, value):
            raise BadRequest(
                f"input '{name}' is {datatype}, but element {position} is {value!r}",
                hint="send elements of the tensor's datatype (null for a missing value)",
            )
    return values


def _flatten(data: Any) -> list[Any]:
    """Nested lists as one list, in row-major order (without recursion: JSON may nest a thousand deep)."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(value, list) for value in data):
        return data
    flat: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        value = next(stack[-1], _END)
        if value is _END:
            stack.pop()
        elif isinstance(value, list):
            stack.append(iter(value))
        else:
            flat.append(value)
    return flat


def _fits(datatype: str, value: Any) -> bool:
    if datatype == "BYTES":
        return isinstance(value, str)
    if datatype == "BOOL":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if datatype.startswith("FP"):
        return isinstance(value, int | float)
    return isinstance(value, int) and _INTEGERS[0] <= value <= _INTEGERS[1]


def _from_binary(data: bytes, name: str, datatype: str, shape: tuple[int, ...]) -> list[Any]:
    if datatype == "BYTES":
        elements: list[Any] = []
        offset = 0
        while offset < len(data):
            if offset + 4 > len(data):
                raise BadRequest(
                    f"input '{name}': its BYTES data ends inside an element's length", hint=_BYTES
                )
            (length,) = _LENGTH.unpack_from(data, offset)
            offset += 4
            if offset + length > len(data):
                raise BadRequest(f"input '{name}': a BYTES element runs past the tensor's data", hint=_BYTES)
            try:
                elements.append(data[offset : offset + length].decode("utf-8"))
            except UnicodeDecodeError:
                message = f"input '{name}': element {len(elements)} is not UTF-8 text"
                raise BadRequest(message, hint="encode BYTES elements as UTF-8") from None
            offset += length
        _check_count(name, len(elements), shape)
        return elements
    dtype = np.dtype(DATATYPES[datatype])
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise BadRequest(
            f"input '{name}' has {len(data)} bytes of binary data; shape {list(shape)} of {datatype} "
            f"takes {math.prod(shape) * dtype.itemsize}",
            hint="binary_data_size is the size of the tensor's data in bytes",
        )
    array = np.frombuffer(data, dtype=dtype)
    if datatype == "BOOL" and not np.isin(np.frombuffer(data, dtype=np.uint8), (0, 1)).all():
        raise BadRequest(
            f"input '{name}' is BOOL, but holds bytes other than 0 and 1", hint="true is 1, false 0"
        )
    return array.astype(float).tolist() if datatype == "FP16" else array.tolist()  # type: ignore[no-any-return]


def _check_count(name: str, count: int, shape: tuple[int, ...]) -> None:
    if count != math.prod(shape):
        raise BadRequest(
            f"input '{name}' has {count} elements; its shape {list(shape)} takes {math.prod(shape)}",
            hint="shape[0] is the number of rows; send one element per row",
        )


def encode_tensor(tensor: Tensor, *, binary: bool) -> tuple[dict[str, Any], bytes]:
    """An output tensor as JSON (``data``), or as binary (``parameters.binary_data_size``) and its bytes.

    Missing elements are NaN in FP64 (JSON null) and empty text in BYTES: a typed tensor holds no null.

    Example:
        >>> encode_tensor(Tensor("fallback", "BYTES", (2,), ["", "low_confidence"]), binary=False)[0]["data"]
        ['', 'low_confidence']
        >>> header, data = encode_tensor(Tensor("predictions", "FP64", (1,), [None]), binary=True)
        >>> header["parameters"], np.frombuffer(data, "<f8")
        ({'binary_data_size': 8}, array([nan]))
    """
    if tensor.datatype == "BYTES":
        values: list[Any] = ["" if value is None else str(value) for value in tensor.values]
    elif tensor.datatype.startswith("FP"):
        values = [math.nan if value is None else float(value) for value in tensor.values]
    elif tensor.datatype == "BOOL":
        values = [bool(value) for value in tensor.values]
    else:
        values = [int(value) for value in tensor.values]  # a fallback may say 1.0 for the class 1
    header: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
    if not binary:
        header["data"] = values  # orjson writes NaN as null
        return header, b""
    if tensor.datatype == "BYTES":
        encoded = [value.encode("utf-8") for value in values]
        data = b"".join(_LENGTH.pack(len(element)) + element for element in encoded)
    else:
        data = np.asarray(values, dtype=DATATYPES[tensor.datatype]).tobytes()
    header["parameters"] = {"binary_data_size": len(data)}
    return header, data


def label_datatype(served: ServedModel) -> str:
    """The datatype of the ``predictions`` output: FP64 for regression; for a classifier, by its labels.

    INT64 needs every label to be an integer and a fallback that always answers (a typed tensor has no
    null); FP64 holds other numbers and NaN; text labels are BYTES.
    """
    if served.task != "classification":
        return "FP64"
    classes = served.classes
    numbers = all(isinstance(label, int | float) for label in classes)
    if numbers and all(isinstance(label, int) for label in classes) and served.fallback.model is not None:
        return "INT64"
    return "FP64" if numbers else "BYTES"


def output_specs(served: ServedModel) -> list[tuple[str, str, list[int]]]:
    """(name, datatype, shape) of each output, in the order answers list them."""
    outputs = [("predictions", label_datatype(served), [-1])]
    if served.task == "classification":
        outputs.append(("confidence", "FP64", [-1]))
    outputs.append(("fallback", "BYTES", [-1]))
    if served.task == "classification":
        outputs.append(("probabilities", "FP64", [-1, len(served.classes)]))
    return outputs


def model_metadata(served: ServedModel, name: str) -> dict[str, Any]:
    """The OIP model metadata: one input per feature column, typed from the schema, and the outputs.

    ``parameters`` (an addition to the protocol) names the task and the classes, in probability order.

    Example:
        >>> import pandas as pd
        >>> from sklearn.dummy import DummyClassifier
        >>> from taxiway.data.schema import ColumnSpec, DatasetSchema
        >>> from taxiway.serve.contract import build_contract
        >>> from taxiway.serve.fallback import Fallback
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float"), "city": ColumnSpec(type="string")})
        >>> model = DummyClassifier().fit(pd.DataFrame({"x": [0.0, 1.0], "city": ["a", "b"]}), [0, 1])
        >>> served = ServedModel(version=3, run_id="r-1", model=model, task="classification",
        ...     contract=build_contract(schema, ["x", "city"], profile=None, margin=0.0),
        ...     fallback=Fallback("abstain", None, None, "asked for"))
        >>> metadata = model_metadata(served, "weather")
        >>> metadata["versions"], [(tensor["name"], tensor["datatype"]) for tensor in metadata["inputs"]]
        (['v3'], [('x', 'FP64'), ('city', 'BYTES')])
        >>> [(tensor["name"], tensor["datatype"]) for tensor in metadata["outputs"]]  # abstains: no INT64
        [('predictions', 'FP64'), ('confidence', 'FP64'), ('fallback', 'BYTES'), ('probabilities', 'FP64')]
    """
    specs = served.contract.specs
    return {
        "name": name,
        "versions": [served.name],
        "platform": "taxiway",
        "inputs": [
            {"name": feature, "datatype": column_datatype(specs[feature].type), "shape": [-1]}
            for feature in served.contract.features
        ],
        "outputs": [
            {"name": output, "datatype": datatype, "shape": shape}
            for output, datatype, shape in output_specs(served)
        ],
        "parameters": {"task": served.task, "classes": served.classes, "fallback": served.fallback.kind},
    }


def answer_tensors(prediction: Prediction) -> list[Tensor]:
    """The output tensors of an answer, as :func:`model_metadata` lists them.

    Example:
        >>> import pandas as pd
        >>> from sklearn.dummy import DummyClassifier
        >>> from taxiway.data.schema import ColumnSpec, DatasetSchema
        >>> from taxiway.serve.contract import build_contract
        >>> from taxiway.serve.fallback import Fallback
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float"), "city": ColumnSpec(type="string")})
        >>> model = DummyClassifier().fit(pd.DataFrame({"x": [0.0, 1.0], "city": ["a", "b"]}), [0, 1])
        >>> served = ServedModel(version=3, run_id="r-1", model=model, task="classification",
        ...     contract=build_contract(schema, ["x", "city"], profile=None, margin=0.0),
        ...     fallback=Fallback("abstain", None, None, "asked for"))
        >>> from taxiway.serve.lineup import Route
        >>> from taxiway.serve.served_model import Answer
        >>> answer = Answer([1, None], [1, 0], [0.9, 0.4], [None, "low_confidence"], [[0.1, 0.9], [0.6, 0.4]])
        >>> tensors = answer_tensors(Prediction("r-1", Route(served, "live", "blue"), answer))
        >>> [(tensor.name, tensor.shape, tensor.values) for tensor in tensors][::2]
        [('predictions', (2,), [1, None]), ('fallback', (2,), [None, 'low_confidence'])]
    """
    answer, served = prediction.answer, prediction.route.model
    rows = len(answer.predictions)
    datatype = label_datatype(served)
    if datatype == "INT64" and any(label is None for label in answer.predictions):
        datatype = "FP64"  # cannot happen with a fallback that answers; never fail an answer over it
    tensors = [Tensor("predictions", datatype, (rows,), answer.predictions)]
    if served.task == "classification":
        tensors.append(Tensor("confidence", "FP64", (rows,), answer.confidence))
    tensors.append(Tensor("fallback", "BYTES", (rows,), answer.fallback))
    if served.task == "classification":
        width = len(served.classes)
        table: list[Any] = answer.probabilities or [[None] * width] * rows  # None: the model failed
        flat = [value for row in table for value in row]
        tensors.append(Tensor("probabilities", "FP64", (rows, width), flat))
    return tensors
