"""Each protocol of `taxiway serve`, over a real socket, with the client its users already have."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taxiway.project import Project
from taxiway.serve.model import load_served_model
from tests.serve.conftest import MIN_CONFIDENCE, RunningServer, request_rows, weather_rows

MAX_ROWS = 50
MAX_BODY_MB = "0.05"  # 52,428 bytes: about 150 weather rows of JSON


@pytest.fixture(scope="module")
def server(trained_weather: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(shutil.copytree(trained_weather, tmp_path_factory.mktemp("protocols") / "weather"))
    running = RunningServer(root, "--max-rows", str(MAX_ROWS), "--max-body-mb", MAX_BODY_MB)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def offline(server: RunningServer) -> Any:
    """The served model loaded in this process: what the server must agree with."""
    project = Project.load(server.root)
    try:
        return load_served_model(project, None)
    finally:
        project.store.close()


def features(count: int = 20) -> pd.DataFrame:
    return weather_rows().drop(columns=["warm"]).iloc[:count]


def test_native_predict_names_version_slot_and_request(server: RunningServer, offline: Any) -> None:
    response = httpx.post(
        f"{server.url}/predict", json={"rows": request_rows(5)}, headers={"x-request-id": "abc-1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == offline.version and body["slot"] == "blue"
    assert body["request_id"] == "abc-1" == response.headers["x-request-id"]
    expected = offline.estimator.predict(features(5)).tolist()
    assert [row["prediction"] for row in body["predictions"]] == expected
    first = body["predictions"][0]
    assert set(first) == {"prediction", "confidence", "probabilities", "fallback"}
    assert first["probabilities"].keys() == {"0", "1"} and first["fallback"] is None


def test_mlflow_scoring_client_works_unchanged(server: RunningServer, offline: Any) -> None:
    with warnings.catch_warnings():  # mlflow warns about its own type hints on import
        warnings.simplefilter("ignore")
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient

        client = ScoringServerClient("127.0.0.1", server.port)
        client.wait_server_ready(timeout=10)
        frame = features(20)  # holds NaN (missing wind gusts): the client sends them as NaN literals
        answer = client.invoke(frame)
    expected = offline.estimator.predict(frame).tolist()
    assert answer.get_predictions(predictions_format="ndarray").tolist() == expected
    records = httpx.post(f"{server.url}/invocations", json={"dataframe_records": request_rows(3)})
    csv = httpx.post(
        f"{server.url}/invocations",
        content=frame.iloc[:3].to_csv(index=False),
        headers={"content-type": "text/csv"},
    )
    columns = {name: [row[name] for row in request_rows(3)] for name in frame.columns}
    instances = httpx.post(f"{server.url}/invocations", json={"instances": request_rows(3)})
    inputs = httpx.post(f"{server.url}/invocations", json={"inputs": columns})
    for response in (records, csv, instances, inputs):
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected[:3]}
    assert httpx.get(f"{server.url}/ping").status_code == 200
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert offline.version in httpx.get(f"{server.url}/version").text


def test_mlflow_error_shape(server: RunningServer) -> None:
    wrong = httpx.post(f"{server.url}/invocations", json={"records": []})
    assert wrong.status_code == 400 and wrong.json()["error_code"] == "BAD_REQUEST"
    typed = httpx.post(
        f"{server.url}/invocations", json={"dataframe_records": [dict(request_rows(1)[0], dewp="x")]}
    )
    assert typed.status_code == 422 and typed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert typed.json()["detail"][0]["field"] == "dewp"
    assert (
        httpx.post(
            f"{server.url}/invocations", content=b"x", headers={"content-type": "text/xml"}
        ).status_code
        == 415
    )


@pytest.mark.parametrize("binary", [False, True])
def test_triton_client_infers_one_tensor_per_column(
    server: RunningServer, offline: Any, binary: bool
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("weather")
    metadata = client.get_model_metadata("weather")
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(offline.features)
    frame = features(8)
    tensors = []
    for name, spec in zip(frame.columns, metadata["inputs"], strict=True):
        datatype = spec["datatype"]
        values = frame[name].to_numpy(
            dtype=object if datatype == "BYTES" else np.float64 if datatype == "FP64" else np.int64
        )
        tensor = triton.InferInput(name, [len(frame)], datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        tensors.append(tensor)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary)
        for name in ("predict", "predict_proba", "fallback")
    ]
    result = client.infer("weather", tensors, outputs=outputs)
    assert result.as_numpy("predict").tolist() == offline.estimator.predict(frame).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), offline.estimator.predict_proba(frame))
    assert result.get_response()["model_version"] == offline.version
    client.close()


def test_openapi_request_schema_comes_from_the_training_data(server: RunningServer, offline: Any) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    row = document["components"]["schemas"]["Row"]
    assert row["required"] == list(offline.features)
    assert row["properties"]["month"]["type"] == ["integer", "null"]
    assert "EWR" in row["properties"]["origin"]["description"]
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["rows"]["items"] == {"$ref": "#/components/schemas/Row"}
    assert httpx.get(f"{server.url}/docs").status_code == 200


GOOD = request_rows(1)[0]
BAD_INPUTS = [
    ("not json", b"{rows:", 400),
    ("empty body", b"", 400),
    ("a list", b"[1, 2]", 422),
    ("no rows key", b'{"row": {}}', 422),
    ("rows not a list", b'{"rows": 3}', 422),
    ("a row not an object", b'{"rows": [3]}', 422),
    ("no rows", b'{"rows": []}', 422),
    ("wrong type", {"rows": [dict(GOOD, month="June")]}, 422),
    (
        "infinity",
        b'{"rows": [' + httpx.Request("POST", "/", json=GOOD).content[:-1] + b', "dewp": Infinity}]}',
        422,
    ),
    ("missing column", {"rows": [{k: v for k, v in GOOD.items() if k != "humid"}]}, 422),
    ("unknown column", {"rows": [dict(GOOD, colour="red")]}, 422),
    ("too many rows", {"rows": [GOOD] * (MAX_ROWS + 1)}, 413),
    ("too many bytes", {"rows": [dict(GOOD, origin="x" * 60_000)]}, 413),
    ("deep nesting", b"[" * 20_000, 400),
    ("a nested value", {"rows": [dict(GOOD, origin={"a": 1})]}, 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_a_4xx_with_a_message(server: RunningServer, case: str, body: Any, status: int) -> None:
    if isinstance(body, bytes):
        response = httpx.post(
            f"{server.url}/predict", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = httpx.post(f"{server.url}/predict", json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    if status == 422 and case in ("wrong type", "missing column", "unknown column", "infinity"):
        (problem,) = response.json()["detail"]
        assert problem["row"] == 0 and problem["field"] in ("month", "humid", "colour", "dewp")


def test_out_of_range_and_low_confidence_rows_fall_back(server: RunningServer, offline: Any) -> None:
    frame = weather_rows().drop(columns=["warm"])
    confidence = offline.estimator.predict_proba(frame).max(axis=1)
    doubtful = int(np.flatnonzero(confidence < MIN_CONFIDENCE)[0])
    sure = int(np.flatnonzero(confidence > 0.99)[0])
    rows = [
        request_rows(1, start=sure)[0],
        dict(request_rows(1, start=sure)[0], humid=400.0),
        request_rows(1, start=doubtful)[0],
    ]
    response = httpx.post(f"{server.url}/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert answers[0]["fallback"] is None
    assert answers[1]["fallback"] == {"reason": "out_of_range", "answered_by": "linear"}
    assert answers[2]["fallback"] == {"reason": "low_confidence", "answered_by": "linear"}
    assert response.headers["x-taxiway-fallback-rows"] == "2"


def test_metrics_parse_and_count_requests_fallbacks_and_latency(server: RunningServer, offline: Any) -> None:
    httpx.post(f"{server.url}/predict", json={"rows": [dict(GOOD, humid=400.0)]})
    httpx.post(f"{server.url}/predict", json={"rows": 3})
    families = {
        family.name: family
        for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
    }
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["taxiway_requests"].samples
        if s.name == "taxiway_requests_total"
    }
    assert requests[("predict", "200")] >= 1 and requests[("predict", "422")] >= 1
    fallbacks = {
        s.labels["reason"]: s.value
        for s in families["taxiway_fallbacks"].samples
        if s.name.endswith("_total")
    }
    assert set(fallbacks) == {"missing", "out_of_range", "unseen_category", "low_confidence"}
    assert fallbacks["out_of_range"] >= 1
    latency = [s for s in families["taxiway_request_duration_seconds"].samples if s.name.endswith("_count")]
    assert sum(s.value for s in latency) >= 2
    confidence = families["taxiway_prediction_confidence"].samples
    assert any(s.labels.get("model_version") == offline.version for s in confidence)
    assert families["taxiway_process_resident_memory_bytes"].samples[0].value > 10e6


def test_fuzzing_the_openapi_document_finds_no_server_error(server: RunningServer) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "passed" in result.stdout and "Server error" not in result.stdout
