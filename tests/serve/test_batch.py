"""`taxiway predict`: a file through the same contract, fallback and prediction log as a request."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.registry import load_model_version
from taxiway.serve.prediction_log import log_root, read_prediction_logs
from tests.serve.server import ROW, deployed_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "batch")


def _predict(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--project", str(root), "predict", *args])
    return result.exit_code, result.output


def test_a_file_is_answered_row_by_row_with_fallback_and_errors(project: Path, tmp_path: Path) -> None:
    rows = pd.DataFrame([ROW, {**ROW, "dewp": 620.0}, {**ROW, "month": "june"}, {**ROW, "hour": 5}])
    rows.to_csv(tmp_path / "in.csv", index=False)
    code, output = _predict(project, "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet"))
    assert code == 1, output  # one row broke the contract
    answers = pd.read_parquet(tmp_path / "out.parquet")
    assert len(answers) == 4
    assert answers["fallback"].isna().tolist() == [True, False, True, True]  # null: the model answered
    assert answers["fallback"][1] == "out_of_range:dewp"
    assert answers["error"].isna().tolist() == [True, True, False, True]
    assert "month" in answers["error"][2] and pd.isna(answers["prediction"][2])
    model = load_model_version(Project.load(project).store, "v1", root=project)
    valid = rows.drop(index=2).astype({"month": int})
    expected = model.predict(valid[list(model.feature_names_in_)]).tolist()
    assert answers["prediction"][[0, 3]].tolist() == [expected[0], expected[2]]
    assert "3 of 4 rows" in output and "out_of_range:dewp 1" in output


def test_answers_are_logged_as_batch_predictions(project: Path, tmp_path: Path) -> None:
    pd.DataFrame([ROW] * 7).to_csv(tmp_path / "seven.csv", index=False)
    before = len(read_prediction_logs(log_root(Project.load(project).store)))
    code, output = _predict(
        project, "-i", str(tmp_path / "seven.csv"), "-o", str(tmp_path / "o.csv"), "-f", "json"
    )
    assert code == 0, output
    assert json.loads(output)["logged"] == 7
    logs = read_prediction_logs(log_root(Project.load(project).store))
    assert len(logs) == before + 7
    assert set(logs["role"].tail(7)) == {"batch"}


def test_bad_input_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    code, output = _predict(project, "-i", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and "error:" in output and "Traceback" not in output
    pd.DataFrame([ROW]).to_csv(tmp_path / "one.csv", index=False)
    code, output = _predict(project, "-i", str(tmp_path / "one.csv"), "-o", str(tmp_path / "o.txt"))
    assert code == 2 and "unknown format" in output
    code, output = _predict(
        project, "-i", str(tmp_path / "one.csv"), "-o", str(tmp_path / "o.csv"), "--version", "v9"
    )
    assert code == 2 and "v9" in output
