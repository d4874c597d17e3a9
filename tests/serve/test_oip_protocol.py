"""The Open Inference Protocol on a real `taxiway serve`, spoken by Triton's own `tritonclient.http`."""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from taxiway import __version__
from tests.serve.server import PROTOCOL_ROWS, ROW, Server, deployed_project, native_answer, running_server

# The wire format and the batcher: the store holds nothing these check (make test-postgres leaves them out).
pytestmark = pytest.mark.store_agnostic

MODEL = "weather"  # the project's name in its charter
ROWS = PROTOCOL_ROWS
DATATYPES = {"origin": "BYTES", "month": "INT64", "day": "INT64", "hour": "INT64"}  # the rest: FP64


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = deployed_project(tmp_path_factory, "oip-protocol")
    with running_server(root, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def native(server: Server) -> dict[str, Any]:
    answer = native_answer(server, ROWS)
    assert [f["used"] for f in answer["fallback"]] == [False, True, False, False]
    return answer


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[triton.InferenceServerClient]:
    connection = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    yield connection
    connection.close()


def inputs(rows: list[dict[str, Any]], *, binary: bool, skip: str = "") -> list[triton.InferInput]:
    """One InferInput per column, as a Triton user builds them from numpy arrays."""
    tensors = []
    for name in rows[0]:
        if name == skip:
            continue
        datatype = DATATYPES.get(name, "FP64")
        values = [row[name] for row in rows]
        if datatype == "BYTES":
            array = np.array(values, dtype=np.object_)
        elif datatype == "INT64":
            array = np.array(values, dtype=np.int64)
        else:
            array = np.array([np.nan if value is None else value for value in values], dtype=np.float64)
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    return tensors


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "v1")
    assert client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready(MODEL, "v2")  # registered, not live
    assert not client.is_model_ready("taxiway")
    server = client.get_server_metadata()
    assert server == {"name": "taxiway", "version": __version__, "extensions": ["binary_tensor_data"]}
    model = client.get_model_metadata(MODEL)
    assert (model["name"], model["versions"], model["platform"]) == (MODEL, ["v1"], "taxiway")
    assert {item["name"]: item["datatype"] for item in model["inputs"]} == {
        name: DATATYPES.get(name, "FP64") for name in ROW
    }
    assert all(item["shape"] == [-1] for item in model["inputs"])
    assert [(item["name"], item["datatype"], item["shape"]) for item in model["outputs"]] == [
        ("predictions", "INT64", [-1]),
        ("confidence", "FP64", [-1]),
        ("fallback", "BYTES", [-1]),
        ("probabilities", "FP64", [-1, 2]),
    ]
    assert model["parameters"]["classes"] == [0, 1]


def test_unknown_models_and_versions_are_404(client: triton.InferenceServerClient) -> None:
    with pytest.raises(
        InferenceServerException, match="unknown model 'nope'.*serves the model 'weather'"
    ) as error:
        client.get_model_metadata("nope")
    assert error.value.status() == "404"
    with pytest.raises(InferenceServerException, match="no version 'v7' on this server: v1 is live") as error:
        client.get_model_metadata(MODEL, "v7")
    assert error.value.status() == "404"
    with pytest.raises(InferenceServerException, match="unknown model 'nope'") as error:
        client.infer("nope", inputs(ROWS, binary=False))
    assert error.value.status() == "404"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_answers_like_native(
    client: triton.InferenceServerClient, native: dict[str, Any], binary: bool
) -> None:
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary)
        for name in ("predictions", "confidence", "fallback", "probabilities")
    ]
    result = client.infer(MODEL, inputs(ROWS, binary=binary), outputs=outputs, request_id=f"oip-{binary}")
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        MODEL,
        "v1",
        f"oip-{binary}",
    )
    assert result.as_numpy("predictions").tolist() == native["predictions"]
    assert result.as_numpy("predictions").dtype == np.int64
    np.testing.assert_allclose(result.as_numpy("confidence"), native["confidence"])
    reasons = [r.decode() if isinstance(r, bytes) else r for r in result.as_numpy("fallback").tolist()]
    assert reasons == [f.get("reason", "") for f in native["fallback"]]
    assert reasons[1] == "out_of_range:dewp"
    np.testing.assert_allclose(result.as_numpy("probabilities"), native["probabilities"])
    assert result.as_numpy("probabilities").shape == (len(ROWS), 2)


