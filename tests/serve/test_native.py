"""The native protocol end to end: real `taxiway serve` processes, a real HTTP client, no mocks (issue 7).

Three servers share one trained project, started together: ``main`` (one worker, default limits),
``limited`` (tight body, row and time limits) and ``two`` (two workers). The project's charter asks for
``serving.min_confidence = 0.99``, so every server also falls back on rows the model is unsure of.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from taxiway.data.schema import SCHEMA_FILE, load_schema
from taxiway.project import Project
from taxiway.registry import load_model_version
from taxiway.serve.prediction_log import read_prediction_logs
from taxiway.store.tables import FeedbackRow
from tests.serve.server import (
    ROW,
    Server,
    deployed_project,
    start_server,
    stop_server,
    wait_for_workers,
    wait_ready,
)

MIN_CONFIDENCE = 0.99
FALLBACK_REASONS = ("out_of_range:", "unseen_category:", "missing:", "low_confidence", "likely_wrong")
# Nagle's algorithm with a delayed ACK holds each small response ~40 ms; an answer without the model ~2 ms.
NODELAY_MEDIAN_MS = 20.0
Labels = frozenset[tuple[str, str]]
CONFIDENCE_COUNT = (
    "taxiway_prediction_confidence_count",
    frozenset({"version": "v1", "role": "live"}.items()),
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = deployed_project(tmp_path_factory, "native")
    charter = root / "taxiway.toml"
    text = charter.read_text(encoding="utf-8")
    assert text.count("\n[serving]\n") == 1, text
    charter.write_text(
        text.replace("\n[serving]\n", f"\n[serving]\nmin_confidence = {MIN_CONFIDENCE}\n"), encoding="utf-8"
    )
    assert Project.load(root).charter.serving.min_confidence == MIN_CONFIDENCE
    return root


SERVERS = {  # name: `taxiway serve` options
    "main": (),
    "limited": ("--max-body-mb", "2", "--max-rows", "5000", "--timeout", "0.01"),
    "two": ("--workers", "2"),
}


@pytest.fixture(scope="module")
def started(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """All the module's servers, started at once so they load their models side by side."""
    logs = tmp_path_factory.mktemp("native-logs")
    servers: dict[str, Server] = {}
    try:
        for name, args in SERVERS.items():
            servers[name] = start_server(project, *args, log_dir=logs)
        yield servers
    finally:
        for server in servers.values():
            stop_server(server)


def _ready(started: dict[str, Server], name: str) -> Server:
    # Each server is waited for by the tests that use it: one that never gets ready fails only those.
    wait_ready(started[name])
    return started[name]


@pytest.fixture(scope="module")
def main(started: dict[str, Server]) -> Server:
    return _ready(started, "main")


@pytest.fixture(scope="module")
def limited(started: dict[str, Server]) -> Server:
    return _ready(started, "limited")


@pytest.fixture(scope="module")
def two(started: dict[str, Server], project: Path) -> Server:
    server = _ready(started, "two")
    wait_for_workers(project, server, 2)
    return server


@pytest.fixture(scope="module")
def rows(project: Path) -> pd.DataFrame:
    """Real rows of the project's data (its features, in the file's order), typed as in the schema."""
    return _typed(pd.read_csv(project / "weather.csv").drop(columns=["warm"]), project)


@pytest.fixture(scope="module")
def offline(project: Path) -> dict[str, Any]:
    """v1 (the model) and v2 (the linear baseline, v1's fallback) loaded as `taxiway.registry` loads them."""
    store = Project.load(project).store
    return {name: load_model_version(store, name, root=project) for name in ("v1", "v2")}


def _typed(frame: pd.DataFrame, project: Path) -> pd.DataFrame:
    schema = load_schema(project / SCHEMA_FILE)
    kinds = {"integer": "int64", "float": "float64"}
    return frame.astype(
        {
            name: kinds[spec.type]
            for name, spec in schema.columns.items()
            if name in frame and spec.type in kinds
        }
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client sends them: plain JSON values, null for missing."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")  # type: ignore[return-value]


def _model_says(model: Any, frame: pd.DataFrame) -> tuple[list[Any], np.ndarray]:
    inputs = frame[list(model.feature_names_in_)]
    return model.predict(inputs).tolist(), np.asarray(model.predict_proba(inputs), dtype=float)


