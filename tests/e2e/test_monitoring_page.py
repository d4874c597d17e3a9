"""The monitoring page in Chromium: drift heat strip, confidence, quality, live limits with the outage shaded,
and the alert timeline, on a copy of the deployed project whose monitor passes are recorded by the monitor's
own writers (Judgement.record, update_alerts) into its real store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect

from taxiway.deploy.state import desired_state
from taxiway.monitor.alerts import update_alerts
from taxiway.monitor.judgement import Judgement
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from tests.backend import copy_project
from tests.e2e.conftest import Watched, _taxiway_ui
from tests.e2e.drawn_charts import traces, wait_for_charts
from tests.ui.deployed import DeployedProject

WINDOW = 60


def bucket(start: dt.datetime) -> dict[str, object]:
    """One point of the confidence over time a monitor pass records."""
    return {"start": start.isoformat(), "rows": 100, "mean": 0.8, "p10": 0.6, "p50": 0.8, "p90": 0.95}


def _passes(root: Path) -> str:
    """Three monitor passes: humid drifts in the last; estimated and realised quality; a firing alert."""
    project = Project.load(root)
    store, charter = project.store, project.charter
    live = f"v{desired_state(store).live}"
    now = dt.datetime.now(dt.UTC)
    for step, humid in enumerate((0.2, 0.5, 3.0)):
        at = now - dt.timedelta(minutes=20 - 5 * step)
        features = [
            {"column": "humid", "effect": humid * 0.01, "threshold": 0.01, "drifted": humid > 1},
            {"column": "dewp", "effect": 0.003, "threshold": 0.01, "drifted": False},
        ]
        measured = Measurement(5000, at - dt.timedelta(hours=1), at, "PSI")
        judged = [
            Judgement(Check.MONITOR_DRIFT, "deployment", live, float(humid > 1), Limit(0, "<="), measured,
                      {"features": features}),
            Judgement(Check.MONITOR_ESTIMATED_QUALITY, "deployment", live, 0.9 - step * 0.02,
                      Limit(0.85, ">=", key="monitoring.max_quality_drop"), measured, {"offline": 0.9}),
            Judgement(Check.MONITOR_ONLINE_QUALITY, "deployment", live, 0.91 - step * 0.03,
                      Limit(0.85, ">=", key="monitoring.max_quality_drop"), measured, {"offline": 0.9}),
            Judgement(Check.MONITOR_CONFIDENCE, "deployment", live, 0.002, Limit(0.01, "<="), measured,
                      {"over_time": [bucket(at - dt.timedelta(minutes=m)) for m in (30, 20, 10)]}),
        ]  # fmt: skip
        for judgement in judged:
            judgement.record(store, expires_at=at + dt.timedelta(hours=1))
        drifted = Judgement(
            Check.MONITOR_DRIFT,
            "deployment",
            live,
            humid * 0.01,
            Limit(0.01, "<="),
            measured,
            {"alert_key": "humid"},
        )
        immediate = charter.monitoring.model_copy(update={"alert_for_minutes": 0})
        update_alerts(store, charter.model_copy(update={"monitoring": immediate}), [drifted], now=at)
    store.close()
    return live


@pytest.fixture(scope="module")
def monitored(deployed: DeployedProject, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = copy_project(deployed.root, tmp_path_factory.mktemp("monitored") / "weather")
    return root, _passes(root)


def test_the_monitoring_page_draws_drift_quality_live_limits_and_alerts(
    watched: Watched, monitored: tuple[Path, str], deployed: DeployedProject, tmp_path: Path
) -> None:
    root, live = monitored
    page = watched.page
    with _taxiway_ui(root, tmp_path / "ui.log") as url:
        page.goto(f"{url}/runs")
        page.get_by_role("link", name="Monitoring").click()
        expect(page.locator("h1")).to_contain_text(live)
        page.goto(f"{url}/monitoring?window={WINDOW}")
        wait_for_charts(page, 7)  # drift, confidence, quality, latency, memory, CPU, requests
        heat = page.evaluate("document.getElementById('chart-drift').data[0]")
        assert heat["type"] == "heatmap" and heat["y"] == ["dewp", "humid"] and len(heat["x"]) == 3
        assert heat["z"][1][-1] == pytest.approx(3.0)
        assert traces(page, "quality") == 4  # estimated, realised, validation, limit
        start = deployed.outage[0].strftime("%Y-%m-%d %H:%M:%S")
        shapes = page.evaluate("document.getElementById('chart-latency').layout.shapes.map(s => s.x0)")
        assert start in shapes
        names = page.evaluate("document.getElementById('chart-latency').data.map(t => t.name)")
        assert "limit (serving.p99_latency_ms)" in names
        expect(page.locator("#alerts tbody tr")).to_have_count(1)
        expect(page.locator("#alerts tr[data-state=firing]")).to_contain_text("monitor.drift")
        expect(page.locator("#realised")).to_contain_text("labelled rows")
        watched.shoot("monitoring")
