"""`taxiway predict --dask`: a Parquet dataset answered on a real Dask cluster (a LocalCluster of worker
processes on 127.0.0.1), row for row as `taxiway predict` answers it on one machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.serve.prediction_log import log_root, read_prediction_logs
from tests.serve.server import ROW, deployed_project

FILES, ROWS_PER_FILE, ROW_GROUP_ROWS = 3, 10_000, 4_000


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "dask")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """Two worker processes and a scheduler on 127.0.0.1; yields the scheduler's address."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        # a free port: None still binds the default 8787, which another suite on the machine may hold
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield str(cluster.scheduler_address)


def _rows(project: Path, n: int, seed: int) -> pd.DataFrame:
    """Real rows of the project's data, with some that fall back and some that break the contract."""
    frame = pd.read_csv(project / "weather.csv").drop(columns=["warm"])
    rows = frame.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
    rows.loc[rows.index % 97 == 0, "dewp"] = 620.0  # out of the training range: the fallback answers
    rows["hour"] = rows["hour"].astype(object)
    rows.loc[rows.index % 211 == 0, "hour"] = "noon"  # not a number: refused with an error
    return rows


def _predict(project: Path, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["--project", str(project), "predict", *args, "--format", "json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else result.output


def test_a_parquet_dataset_is_answered_on_the_cluster_as_on_one_machine(
    project: Path, dask_cluster: str, tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    parts = [_rows(project, ROWS_PER_FILE, seed) for seed in range(FILES)]
    for index, part in enumerate(parts):
        part.astype({"hour": str}).to_parquet(
            dataset / f"part-{index}.parquet", row_group_size=ROW_GROUP_ROWS
        )
    whole = pd.concat(parts, ignore_index=True).astype({"hour": str})
    whole.to_parquet(tmp_path / "whole.parquet")
    logs = log_root(Project.load(project).store)
    before = len(read_prediction_logs(logs))

    code, on_cluster = _predict(
        project, "-i", str(dataset), "-o", str(tmp_path / "cluster.parquet"), "--dask", dask_cluster
    )
    assert code == 1, on_cluster  # some rows broke the contract
    code, here = _predict(
        project, "-i", str(tmp_path / "whole.parquet"), "-o", str(tmp_path / "here.parquet")
    )
    assert code == 1, here

    total = FILES * ROWS_PER_FILE
    assert on_cluster["rows"] == here["rows"] == total
    assert on_cluster["refused"] == here["refused"] > 0
    assert on_cluster["fallbacks"] == here["fallbacks"] and on_cluster["fallbacks"]["out_of_range:dewp"] > 0
    cluster = pd.read_parquet(tmp_path / "cluster.parquet")
    local = pd.read_parquet(tmp_path / "here.parquet")
    pd.testing.assert_frame_equal(cluster, local)

    logged = read_prediction_logs(logs)
    assert (
        on_cluster["logged"] == on_cluster["answered"] and len(logged) == before + 2 * on_cluster["answered"]
    )
    writers = {replica for replica in logged["replica_id"] if replica.startswith("dask:")}
    assert len(writers) >= FILES, "each task logged under its own name"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("rows.csv", "origin,hour\nEWR,1\n", "--dask reads Parquet"),
        ("missing.parquet", None, "does not exist"),
    ],
)
def test_input_dask_cannot_read_is_refused_before_any_work(
    project: Path, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content)
    code, output = _predict(
        project, "-i", str(source), "-o", str(tmp_path / "out.parquet"), "--dask", "tcp://127.0.0.1:9"
    )
    assert code == 2 and message in output and "Traceback" not in output
    assert not (tmp_path / "out.parquet").exists()


def test_small_files_answer_into_a_csv_without_logging(
    project: Path, dask_cluster: str, tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    pd.DataFrame([ROW] * 5).to_parquet(dataset / "a.parquet")
    pd.DataFrame([{**ROW, "month": 13}] * 3).to_parquet(dataset / "b.parquet")
    code, report = _predict(
        project, "-i", str(dataset), "-o", str(tmp_path / "out.csv"), "--dask", dask_cluster, "--no-log"
    )
    assert code in (0, 1), report
    assert report["rows"] == 8 and report["logged"] == 0
    assert len(pd.read_csv(tmp_path / "out.csv")) == 8
