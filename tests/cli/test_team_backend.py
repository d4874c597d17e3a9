"""A team setup is a change of URIs, not of code: the same commands on PostgreSQL and another folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from taxiway.cli import app

# About where the store is chosen (environment, charter, default): the tests set the URIs themselves.
pytestmark = pytest.mark.one_backend


def test_environment_uris_move_the_store_to_postgresql(
    runner: CliRunner, project_dir: Path, postgres_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_artifacts = tmp_path / "team-artifacts"
    monkeypatch.setenv("TAXIWAY_STORE_URI", postgres_uri)
    monkeypatch.setenv("TAXIWAY_ARTIFACTS_URI", str(shared_artifacts))
    data = project_dir / "rows.csv"
    pd.DataFrame({"x": [1, 2, 3], "label": [0, 1, 0]}).to_csv(data, index=False)

    added = runner.invoke(app, ["--project", str(project_dir), "data", "add", str(data), "--format", "json"])
    assert added.exit_code == 0, added.output
    version = json.loads(added.stdout)["version"]["id"]

    assert not (project_dir / ".taxiway").exists(), "nothing was written to the laptop default"
    assert any(shared_artifacts.rglob(version))
    engine = create_engine(postgres_uri)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM dataset_versions")).scalar_one() == version
    engine.dispose()


def test_charter_store_section_is_used_and_the_environment_beats_it(
    runner: CliRunner, project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    charter = project_dir / "taxiway.toml"
    store_keys = f'[store]\nuri = "sqlite:///{tmp_path}/from-charter.db"\nartifacts = "{tmp_path}/a"\n'
    charter.write_text(charter.read_text().replace("[store]\n", store_keys))
    assert runner.invoke(app, ["--project", str(project_dir), "check"]).exit_code == 0
    assert (tmp_path / "from-charter.db").is_file()
    monkeypatch.setenv("TAXIWAY_STORE_URI", f"sqlite:///{tmp_path}/from-env.db")
    assert runner.invoke(app, ["--project", str(project_dir), "check"]).exit_code == 0
    assert (tmp_path / "from-env.db").is_file()


def test_a_bad_store_uri_in_the_charter_is_a_clear_error(runner: CliRunner, project_dir: Path) -> None:
    charter = project_dir / "taxiway.toml"
    charter.write_text(charter.read_text().replace("[store]\n", '[store]\nuri = "mongodb://x/y"\n'))
    result = runner.invoke(app, ["--project", str(project_dir), "check"])
    assert result.exit_code == 2
    assert "unknown scheme 'mongodb'" in result.output
    assert "hint: use sqlite:///" in result.output
