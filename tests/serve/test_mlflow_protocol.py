"""The MLflow scoring protocol on a real `taxiway serve`, spoken by MLflow's own ScoringServerClient."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from taxiway import __version__
from tests.serve.server import PROTOCOL_ROWS, ROW, Server, deployed_project, native_answer, running_server

# The wire format and the batcher: the store holds nothing these check (make test-postgres leaves them out).
pytestmark = pytest.mark.store_agnostic

with warnings.catch_warnings():
    # mlflow.pyfunc warns at import time about type hints of its own (MLflow 3.17): not about us.
    warnings.simplefilter("ignore", UserWarning)
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

ROWS = PROTOCOL_ROWS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = deployed_project(tmp_path_factory, "mlflow-protocol")
    with running_server(root, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def native(server: Server) -> dict[str, Any]:
    answer = native_answer(server, ROWS)
    assert [f["used"] for f in answer["fallback"]] == [False, True, False, False]
    return answer


@pytest.fixture(scope="module")
def mlflow_client(server: Server) -> ScoringServerClient:
    host, port = server.url.removeprefix("http://").split(":")
    return ScoringServerClient(host, int(port))


def invoke(
    server: Server, content: str | bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    with server.client() as client:
        return client.post("/invocations", content=content, headers=headers)


def post_json(server: Server, body: Any) -> httpx.Response:
    """Post as MLflow's client does: Python's json, which writes NaN for a DataFrame's missing values."""
    return invoke(server, json.dumps(body))


def test_mlflow_client_gets_the_native_predictions(
    mlflow_client: ScoringServerClient, native: dict[str, Any]
) -> None:
    mlflow_client.wait_server_ready(timeout=10)
    # A DataFrame with None in float columns: MLflow's client writes NaN tokens, which plain JSON refuses.
    answer = mlflow_client.invoke(pd.DataFrame(ROWS))
    assert answer["predictions"] == native["predictions"]
    assert answer.get_predictions()[0].tolist() == native["predictions"]


