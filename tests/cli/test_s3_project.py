"""A project whose artifacts and prediction logs live on S3 (a real S3 API server: moto's server mode).

The whole path on the URI alone: data, models and logs go to the bucket, and nothing to the laptop's
``.taxiway/artifacts``; the model loads back verified; `taxiway logs` reads the Parquet logs where they lie;
compaction runs on the bucket; and a model changed in the bucket is refused. In the PostgreSQL pass the
metadata is in PostgreSQL too: the team setup of docs/design.md.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import s3fs
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.train.runs import list_runs
from tests.s3 import S3Server
from tests.serve.server import ROW
from tests.train.test_train_cli import weather_rows


def _cli(runner: CliRunner, root: Path, *args: str) -> Any:
    result = runner.invoke(app, ["--project", str(root), *args])
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout) if "--format" in args else result.output


def test_artifacts_and_prediction_logs_live_in_the_bucket(
    runner: CliRunner,
    make_project: Any,
    tmp_path: Path,
    s3_bucket: str,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAXIWAY_ARTIFACTS_URI", f"{s3_bucket}/team")
    root = make_project(tmp_path / "weather", target="warm")
    weather_rows(600).to_csv(root / "weather.csv", index=False)
    _cli(runner, root, "data", "add", str(root / "weather.csv"))
    trained = runner.invoke(app, ["--project", str(root), "train"])
    assert trained.exit_code in (0, 1), trained.output
    candidate = next(run for run in list_runs(Project.load(root).store) if run.kind == "candidate")
    _cli(runner, root, "register", candidate.id, "--force", "--reason", "s3 test")
    _cli(runner, root, "deploy", "v1", "--force", "--reason", "s3 test", "--no-wait")

    fs = s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=s3_server.url)
    bucket = s3_bucket.removeprefix("s3://")
    blobs = fs.find(f"{bucket}/team/sha256")
    assert candidate.model_artifact is not None
    assert any(path.endswith(candidate.model_artifact) for path in blobs), "the model is an object"
    assert not (root / ".taxiway" / "artifacts").exists(), "nothing was written to the laptop default"

    pd.DataFrame([ROW, {**ROW, "hour": 14}, {**ROW, "dewp": 620.0}]).to_csv(tmp_path / "in.csv", index=False)
    answered = _cli(
        runner,
        root,
        "predict",
        "-i",
        str(tmp_path / "in.csv"),
        "-o",
        str(tmp_path / "out.csv"),
        "--format",
        "json",
    )
    assert answered["logged"] == 3 and answered["answered"] == 3
    logs = [path for path in fs.find(f"{bucket}/team/prediction-logs") if path.endswith(".parquet")]
    assert len(logs) == 1, "one flush, one object"
    shown = _cli(runner, root, "logs", "show", "--format", "json")
    assert shown["count"] == 3 and {row["role"] for row in shown["rows"]} == {"batch"}
    outputs = pd.read_csv(tmp_path / "out.csv")["prediction"].astype(str).tolist()
    assert sorted(row["output"].strip('"') for row in shown["rows"]) == sorted(outputs)

    _cli(runner, root, "predict", "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "again.csv"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    compacted = _cli(runner, root, "logs", "compact", "--day", today, "--format", "json")
    assert compacted["merged_files"] == 2, compacted
    fs.invalidate_cache()
    logs = [path for path in fs.find(f"{bucket}/team/prediction-logs") if path.endswith(".parquet")]
    assert len(logs) == 1 and logs[0].rsplit("/", 1)[-1].startswith("compacted-")
    assert _cli(runner, root, "logs", "show", "--format", "json")["count"] == 6

    # The model object changed in the bucket: serving it is refused, with the reason.
    model_key = next(path for path in blobs if path.endswith(candidate.model_artifact))
    fs.pipe(model_key, b"not the model that was trained")
    refused = runner.invoke(
        app,
        ["--project", str(root), "predict", "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "x.csv")],
    )
    assert refused.exit_code == 2, refused.output
    assert "was changed after it was written" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "x.csv").exists()
