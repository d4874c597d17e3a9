"""Drills: hostile requests and slow clients against a real two-worker `taxiway serve`, over real sockets.

Each drill asserts the exact answer, and that good requests are still answered while (and after) the
hostile ones are refused. Nothing here waits on a clock reading: sockets are read until the server acts.
"""

from __future__ import annotations

import resource
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
PARTIAL_HEADER_SOCKETS = 1_000
TRICKLING_SOCKETS = 100
TRICKLE_S = 2.0  # a byte every this many seconds
GOOD_LATENCY_BUDGET_S = 10.0  # the server's --timeout: any longer would have been a 408
FILES_NEEDED = 4_096  # open files of the test process (and so of the server it starts): 1,100 sockets each
MEMORY_BUDGET_BYTES = 300 * 1024 * 1024  # what the hostile corpus may add to the server's processes


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "drills-hostile")


def _raise_open_files_limit() -> None:
    """Room for the slow-client drill's sockets; the server started next inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FILES_NEEDED if hard == resource.RLIM_INFINITY else min(FILES_NEEDED, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 2 * (PARTIAL_HEADER_SOCKETS + TRICKLING_SOCKETS)


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("drills-hostile-logs")
    _raise_open_files_limit()
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


def _slow_socket(server: Server, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=120)
    sock.sendall(first_bytes)
    return sock


def _trickle(sockets: list[socket.socket], body: bytes, stop: threading.Event) -> None:
    """One byte of ``body`` to every socket every TRICKLE_S seconds, until the server hangs up on each."""
    open_ones = list(sockets)
    for byte in body:
        if not open_ones or stop.wait(TRICKLE_S):
            return
        still = []
        for sock in open_ones:
            try:
                sock.sendall(bytes([byte]))
                still.append(sock)
            except OSError:  # the server closed it
                pass
        open_ones = still


def test_a_thousand_slow_clients_are_cut_off_while_good_requests_are_answered(server: Server) -> None:
    """The issue's scale: 1,000 sockets stuck in their headers and 100 sending a body at one byte every
    2 s; before, they stayed open as long as they liked."""
    body = orjson.dumps({"row": ROW})
    headers = (
        b"POST /predict HTTP/1.1\r\nhost: drill\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )
    stop = threading.Event()
    sockets: list[socket.socket] = []
    try:
        with Traffic(server, threads=2, prefix="beside-slow") as traffic:
            traffic.wait_for(10)
            attack_began = time.monotonic()
            stuck = [
                _slow_socket(server, b"POST /predict HTTP/1.1\r\nhost: drill\r\ncontent-type: appl")
                for _ in range(PARTIAL_HEADER_SOCKETS)
            ]
            sockets += stuck
            trickling = [_slow_socket(server, headers) for _ in range(TRICKLING_SOCKETS)]
            sockets += trickling
            sender = threading.Thread(target=_trickle, args=(trickling, body, stop), daemon=True)
            sender.start()
            traffic.wait_for(20, sent_after=time.monotonic())  # answered during the attack
            answers = [_read_until_closed(sock) for sock in sockets]  # EOF: the server closed each
            traffic.wait_for(10, sent_after=time.monotonic())
        stop.set()
        sender.join(timeout=30)
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert b"did not arrive within 3 s" in answer
    during = [a for a in traffic.answered if a.sent >= attack_began]
    assert len(during) >= 30
    assert all(a.status == 200 for a in traffic.answered), {(a.status, a.error) for a in traffic.answered}
    # A latency budget loose enough for a loaded machine: the 1,100 sockets must not stall anyone.
    assert max(a.done - a.sent for a in during) < GOOD_LATENCY_BUDGET_S
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
