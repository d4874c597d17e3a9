"""Drills: hostile requests and slow clients against a real two-worker `taxiway serve`, over real sockets.

Each drill asserts the exact answer, and that good requests are still answered while (and after) the
hostile ones are refused. Nothing here waits on a clock reading: sockets are read until the server acts.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from tests.serve.server import ROW, Server, Traffic, cli_result, deployed_project, running_server

CLIENT_TIMEOUT_S = 3  # --client-timeout of the drill server: short, so the drills end soon
MEMORY_BUDGET_BYTES = 300 * 1024 * 1024  # what the hostile corpus may add to the server's processes


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "drills-hostile")


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("drills-hostile-logs")
    with running_server(
        project, "--workers", "2", "--client-timeout", str(CLIENT_TIMEOUT_S), log_dir=logs
    ) as server:
        yield server


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _rss(server: Server) -> int:
    """Resident memory of the server and its workers, in bytes."""
    parent = psutil.Process(server.process.pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])


def _post(server: Server, body: bytes, **headers: str) -> Any:
    with server.client() as client:
        return client.post("/predict", content=body, headers={"content-type": "application/json", **headers})


def _good(server: Server) -> None:
    with server.client() as client:
        response = client.post("/predict", json={"row": ROW})
    assert response.status_code == 200, response.text


def test_a_row_with_half_a_million_unknown_keys_is_refused_by_its_size(server: Server) -> None:
    hostile = {**ROW, **{f"k{n}": 0 for n in range(500_000)}}
    body = orjson.dumps({"row": hostile})
    assert len(body) > 5_000_000
    before = _rss(server)
    with Traffic(server, threads=2, prefix="beside-keys") as traffic:
        traffic.wait_for(10)
        for _ in range(4):  # two such requests took down a two-worker server
            response = _post(server, body)
            assert response.status_code == 422, response.text[:500]
            answer = response.json()
            assert answer["error"] == "1 of 1 rows do not match the model's input schema"
            assert answer["refused_rows"] == 1 and answer["problems"] == 1
            assert answer["detail"] == [
                {
                    "row": 0,
                    "field": "*",
                    "kind": "unexpected_column",
                    "message": "the row has 500,012 fields; the model takes 12",
                }
            ]
            assert len(response.content) < 1_000
        done = time.monotonic()
        traffic.wait_for(10, sent_after=done)
    assert all(a.status == 200 for a in traffic.answered), {a.status for a in traffic.answered}
    assert _rss(server) - before < MEMORY_BUDGET_BYTES
    _good(server)


def test_ten_thousand_empty_rows_get_a_small_answer_that_counts_them(server: Server) -> None:
    body = orjson.dumps({"rows": [{}] * 10_000})
    response = _post(server, body)
    assert response.status_code == 422, response.text[:500]
    answer = response.json()
    assert answer["error"] == "10000 of 10000 rows do not match the model's input schema"
    assert answer["refused_rows"] == 10_000
    assert len(answer["detail"]) == 20
    assert answer["detail"][0] == {
        "row": 0,
        "field": "*",
        "kind": "missing_column",
        "message": "the row is empty: send its fields",
    }
    assert len(response.content) < 5_000  # it was 12 MB
    _good(server)


def test_many_unknown_keys_spread_over_rows_and_long_text_are_refused(server: Server) -> None:
    spread = [{**ROW, f"extra{n}": n} for n in range(100)]  # 100 unknown keys over 100 rows
    answer = _post(server, orjson.dumps({"rows": spread})).json()
    assert answer["error"].startswith("36 of 100 rows"), answer  # refused from the 65th unknown field on
    long_text = _post(server, orjson.dumps({"row": {**ROW, "origin": "x" * 20_000}}))
    assert long_text.status_code == 422
    assert long_text.json()["detail"][0]["message"] == "origin: text of 20,000 characters (at most 10,000)"
    _good(server)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout bounds a hang)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_sending_partial_headers_is_answered_408_and_cut_off(server: Server) -> None:
    sockets = []
    for _ in range(50):
        sock = socket.create_connection(_address(server), timeout=120)
        sock.sendall(b"POST /predict HTTP/1.1\r\nhost: drill\r\ncontent-type: appl")
        sockets.append(sock)
    try:
        _good(server)  # answered while 50 connections hang
        for sock in sockets:
            answer = _read_until_closed(sock)
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
            assert b"did not arrive within 3 s" in answer
    finally:
        for sock in sockets:
            sock.close()
    _good(server)


def test_a_body_trickling_in_is_answered_408_and_cut_off(server: Server) -> None:
    body = orjson.dumps({"row": ROW})
    sock = socket.create_connection(_address(server), timeout=120)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nhost: drill\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )
    closed = threading.Event()

    def trickle() -> None:  # a byte at a time until the server hangs up
        for byte in body[:-1]:
            if closed.wait(0.5):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        _good(server)
        answer = _read_until_closed(sock)
    finally:
        closed.set()
        sender.join(timeout=30)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    _good(server)


def test_feedback_takes_json_for_known_requests_only_and_is_rate_limited(server: Server) -> None:
    with server.client() as client:
        answered = client.post("/predict", json={"row": ROW}).json()["request_id"]
        own = client.post("/predict", json={"row": ROW}, headers={"x-request-id": "client-id-1"})
        assert own.status_code == 200
        label = {"request_id": answered, "label": True}
        plain = client.post("/feedback", content=orjson.dumps(label), headers={"content-type": "text/plain"})
        assert plain.status_code == 415, plain.text
        assert plain.json()["error"] == "feedback must be sent as application/json, not text/plain"
        unknown = client.post("/feedback", json={"request_id": "made-up", "label": True})
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["error"] == (
            "1 of 1 labels name a request this service did not answer: 'made-up'"
        )
        forged = client.post("/feedback", json={"request_id": answered[:-1] + "x", "label": True})
        assert forged.status_code == 422, forged.text
        huge = client.post("/feedback", json={"request_id": answered, "label": "x" * 5_000})
        assert huge.status_code == 400 and "5,000 characters" in huge.json()["error"]
        accepted = client.post("/feedback", json=label)
        assert accepted.status_code == 200 and accepted.json() == {"accepted": 1}
        statuses = [client.post("/feedback", json=label).status_code for _ in range(300)]
    assert set(statuses) <= {200, 429} and 429 in statuses, set(statuses)
    _good(server)


def test_serving_off_loopback_needs_tokens(project: Path) -> None:
    result = cli_result(project, "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 2, result.output
    assert "--host 0.0.0.0 lets other machines reach the service" in result.output
    assert "TAXIWAY_PREDICT_TOKEN" in result.output


def test_tokens_guard_predicting_and_feedback(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXIWAY_PREDICT_TOKEN", "predict-secret")
    monkeypatch.setenv("TAXIWAY_FEEDBACK_TOKEN", "feedback-secret")
    with running_server(project, log_dir=tmp_path) as server, server.client() as client:
        bare = client.post("/predict", json={"row": ROW})
        assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
        assert bare.json()["error"] == "this server needs a bearer token to predict"
        wrong = client.post(
            "/predict", json={"row": ROW}, headers={"authorization": "Bearer feedback-secret"}
        )
        assert wrong.status_code == 401
        good = client.post("/predict", json={"row": ROW}, headers={"authorization": "Bearer predict-secret"})
        assert good.status_code == 200, good.text
        label = {"request_id": good.json()["request_id"], "label": True}
        refused = client.post("/feedback", json=label, headers={"authorization": "Bearer predict-secret"})
        assert refused.status_code == 401
        taken = client.post("/feedback", json=label, headers={"authorization": "Bearer feedback-secret"})
        assert taken.status_code == 200, taken.text
        assert client.get("/health").status_code == 200  # load balancers need no token