def _check_answer(body: dict[str, Any], frame: pd.DataFrame, offline: dict[str, Any]) -> None:
    """The answer to ``frame``'s rows is v1's own, or where a fallback answered, v2's (the best baseline)."""
    predicted, proba = _model_says(offline["v1"], frame)
    fallback_predicted, _ = _model_says(offline["v2"], frame)
    assert body["model"] == {"version": "v1", "role": "live", "slot": "blue"}
    assert body["classes"] == offline["v1"].classes_.tolist()
    assert len(body["predictions"]) == len(body["confidence"]) == len(body["fallback"]) == len(frame)
    np.testing.assert_allclose(np.asarray(body["probabilities"]), proba, rtol=0, atol=1e-9)
    np.testing.assert_allclose(body["confidence"], proba.max(axis=1), rtol=0, atol=1e-9)
    for position, fallback in enumerate(body["fallback"]):
        if fallback["used"]:
            assert fallback["answered_by"] == "baseline", fallback
            assert fallback["reason"].startswith(FALLBACK_REASONS), fallback
            assert body["predictions"][position] == fallback_predicted[position], (position, fallback)
        else:
            assert fallback == {"used": False}
            assert body["predictions"][position] == predicted[position], position
            assert body["confidence"][position] >= MIN_CONFIDENCE, position


# ---- /predict ------------------------------------------------------------------------------------------


def test_one_row_is_answered_by_v1_as_offline(main: Server, offline: dict[str, Any], project: Path) -> None:
    with main.client() as client:
        response = client.post("/predict", json={"row": ROW})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["request_id"]) >= 16 and response.headers["x-request-id"] == body["request_id"]
    assert response.headers["x-taxiway-version"] == "v1" and response.headers["x-taxiway-slot"] == "blue"
    _check_answer(body, _typed(pd.DataFrame([ROW]), project), offline)
    assert body["fallback"] == [{"used": False}], "ROW is an ordinary row the model is sure of"


