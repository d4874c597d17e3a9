"""The model and deployment pages in a real browser against a real `taxiway ui` on the deployed copy of the
trained project (tests/ui/deployed.py): the charts Plotly draws, the links between the pages, no console
error and no request leaving 127.0.0.1. Screenshots go to tests/e2e/screens/."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from taxiway.project import Project
from taxiway.registry import get_version
from taxiway.registry.blessing import get_blessing
from tests.e2e.conftest import Watched
from tests.e2e.drawn_charts import TIMEOUT_MS, traces, wait_for_charts
from tests.ui.deployed import DeployedProject

WINDOW = 60  # minutes: the fixture's snapshots stay inside it for the whole session
SERVING_CHARTS = ("requests", "latency", "cpu", "memory", "answers")
expect.set_options(timeout=TIMEOUT_MS)


def test_the_models_pages_link_versions_runs_and_gates(
    watched: Watched, deployed_ui_url: str, deployed: DeployedProject
) -> None:
    page = watched.page
    project = Project.load(deployed.root)
    try:
        v1 = get_version(project.store, "v1")
        assert v1.blessing_id is not None
        gates = len(get_blessing(project.store, v1.blessing_id).gates)
    finally:
        project.store.close()
    page.goto(f"{deployed_ui_url}/models")
    expect(page.locator("h1")).to_have_text("Models")
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    expect(page.locator("#versions tr[data-version=v1] td.deployed")).to_have_text("live")
    expect(page.locator("#versions tr[data-version=v2] td.deployed")).to_contain_text("canary 10%")
    watched.shoot("models")

    page.locator("#versions tr[data-version=v1] a", has_text="v1").click()
    page.wait_for_url(re.compile(r"/models/v1$"), timeout=TIMEOUT_MS)
    wait_for_charts(page, 1)
    assert traces(page, "risk-coverage") == 2  # the curve and the every-row line
    expect(page.locator("#gate-table tbody tr")).to_have_count(gates)
    expect(page.locator("#role-changes tbody tr")).to_have_count(4)
    watched.shoot("model-v1")

    page.locator("#lineage a", has_text=v1.run_id).click()
    page.wait_for_url(re.compile(rf"/runs/{v1.run_id}$"), timeout=TIMEOUT_MS)
    expect(page.locator("h1")).to_contain_text(v1.run_id)

    page.goto(f"{deployed_ui_url}/models/v2")
    expect(page.locator("p.alert")).to_contain_text("the linear baseline, kept to fall back on")
    watched.shoot("model-v2-forced")

    response = page.goto(f"{deployed_ui_url}/models/v99")
    assert response is not None and response.status == 404
    expect(page.locator("section.error")).to_contain_text("no model version v99")
    watched.errors[:] = [error for error in watched.errors if "status of 404" not in error]


def test_the_deployments_page_draws_the_serving_charts_with_the_outage(
    watched: Watched, deployed_ui_url: str, deployed: DeployedProject
) -> None:
    page = watched.page
    page.goto(f"{deployed_ui_url}/deployments?window={WINDOW}")
    expect(page.locator("#generation")).to_have_text("7")
    wait_for_charts(page, len(SERVING_CHARTS))
    assert traces(page, "latency") == 4  # p50, p95, p99 and the downtime legend entry
    start = deployed.outage[0].strftime("%Y-%m-%d %H:%M:%S")
    for chart in SERVING_CHARTS:
        shapes = page.evaluate(f"document.getElementById('chart-{chart}').layout.shapes.map(s => s.x0)")
        assert start in shapes, (chart, shapes)
    expect(page.locator("#replicas tbody tr")).to_have_count(3)
    expect(page.locator("#replicas tr[data-replica='web-2:8000:202']")).to_contain_text("behind")
    expect(page.locator("#role-figures tbody tr")).to_have_count(3)
    expect(page.locator("#history tbody tr")).to_have_count(len(deployed.history))
    watched.shoot("deployments")

    page.get_by_role("link", name="15 min").click()
    page.wait_for_url(re.compile(r"window=15$"), timeout=TIMEOUT_MS)
    expect(page.locator("h2", has_text="Serving, last 15 min")).to_have_count(1)
    page.locator("#live a", has_text="v1").click()
    page.wait_for_url(re.compile(r"/models/v1$"), timeout=TIMEOUT_MS)
