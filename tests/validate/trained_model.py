"""One small trained weather project, built once per session and copied by the behaviour and explain tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxiway.charter import render_charter
from taxiway.cli import app
from taxiway.project import PROJECT_ENV
from taxiway.scaffold.write import write_scaffold
from tests.backend import copy_project, pin_store
from tests.train.test_train_cli import weather_rows

_BUILT: dict[str, Path] = {}


def trained_copy(factory: pytest.TempPathFactory, destination: Path) -> Path:
    """A copy, in ``destination``, of a weather project whose baselines and starter candidate are trained."""
    if "root" not in _BUILT:
        _BUILT["root"] = _build(factory.mktemp("trained-model") / "weather")
    return copy_project(_BUILT["root"], destination)


def trained_project(root: Path, *, store_uri: str) -> Path:
    """A weather project built in ``root`` (not copied) whose store is the database at ``store_uri``."""
    return _build(root, store_uri=store_uri)


def _build(root: Path, *, store_uri: str | None = None) -> Path:
    root.mkdir(parents=True)
    text = render_charter(
        name="weather", task="classification", target="warm", answers={"problem.ranking_metric": "log_loss"}
    )
    (root / "taxiway.toml").write_text(text, encoding="utf-8")
    pin_store(root, store_uri)  # on PostgreSQL: its own database, which each copy copies
    weather_rows(1_500).to_csv(root / "weather.csv", index=False)
    write_scaffold(root, name="weather", task="classification")
    runner = CliRunner()
    saved = os.environ.get(PROJECT_ENV)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("TAXIWAY_STORE_URI", "TAXIWAY_ARTIFACTS_URI", "CI"):
            patch.delenv(name, raising=False)
        try:
            for args in (["data", "add", str(root / "weather.csv")], ["train"]):
                result = runner.invoke(app, ["--project", str(root), *args])
                assert result.exit_code in (0, 1), result.output
        finally:  # `--project` sets $TAXIWAY_PROJECT in this process: other tests must not see it
            if saved is None:
                os.environ.pop(PROJECT_ENV, None)
            else:
                os.environ[PROJECT_ENV] = saved
    return root
