"""`taxiway serve` as a process: several workers, TCP_NODELAY, micro-batching, batch prediction from files."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.serve.logs import read_predictions
from taxiway.store.checks import Check
from tests.serve.conftest import RunningServer, request_rows, weather_rows

NAGLE_DELAY_S = 0.040  # Linux's delayed ACK: what every keep-alive answer waited with Nagle on (issue #3149)


def _metric(url: str, name: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(name)
    }


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_two_workers_answer_keep_alive_requests_without_the_delayed_ack_wait(
    trained_weather: Path, start_server: Callable[..., RunningServer], loop: str
) -> None:
    # uvloop turns TCP_NODELAY on by itself; asyncio only when the listener says IPPROTO_TCP (issue #3149)
    server = start_server(trained_weather, "--no-log", "--no-telemetry", "--loop", loop, workers=2)
    pauses = []
    with httpx.Client(base_url=server.url) as client:  # one keep-alive connection: the case Nagle delayed
        for _ in range(30):
            assert client.post("/predict", json={"rows": request_rows(1)}).status_code == 200
        for _ in range(40):
            started = time.perf_counter()
            assert client.get("/ping").status_code == 200
            pauses.append(time.perf_counter() - started)
    assert statistics.median(pauses) < NAGLE_DELAY_S / 4, pauses
    # Both workers answer for all in /metrics (prometheus_client's multiprocess mode).
    memory = _metric(server.url, "taxiway_process_resident_memory_bytes")
    assert len(memory) == 2 and all(value > 10e6 for value in memory.values()), memory
    requests = _metric(server.url, "taxiway_requests_total")
    assert sum(requests.values()) == 30


def test_concurrent_single_rows_are_micro_batched(
    trained_weather: Path, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(trained_weather, "--no-log", "--no-telemetry")
    rows = request_rows(64)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=64)) as client:
            answers = await asyncio.gather(*(client.post("/predict", json={"rows": [row]}) for row in rows))
        return [answer.status_code for answer in answers]

    assert asyncio.run(burst()) == [200] * 64
    batches = _metric(server.url, "taxiway_batch_rows")
    calls = next(value for key, value in batches.items() if key.startswith("taxiway_batch_rows_count"))
    answered = next(value for key, value in batches.items() if key.startswith("taxiway_batch_rows_sum"))
    assert answered == 64 and calls < 64, batches


def test_predict_writes_answers_for_a_file_through_validation_fallback_and_the_log(
    weather_project: Path, runner: CliRunner
) -> None:
    frame = weather_rows().iloc[:40].copy()  # the target column is still there: batch files often have it
    frame.loc[3, "humid"] = 400.0
    frame["month"] = frame["month"].astype(object)
    frame.loc[5, "month"] = "June"
    source, target = weather_project / "in.csv", weather_project / "out.parquet"
    frame.to_csv(source, index=False)
    result = runner.invoke(
        app,
        [
            "--project",
            str(weather_project),
            "predict",
            "--input",
            str(source),
            "--output",
            str(target),
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 1, result.output  # one row was rejected
    report = json.loads(result.stdout)
    assert report["rows"] == 40 and report["rejected"] == 1 and report["fallbacks"]["out_of_range"] == 1
    answers = pd.read_parquet(target)
    assert answers.loc[5, "errors"] == "month: 'June' is not an integer" and pd.isna(
        answers.loc[5, "prediction"]
    )
    assert answers.loc[3, "fallback"] == "out_of_range" and answers.loc[3, "answered_by"] == "linear"
    assert {"row", "prediction", "confidence", "proba_0", "proba_1", "fallback", "answered_by"} <= set(
        answers
    )
    project = Project.load(weather_project)
    logged = read_predictions(project.store)
    assert len(logged) == 40 and set(logged["role"]) == {"batch"}
    evidence = project.store.evidence.latest([Check.SERVE_FALLBACK])[Check.SERVE_FALLBACK]
    assert evidence.details["mode"] == "batch" and evidence.details["fallbacks"]["out_of_range"] == 1
    project.store.close()


def test_predict_refuses_an_output_it_cannot_write(weather_project: Path, runner: CliRunner) -> None:
    source = weather_project / "weather.csv"
    result = runner.invoke(
        app,
        [
            "--project",
            str(weather_project),
            "predict",
            "-i",
            str(source),
            "-o",
            str(weather_project / "x.xlsx"),
        ],
    )
    assert result.exit_code == 2 and "name it .csv or .parquet" in result.output