def test_default_infer_is_binary_both_ways_and_may_be_compressed(
    client: triton.InferenceServerClient, native: dict[str, Any]
) -> None:
    # No outputs named: tritonclient asks for every output as binary data.
    result = client.infer(MODEL, inputs(ROWS, binary=True), request_compression_algorithm="gzip")
    assert result.as_numpy("predictions").tolist() == native["predictions"]
    assert all("data" not in output for output in result.get_response()["outputs"])
    # Some inputs binary, some JSON; one output asked for, in JSON.
    mixed = inputs(ROWS, binary=True)[:6] + inputs(ROWS, binary=False)[6:]
    one = client.infer(MODEL, mixed, outputs=[triton.InferRequestedOutput("predictions", binary_data=False)])
    assert [output["name"] for output in one.get_response()["outputs"]] == ["predictions"]
    assert one.as_numpy("predictions").tolist() == native["predictions"]
    assert one.as_numpy("confidence") is None


def test_rows_that_break_the_schema_are_422_naming_the_field(client: triton.InferenceServerClient) -> None:
    month = triton.InferInput("month", [2], "BYTES")
    month.set_data_from_numpy(np.array(["6", "june"], dtype=np.object_))
    rest = [tensor for tensor in inputs(ROWS[:2], binary=True) if tensor.name() != "month"]
    with pytest.raises(InferenceServerException, match="row 1: month: 'june' is not an integer") as error:
        client.infer(MODEL, [*rest, month])
    assert error.value.status() == "422"
    with pytest.raises(InferenceServerException, match="row 0: dewp: is required") as error:
        client.infer(MODEL, inputs(ROWS, binary=True, skip="dewp"))
    assert error.value.status() == "422"
    colour = triton.InferInput("colour", [len(ROWS)], "BYTES")
    colour.set_data_from_numpy(np.array(["red"] * len(ROWS), dtype=np.object_))
    with pytest.raises(InferenceServerException, match="colour: unexpected field") as error:
        client.infer(MODEL, [*inputs(ROWS, binary=False), colour])
    assert error.value.status() == "422"


def test_tensors_of_different_lengths_are_400(client: triton.InferenceServerClient) -> None:
    short = triton.InferInput("hour", [1], "INT64")
    short.set_data_from_numpy(np.array([3], dtype=np.int64))
    rest = [tensor for tensor in inputs(ROWS, binary=True) if tensor.name() != "hour"]
    with pytest.raises(
        InferenceServerException, match=r"disagree on the number of rows \(.*hour has 1"
    ) as error:
        client.infer(MODEL, [*rest, short])
    assert error.value.status() == "400"


def _json_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "shape": [len(rows)],
            "datatype": DATATYPES.get(name, "FP64"),
            "data": [r[name] for r in rows],
        }
        for name in rows[0]
    ]