def test_many_rows_are_answered_in_order_as_offline(
    main: Server, offline: dict[str, Any], rows: pd.DataFrame
) -> None:
    frame = rows.iloc[:60].reset_index(drop=True)
    with main.client() as client:
        response = client.post("/predict", json={"rows": _records(frame)}, headers={"x-request-id": "many-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == "many-1" == response.headers["x-request-id"]
    _check_answer(body, frame, offline)
    assert any(not f["used"] for f in body["fallback"]), "the model itself answers most real rows"


# ---- bad input: 422 per field, 400 unreadable, 413 / 408 limits; never 500 ----------------------------

_BAD_ROWS: dict[str, tuple[dict[str, Any], str, str]] = {  # row, field named, kind of problem
    "wrong type": ({**ROW, "month": "June"}, "month", "wrong_type"),
    "number as bool": ({**ROW, "hour": True}, "hour", "wrong_type"),
    "missing column": ({k: v for k, v in ROW.items() if k != "wind_speed"}, "wind_speed", "missing_column"),
    "unknown column": ({**ROW, "runway": "4L"}, "runway", "unexpected_column"),
    "null where forbidden": ({**ROW, "dewp": None}, "dewp", "null"),
    "NaN": ({**ROW, "dewp": float("nan")}, "dewp", ""),
    "infinity": ({**ROW, "humid": float("inf")}, "humid", ""),
    "minus infinity": ({**ROW, "pressure": float("-inf")}, "pressure", ""),
    "infinity as text": ({**ROW, "humid": "inf"}, "humid", "wrong_type"),
    "nested object": ({**ROW, "dewp": {"value": 62.0}}, "dewp", "wrong_type"),
    "nested list": ({**ROW, "origin": ["EWR"]}, "origin", "wrong_type"),
}


@pytest.mark.parametrize("case", list(_BAD_ROWS))
def test_a_row_breaking_the_schema_gets_422_naming_the_field(main: Server, case: str) -> None:
    bad, field, kind = _BAD_ROWS[case]
    with main.client() as client:  # alone, and as the third row of three (one batch, one table)
        alone, among = (
            # Python's json writes NaN and Infinity as the tokens NaN / Infinity, as many clients do.
            client.post("/predict", content=json.dumps(body), headers={"content-type": "application/json"})
            for body in ({"row": bad}, {"rows": [ROW, ROW, bad]})
        )
    for response, position, count in ((alone, 0, 1), (among, 2, 3)):
        assert response.status_code == 422, (count, response.text)
        answer = response.json()
        assert answer["error"] == f"1 of {count} rows do not match the model's input schema"
        assert answer["hint"]
        assert [(d["row"], d["field"]) for d in answer["detail"]] == [(position, field)], answer
        assert answer["detail"][0]["message"].startswith(f"{field}: "), answer
    if kind:
        assert alone.json()["detail"][0]["kind"] == kind, alone.json()


def test_every_bad_field_of_every_row_is_listed(main: Server) -> None:
    rows = [{**ROW, "month": "x", "dewp": None}, ROW, {**ROW, "extra": 1}]
    with main.client() as client:
        response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 422, response.text
    named = sorted((d["row"], d["field"]) for d in response.json()["detail"])
    assert named == [(0, "dewp"), (0, "month"), (2, "extra")]


_UNREADABLE: dict[str, bytes] = {
    "malformed JSON": b'{"row": {"origin": "EWR",',
    "empty body": b"",
    "not JSON at all": b"origin=EWR&month=6",
    "a list": json.dumps([ROW]).encode(),
    "a number": b"42",
    "rows not a list": json.dumps({"rows": ROW}).encode(),
    "rows of numbers": json.dumps({"rows": [1, 2]}).encode(),
    "rows of lists": json.dumps({"rows": [list(ROW.values())]}).encode(),
    "no rows": json.dumps({"rows": []}).encode(),
    "both row and rows": json.dumps({"row": ROW, "rows": [ROW]}).encode(),
    "neither row nor rows": json.dumps({"key": "a"}).encode(),
    "unknown key": json.dumps({"row": ROW, "data": 1}).encode(),
    "key an object": json.dumps({"row": ROW, "key": {"user": 1}}).encode(),
}


@pytest.mark.parametrize("case", list(_UNREADABLE))
def test_a_body_of_the_wrong_shape_gets_400(main: Server, case: str) -> None:
    with main.client() as client:
        response = client.post(
            "/predict", content=_UNREADABLE[case], headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] and answer["hint"], answer


def test_limits_answer_413_and_408_and_the_server_carries_on(limited: Server, rows: pd.DataFrame) -> None:
    # The server runs with --max-body-mb 2 --max-rows 5000 --timeout 0.01.
    many = _records(pd.concat([rows] * 4, ignore_index=True).iloc[:5001])
    with limited.client() as client:
        too_big = client.post("/predict", json={"rows": many * 3})  # ~3 MB
        assert too_big.status_code == 413, too_big.text
        assert "bytes" in too_big.json()["error"] and "--max-body-mb" in too_big.json()["hint"]

        too_many = client.post("/predict", json={"rows": many})  # 5,001 rows, ~1 MB
        assert too_many.status_code == 413, too_many.text
        assert "5,001 rows" in too_many.json()["error"], too_many.json()

        too_slow = client.post("/predict", json={"rows": many[:5000]})  # 5,000 rows take over 10 ms
        assert too_slow.status_code == 408, too_slow.text
        assert "--timeout" in too_slow.json()["hint"]

        assert client.get("/health").status_code == 200
        metrics = _samples(client.get("/metrics").text)
    statuses = {labels["status"] for name, labels, _ in _rows(metrics, "taxiway_requests_total")}
    assert {"413", "408"} <= statuses and "500" not in statuses, statuses


# ---- fallback in the request path --------------------------------------------------------------------


def test_a_row_far_outside_the_training_range_is_answered_by_the_fallback(
    main: Server, offline: dict[str, Any], project: Path
) -> None:
    schema = load_schema(project / SCHEMA_FILE)
    highest = schema.columns["dewp"].max
    assert isinstance(highest, float)
    far = {**ROW, "dewp": 10 * highest}  # ten times the largest dew point seen
    with main.client() as client:
        response = client.post("/predict", json={"rows": [ROW, far]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fallback"] == [
        {"used": False},
        {"used": True, "reason": "out_of_range:dewp", "answered_by": "baseline"},
    ]
    _check_answer(body, _typed(pd.DataFrame([ROW, far]), project), offline)


def test_a_row_the_model_is_unsure_of_is_answered_by_the_fallback(
    main: Server, offline: dict[str, Any], rows: pd.DataFrame
) -> None:
    unsure: list[tuple[int, float, dict[str, Any]]] = []
    with main.client() as client:
        for start in range(0, len(rows), 100):
            frame = rows.iloc[start : start + 100].reset_index(drop=True)
            body = client.post("/predict", json={"rows": _records(frame)}).json()
            _check_answer(body, frame, offline)
            unsure += [
                (start + i, confidence, fallback)
                for i, (confidence, fallback) in enumerate(
                    zip(body["confidence"], body["fallback"], strict=True)
                )
                if fallback.get("reason") == "low_confidence"
            ]
            if unsure:
                break
    assert unsure, f"no row of {len(rows)} fell back for low confidence (min_confidence {MIN_CONFIDENCE})"
    for _, confidence, fallback in unsure:
        assert confidence < MIN_CONFIDENCE
        assert fallback == {"used": True, "reason": "low_confidence", "answered_by": "baseline"}


# ---- /metrics ----------------------------------------------------------------------------------------

Sample = tuple[str, dict[str, str], float]


def _samples(text: str) -> list[Sample]:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _rows(samples: list[Sample], name: str) -> list[Sample]:
    return [sample for sample in samples if sample[0] == name]


def _counts(samples: list[Sample]) -> Counter[tuple[str, Labels]]:
    """Counter and histogram-count samples by (name, labels): what grows with traffic."""
    wanted = ("taxiway_requests_total", "taxiway_fallbacks_total", "taxiway_prediction_confidence_count")
    return Counter(
        {(name, frozenset(labels.items())): value for name, labels, value in samples if name in wanted}
    )


def _grew(before: Counter[tuple[str, Labels]], after: Counter[tuple[str, Labels]]) -> dict[Any, float]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def _predict_figures(grown: dict[Any, float]) -> dict[Any, float]:
    """What grew, less the requests to other routes than /predict (the test's own /metrics scrapes)."""
    return {
        key: value
        for key, value in grown.items()
        if key[0] != "taxiway_requests_total" or ("route", "/predict") in key[1]
    }


def _predict_route(status: int, version: str = "", slot: str = "") -> tuple[str, Labels]:
    labels = {"route": "/predict", "status": str(status), "version": version, "slot": slot}
    return ("taxiway_requests_total", frozenset(labels.items()))


def _wait_for_counts(server: Server, before: Counter[Any], expected: dict[Any, float]) -> dict[Any, float]:
    """What grew on /metrics since ``before``, once it shows ``expected`` (workers publish every second)."""
    deadline = time.monotonic() + 10
    with server.client() as client:
        while True:
            grown = _grew(before, _counts(_samples(client.get("/metrics").text)))
            shown = {key: grown.get(key, 0.0) for key in expected}
            if shown == expected or time.monotonic() > deadline:
                return grown
            time.sleep(0.2)


def _send_known_traffic(clients: list[httpx.Client], rows: pd.DataFrame, *, prefix: str) -> dict[Any, float]:
    """Sends 200s, 422s and 400s, in turn on each client; returns what the metrics must add up to."""
    far = {**ROW, "dewp": 1000.0}
    bodies = [{"row": ROW}, {"rows": [ROW, far]}, {"rows": _records(rows.iloc[:40])}] * 4
    bad = [{"row": {**ROW, "month": "x"}}] * 3
    unreadable = [[ROW]] * 2
    answers: list[httpx.Response] = []
    for n, body in enumerate(bodies + bad + unreadable):
        client = clients[n % len(clients)]
        answers.append(client.post("/predict", json=body, headers={"x-request-id": f"{prefix}-{n}"}))
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: len(bodies), 422: len(bad), 400: len(unreadable)}, statuses
    answered = [answer.json() for answer in answers if answer.status_code == 200]
    reasons = Counter(f["reason"] for body in answered for f in body["fallback"] if f["used"])
    expected: dict[Any, float] = {
        _predict_route(200, "v1", "blue"): len(bodies),
        _predict_route(422): len(bad),
        _predict_route(400): len(unreadable),
        CONFIDENCE_COUNT: sum(len(body["confidence"]) for body in answered),
    }
    for reason, count in reasons.items():
        expected[("taxiway_fallbacks_total", frozenset({"version": "v1", "reason": reason}.items()))] = count
    assert reasons["out_of_range:dewp"] >= 4
    return expected


def test_metrics_count_requests_fallbacks_and_confidence(main: Server, rows: pd.DataFrame) -> None:
    with main.client() as client:
        before = _counts(_samples(client.get("/metrics").text))
        expected = _send_known_traffic([client], rows, prefix="metrics")
    assert _predict_figures(_wait_for_counts(main, before, expected)) == expected


def test_metrics_add_up_over_two_workers(two: Server, rows: pd.DataFrame, project: Path) -> None:
    # One keep-alive connection held by each worker (/health names the worker that answers it).
    by_worker: dict[str, httpx.Client] = {}
    opened: list[httpx.Client] = []
    try:
        while len(by_worker) < 2 and len(opened) < 40:
            client = two.client()
            opened.append(client)
            by_worker.setdefault(client.get("/health").json()["replica"], client)
        assert len(by_worker) == 2, f"{len(opened)} connections, all accepted by {list(by_worker)}"
        with two.client() as scraper:
            before = _counts(_samples(scraper.get("/metrics").text))
        expected = _send_known_traffic(list(by_worker.values()), rows, prefix="two-workers")
    finally:
        for client in opened:
            client.close()
    assert _predict_figures(_wait_for_counts(two, before, expected)) == expected
    # Each worker logged its share under its own replica id.
    deadline = time.monotonic() + 10
    while True:
        logs = read_prediction_logs(Project.load(project).store)
        ours = logs[logs["request_id"].str.startswith("two-workers-")]
        if len(ours) >= expected[CONFIDENCE_COUNT] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert set(ours["replica_id"]) == set(by_worker), ours["replica_id"].value_counts()


@pytest.mark.parametrize("name", ["two", "main"])
def test_nagle_is_off_in_every_worker_mode(name: str, request: pytest.FixtureRequest) -> None:
    """50 sequential POSTs on one keep-alive connection. uvicorn writes a response's headers and body
    separately; with Nagle's algorithm on, the body waits for the client's delayed ACK (~40 ms) each time.

    The body is refused before the model runs (no rows): this measures the connection, not the model,
    whose CPU time on a busy 2-core machine would hide or fake the 40 ms.
    """
    server: Server = request.getfixturevalue(name)
    latencies: list[float] = []
    with server.client() as client:
        for n in range(55):
            started = time.perf_counter()
            response = client.post("/predict", json={"rows": []})
            if n >= 5:  # the first few warm the connection and the worker up
                latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 400, response.text
        assert client.post("/predict", json={"row": ROW}).status_code == 200  # the same connection answers
    assert len(latencies) == 50
    median = statistics.median(latencies)
    assert median < NODELAY_MEDIAN_MS, f"median {median:.1f} ms over 50 keep-alive requests: {latencies}"


# ---- /feedback ---------------------------------------------------------------------------------------


def test_feedback_is_stored_by_request_id(main: Server, project: Path) -> None:
    with main.client() as client:
        one = client.post("/predict", json={"row": ROW}).json()["request_id"]
        many = client.post("/predict", json={"rows": [ROW, ROW, ROW]}).json()["request_id"]
        first = client.post("/feedback", json={"request_id": one, "label": 1})
        assert first.status_code == 200, first.text
        assert first.json() == {"accepted": 1}
        labels = [{"request_id": many, "row": row, "label": row % 2} for row in range(3)]
        second = client.post("/feedback", json={"labels": labels})
        assert second.status_code == 200, second.text
        assert second.json() == {"accepted": 3}
    store = Project.load(project).store
    with store.session() as session:
        stored = session.scalars(
            select(FeedbackRow).where(FeedbackRow.request_id.in_([one, many])).order_by(FeedbackRow.id)
        ).all()
        got = [(row.request_id, row.row, row.label, row.replica_id is not None) for row in stored]
    assert got == [(one, 0, 1, True), (many, 0, 0, True), (many, 1, 1, True), (many, 2, 0, True)]


_BAD_FEEDBACK: dict[str, bytes] = {
    "malformed JSON": b'{"request_id": "a", ',
    "empty body": b"",
    "no request id": json.dumps({"label": 1}).encode(),
    "request id not text": json.dumps({"request_id": 7, "label": 1}).encode(),
    "no label": json.dumps({"request_id": "a"}).encode(),
    "unknown key": json.dumps({"request_id": "a", "label": 1, "when": "now"}).encode(),
    "label an object": json.dumps({"request_id": "a", "label": {"warm": 1}}).encode(),
    "negative row": json.dumps({"request_id": "a", "label": 1, "row": -1}).encode(),
    "row not a number": json.dumps({"request_id": "a", "label": 1, "row": "first"}).encode(),
    "labels empty": json.dumps({"labels": []}).encode(),
    "labels not a list": json.dumps({"labels": {"request_id": "a", "label": 1}}).encode(),
    "one bad label among good": json.dumps(
        {"labels": [{"request_id": "a", "label": 1}, {"request_id": "b"}]}
    ).encode(),
    "a list": json.dumps([{"request_id": "a", "label": 1}]).encode(),
}


@pytest.mark.parametrize("case", list(_BAD_FEEDBACK))
def test_bad_feedback_gets_400_and_stores_nothing(main: Server, project: Path, case: str) -> None:
    store = Project.load(project).store
    with store.session() as session:
        before = len(session.scalars(select(FeedbackRow.id)).all())
    with main.client() as client:
        response = client.post(
            "/feedback", content=_BAD_FEEDBACK[case], headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"] and response.json()["hint"]
    with store.session() as session:
        assert len(session.scalars(select(FeedbackRow.id)).all()) == before
