"""`taxiway demo --quick` end to end, as a real process, on the packaged flights data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from taxiway.demo.flights import KNOWN_AFTER_DEPARTURE, TARGET, flights_frame

TAXIWAY = str(Path(sys.executable).parent / "taxiway")


def test_flights_have_the_target_and_no_column_known_only_after_departure() -> None:
    frame = flights_frame(rows=2_000)
    assert len(frame) == 2_000
    assert set(frame[TARGET].unique()) == {0, 1}
    assert not set(KNOWN_AFTER_DEPARTURE) & set(frame.columns)
    assert {"time_hour", "carrier", "tailnum"} <= set(frame.columns)
    assert frame["time_hour"].is_monotonic_increasing
    assert frame.equals(flights_frame(rows=2_000)), "the sample is reproducible"


@pytest.mark.one_backend  # the laptop setup: the demo makes its own SQLite project whatever the backend
def test_quick_demo_builds_a_project_and_prints_the_checklist(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    env = {"PATH": str(Path(sys.executable).parent), "NO_COLOR": "1", "HOME": str(tmp_path)}
    run = subprocess.run(
        [TAXIWAY, "demo", "--quick", "--dir", str(root)], capture_output=True, text=True, timeout=600, env=env
    )
    assert run.returncode == 0, run.stderr
    assert "ML Test Score" in run.stdout and "what the demo did" in run.stdout
    assert f"taxiway ui --project {root}" in run.stdout and "http://127.0.0.1:8765/" in run.stdout
    assert "20,000 rows" in run.stdout
    assert (root / "taxiway.toml").is_file() and (root / "checklist.md").is_file()
    assert len(pd.read_parquet(root / "data" / "flights.parquet")) == 20_000

    check = subprocess.run(
        [TAXIWAY, "--project", str(root), "check", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    report = json.loads(check.stdout)
    states = {item["id"]: item["state"] for section in report["sections"] for item in section["items"]}
    assert all(
        state == "answered"
        for item_id, state in states.items()
        if item_id.startswith(("project.", "problem."))
    ), states
    assert states["data.storage_plan"] == "proven"
    assert "Gates for run" in run.stdout and "model version    v1 (production" in run.stdout
    models = subprocess.run(
        [TAXIWAY, "--project", str(root), "models", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    registry = json.loads(models.stdout)
    # v2 is the best baseline, registered to be shadowed, promoted and rolled back: production is v1 again.
    assert sorted(v["name"] for v in registry["versions"]) == ["v1", "v2"] and registry["aliases"] == {
        "production": "v1"
    }
    version = next(v for v in registry["versions"] if v["name"] == "v1")
    assert version["blessed"] or version["reason"].startswith("demo: ")
    assert states["deployment.validation_tests"] in ("proven", "failed")
    assert "7. serving" in run.stdout and "taxiway serve is up at http://127.0.0.1:" in run.stdout
    assert "refused 2 × 422" in run.stdout, run.stdout  # the broken rows the demo sends (1 in 100)
    assert "out_of_range 4" in run.stdout  # and the out-of-range rows (1 in 50), answered by the fallback
    assert "rollback: generation" in run.stdout and "now answering: v1" in run.stdout
    for item in ("deployment.blue_green", "deployment.shadow", "deployment.fallback"):
        assert states[item] == "proven", (item, states[item])

    again = subprocess.run(
        [TAXIWAY, "demo", "--quick", "--dir", str(root)], capture_output=True, text=True, timeout=600, env=env
    )
    assert again.returncode == 0, again.stderr
    assert "already stored (same content)" in again.stdout
    listed = subprocess.run(
        [TAXIWAY, "--project", str(root), "data", "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert len(json.loads(listed.stdout)["versions"]) == 1