GOOD = {"inputs": _json_inputs(ROWS[:1])}


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b'{"inputs": [', {}, 400, "the body is not valid JSON"),
        (b"[]", {}, 400, "must be a JSON object"),
        (b'{"inputs": []}', {}, 400, '"inputs" must be a non-empty list'),
        ({"inputs": [{**GOOD["inputs"][0], "datatype": "FP8"}]}, {}, 400, "datatype 'FP8'"),
        ({"inputs": [{**GOOD["inputs"][0], "shape": [1, 2]}]}, {}, 400, "an input is one column"),
        ({"inputs": [{**GOOD["inputs"][1], "data": ["six"]}]}, {}, 400, "'month' is INT64, but element 0"),
        ({"inputs": [{**GOOD["inputs"][1], "data": [6, 7]}]}, {}, 400, "'month' has 2 elements; its shape"),
        (
            {"inputs": [{**GOOD["inputs"][1], "data": None}] + GOOD["inputs"][2:]},
            {},
            422,
            "month: is missing",
        ),
        ({"inputs": [GOOD["inputs"][0], GOOD["inputs"][0]]}, {}, 400, "input 'origin' is given twice"),
        ({**GOOD, "outputs": [{"name": "shap"}]}, {}, 400, "unknown output 'shap'"),
        ({**GOOD, "id": 7}, {}, 400, '"id" must be printable ASCII text'),
        ({**GOOD, "id": "caf\u00e9\n"}, {}, 400, '"id" must be printable ASCII text'),
        ({**GOOD, "parameters": {"binary_data_output": "yes"}}, {}, 400, "binary_data_output must be true"),
        ({**GOOD, "parameters": {"key": ["a"]}}, {}, 400, "parameters.key must be text"),
        (GOOD, {"Inference-Header-Content-Length": "99999"}, 400, "Inference-Header-Content-Length is"),
        (
            GOOD,
            {"Inference-Header-Content-Length": "\u00b2".encode("latin-1")},
            400,
            "Header-Content-Length is",
        ),
        (GOOD, {"Content-Encoding": "br"}, 415, "Content-Encoding 'br' is not supported"),
        (GOOD, {"Content-Encoding": "gzip"}, 400, "the gzip body cannot be decompressed"),
    ],
)
def test_bad_requests_get_oip_errors_that_name_the_problem(
    server: Server, body: Any, headers: dict[str, Any], status: int, message: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with server.client() as http:
        response = http.post(f"/v2/models/{MODEL}/infer", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def _binary_request(rows: int, size: int, data: bytes) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "month",
                    "shape": [rows],
                    "datatype": "INT64",
                    "parameters": {"binary_data_size": size},
                }
            ]
        }
    ).encode()
    return header + data, {"Inference-Header-Content-Length": str(len(header))}


@pytest.mark.parametrize(
    ("rows", "size", "data", "message"),
    [
        (2, 16, struct.pack("<q", 6), "declares 16 bytes of binary data, but only 8 are left"),
        (1, 8, struct.pack("<qq", 6, 7), "8 bytes after the JSON header belong to no input"),
        (2, 12, struct.pack("<qi", 6, 7), "has 12 bytes of binary data; shape [2] of INT64 takes 16"),
    ],
)
def test_binary_data_that_does_not_add_up_is_400(
    server: Server, rows: int, size: int, data: bytes, message: str
) -> None:
    content, headers = _binary_request(rows, size, data)
    with server.client() as http:
        response = http.post(f"/v2/models/{MODEL}/infer", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_a_gzipped_json_request_over_plain_http(server: Server, native: dict[str, Any]) -> None:
    body = gzip.compress(json.dumps({"inputs": _json_inputs(ROWS)}).encode())
    with server.client() as http:
        response = http.post(
            f"/v2/models/{MODEL}/versions/v1/infer", content=body, headers={"Content-Encoding": "gzip"}
        )
    assert response.status_code == 200, response.text
    outputs = {output["name"]: output for output in response.json()["outputs"]}
    assert outputs["predictions"]["data"] == native["predictions"]
    assert outputs["probabilities"]["shape"] == [len(ROWS), 2]
    assert response.headers["x-taxiway-version"] == "v1"


def test_health_routes_answer_plain_http(server: Server) -> None:
    with server.client() as http:
        assert http.get("/v2/health/live").json() == {"live": True}
        assert http.get("/v2/health/ready").json() == {"ready": True}
        assert http.get(f"/v2/models/{MODEL}/ready").json() == {"name": MODEL, "ready": True}
        missing = http.get("/v2/models/nope/ready")
    assert missing.status_code == 404
    assert "unknown model 'nope'" in missing.json()["error"]


def test_a_body_that_inflates_past_the_limit_is_413(server: Server) -> None:
    bomb = gzip.compress(b" " * (16 * 1024 * 1024 + 1))  # 16 KB that inflate past the 16 MB default
    with server.client() as http:
        response = http.post(f"/v2/models/{MODEL}/infer", content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413, response.text
    assert "inflates to more than 16,777,216 bytes" in response.json()["error"]