def test_mlflow_client_ping_and_version(mlflow_client: ScoringServerClient, server: Server) -> None:
    mlflow_client.ping()
    assert mlflow_client.get_version() == f"{__version__}+v1"
    ping = httpx.get(f"{server.url}/ping")
    assert (ping.status_code, ping.text) == (200, "\n")


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": pd.DataFrame(ROWS).to_dict(orient="split")},
        {"dataframe_split": {"columns": list(ROW), "data": [list(row.values()) for row in ROWS]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"inputs": ROWS},
        {"inputs": {name: [row[name] for row in ROWS] for name in ROW}},
        {"dataframe_records": ROWS, "params": {"key": "user-7", "temperature": 0.5}},
    ],
    ids=["split-pandas", "split", "records", "instances", "inputs-records", "inputs-columns", "params"],
)
def test_every_json_format_answers_like_native(
    server: Server, native: dict[str, Any], body: dict[str, Any]
) -> None:
    response = post_json(server, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": native["predictions"]}
    assert response.headers["x-taxiway-version"] == "v1"


def test_one_row_of_scalars_in_inputs(server: Server, native: dict[str, Any]) -> None:
    response = post_json(server, {"inputs": ROW})
    assert response.json() == {"predictions": native["predictions"][:1]}


@pytest.mark.parametrize(
    ("index", "encoding", "content_type"),
    [
        (True, "utf-8", "text/csv"),
        (False, "utf-8", "text/csv; charset=utf-8"),
        (False, "utf-8-sig", "text/csv;"),
    ],
    ids=["with-index", "without-index", "byte-order-mark"],
)
def test_csv_as_pandas_writes_it(
    server: Server, native: dict[str, Any], index: bool, encoding: str, content_type: str
) -> None:
    text = pd.DataFrame(ROWS).to_csv(index=index)
    response = invoke(server, text.encode(encoding), content_type)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": native["predictions"]}


BAD_ROW = {**ROW, "month": "june"}
NO_DEWP = {name: value for name, value in ROW.items() if name != "dewp"}


@pytest.mark.parametrize(
    ("rows", "field", "kind", "message"),
    [
        ([ROW, BAD_ROW], "month", "wrong_type", "row 1: month: 'june' is not an integer"),
        ([NO_DEWP], "dewp", "missing_column", "row 0: dewp: is required"),
        ([{**ROW, "colour": "red"}], "colour", "unexpected_column", "row 0: colour: unexpected field"),
        ([{**ROW, "hour": [1, 2]}], "hour", "wrong_type", "row 0: hour: is a list; a field holds one value"),
    ],
    ids=["wrong-type", "missing-column", "unknown-column", "nested"],
)
def test_rows_that_break_the_schema_are_mlflow_schema_errors(
    server: Server, rows: list[dict[str, Any]], field: str, kind: str, message: str
) -> None:
    response = post_json(server, {"dataframe_records": rows})
    assert response.status_code == 400, response.text  # MLflow answers schema enforcement with 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["error_class"] == "SCHEMA_ENFORCEMENT_FAILED"
    assert body["message"].startswith("Failed to enforce schema: ")
    assert message in body["message"]
    assert {"row": len(rows) - 1, "field": field, "kind": kind} == {
        key: body["detail"][0][key] for key in ("row", "field", "kind")
    }


def test_mlflow_client_raises_with_the_problem(mlflow_client: ScoringServerClient) -> None:
    with pytest.raises(Exception, match=r"error code 400.*month: 'june' is not an integer"):
        mlflow_client.invoke(pd.DataFrame([BAD_ROW]))


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code", "message"),
    [
        (b'{"dataframe_records": [', "application/json", 400, "BAD_REQUEST", "the body is not valid JSON"),
        (b"", "application/json", 400, "BAD_REQUEST", "the body is empty"),
        (b"[1, 2]", "application/json", 400, "BAD_REQUEST", "Received a list"),
        (b'{"rows": []}', "application/json", 400, "BAD_REQUEST", "exactly one of the input fields"),
        (b'{"dataframe_records": [], "inputs": []}', "application/json", 400, "BAD_REQUEST", "exactly one"),
        (b'{"dataframe_records": []}', "application/json", 400, "BAD_REQUEST", "the request holds no rows"),
        (b'{"dataframe_records": {"a": 1}}', "application/json", 400, "BAD_REQUEST", "must be a list"),
        (b'{"instances": [[1, 2]]}', "application/json", 400, "BAD_REQUEST", "not a record"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', "application/json", 400, "BAD_REQUEST", "a has 2, b has 1"),
        (b'{"inputs": 3}', "application/json", 400, "BAD_REQUEST", "list of records or an object of columns"),
        (
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}',
            "application/json",
            400,
            "BAD_REQUEST",
            "row 0 of dataframe_split.data has 1 values; columns names 2",
        ),
        (
            b'{"dataframe_split": {"data": [[1]]}}',
            "application/json",
            400,
            "BAD_REQUEST",
            "columns must list",
        ),
        (
            b'{"dataframe_split": {"data": [], "x": 1}}',
            "application/json",
            400,
            "BAD_REQUEST",
            "'data' field",
        ),
        (
            b'{"inputs": [], "params": [1]}',
            "application/json",
            400,
            "BAD_REQUEST",
            "params must be a JSON object",
        ),
        (b"a,b\n1,2,3\n", "text/csv", 400, "BAD_REQUEST", "CSV line 2 has 3 fields; the header names 2"),
        (b"a,a\n1,2\n", "text/csv", 400, "BAD_REQUEST", "the CSV header names 'a' more than once"),
        (b"", "text/csv", 400, "BAD_REQUEST", "the CSV is empty"),
        (b"\xff\xfe", "text/csv", 400, "BAD_REQUEST", "the CSV is not UTF-8"),
        (b"x", "text/plain", 415, "BAD_REQUEST", "only supports the following content types"),
        (b"{}", None, 415, "BAD_REQUEST", "Got no Content-Type"),
        (b"{}", "application/json; charset=latin-1", 415, "BAD_REQUEST", "only supports UTF-8"),
        (b"{}", "application/json; format=pandas-split", 415, "BAD_REQUEST", "parameters: format"),
    ],
)
def test_bad_bodies_get_mlflow_errors_that_name_the_problem(
    server: Server, content: bytes, content_type: str | None, status: int, code: str, message: str
) -> None:
    response = invoke(server, content, content_type)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert message in body["message"]
    assert body["hint"]


def test_the_csv_reader_drops_pandas_index_and_reads_missing_values(server: Server) -> None:
    frame = pd.DataFrame([{**ROW, "wind_dir": None}])
    text = frame.to_csv(na_rep="NA")
    assert ",NA," in text
    response = invoke(server, text, "text/csv")
    assert response.status_code == 200, response.text
    # ... and the same row from JSON gets the same answer
    with server.client() as client:
        native = client.post("/predict", json={"rows": [{**ROW, "wind_dir": None}]}).json()
    assert response.json()["predictions"] == native["predictions"]
    assert pd.read_csv(io.StringIO(text)).shape == (1, len(ROW) + 1)  # pandas' index column was sent


def test_a_huge_finite_value_is_answered_not_a_server_error(server: Server) -> None:
    response = post_json(server, {"dataframe_records": [{**ROW, "precip": 1.7976931348623157e308}]})
    assert response.status_code < 500, response.text
