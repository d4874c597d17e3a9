"""The deployments page over a real socket: deployments made with deploy / promote / rollback, replicas
reported as servers report them, serving snapshots in the store's table; compared with `taxiway status`
and `taxiway.monitor.uptime`."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.deploy.replicas import report_replica
from taxiway.deploy.state import deployment_history, desired_state
from taxiway.monitor.uptime import downtime, requests_series
from taxiway.project import PROJECT_ENV, Project
from taxiway.store.tables import utcnow
from taxiway.ui import create_app
from tests.ui.deployed import DeployedProject
from tests.ui.page_text import figure_json, plain, table_row
from tests.ui.server import serving

WINDOW = 60  # minutes: the fixture's snapshots stay inside it for the whole session


def _text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[-600:]
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def _cells(row: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    ]


@pytest.fixture(scope="module")
def status(deployed: DeployedProject) -> Any:
    """What `taxiway status --window 60 --format json` prints for the deployed project."""
    saved = os.environ.get(PROJECT_ENV)
    try:  # `--project` sets $TAXIWAY_PROJECT in this process: put it back, other tests must not see it
        result = CliRunner().invoke(
            app, ["--project", str(deployed.root), "status", "--window", str(WINDOW), "--format", "json"]
        )
    finally:
        if saved is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = saved
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_desired_state_and_every_change_are_shown(deployed_http: httpx.Client, project: Project) -> None:
    page = _text(deployed_http.get("/deployments"))
    state = desired_state(project.store)
    assert (state.generation, state.live, state.previous_live, state.shadow, state.canary) == (7, 1, 2, 3, 2)
    desired = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", page[page.index('id="desired"') : page.index("Serving,")])
    )
    for expected in ("generation 7", "live v1 (before: v2", "shadow v3", "canary v2 answering 10% of live"):
        assert expected in desired, desired
    assert f"forced : {state.reason}" in desired and state.action in desired
    history = deployment_history(project.store)
    assert re.findall(r'<tr data-generation="(\d+)"', page) == [str(s.generation) for s in history]
    for change in history:
        cells = _cells(table_row(page, "data-generation", str(change.generation)))
        assert cells[2] == change.action and cells[-1] == (change.reason or "")
        assert cells[3] == (f"v{change.live}" if change.live else "-")
        assert cells[-2] == ("forced" if change.forced else "no")
    assert 'class="ranking"' in table_row(page, "data-generation", "7")
    assert "Serving, last 15 min" in page and "taxiway status --window 15" in page


def test_replicas_and_figures_per_role_are_what_taxiway_status_shows(
    deployed_http: httpx.Client, status: dict[str, object]
) -> None:
    page = _text(deployed_http.get("/deployments", params={"window": WINDOW}))
    replicas = status["replicas"]
    assert isinstance(replicas, list) and [r["id"] for r in replicas] == [
        "web-1:8000:101",
        "web-2:8000:202",
        "web-3:8000:303",
    ]
    for replica in replicas:
        row = table_row(page, "data-replica", replica["id"])
        cells = _cells(row)
        assert cells[0] == f"{replica['host']}:{replica['port']}" and cells[2] == str(replica["pid"])
        assert cells[3].startswith(str(replica["generation"]))
        assert ("behind" in cells[3]) == (replica["id"] == "web-2:8000:202")
        expected = "stopped" if replica["stopped_at"] else "alive" if replica["alive"] else "stale"
        assert f'data-state="{expected}"' in row or (expected == "alive" and 'data-state="stale"' in row)
    assert "blue: v1 live, canary: v2 canary, green: v2 standby, shadow: v3 shadow" in re.sub(
        r"<[^>]+>", "", table_row(page, "data-replica", "web-1:8000:101")
    ).replace(" ,", ",")
    figures = status["figures"]
    assert isinstance(figures, list) and [f["key"] for f in figures] == ["live:v1", "canary:v2", "shadow:v3"]
    for figure in figures:
        cells = _cells(table_row(page, "data-key", figure["key"]))

        def share(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        assert cells[:4] == [
            figure["role"],
            f"v{figure['version']}",
            str(figure["requests"]),
            str(figure["rows"]),
        ]
        assert cells[4:6] == [share(figure["error_rate"]), share(figure["fallback_rate"])]
        assert cells[6] == (
            f"{figure['mean_confidence']:.3f}" if figure["mean_confidence"] is not None else "-"
        )
        assert cells[7] == share(figure["agreement"])
        assert cells[9] == share(figure["slow_rate"])  # requests over the charter's p99 latency budget
    assert _cells(table_row(page, "data-key", "shadow:v3"))[7] == "70.0%"  # 35 of 50 rows agreed with live
    shadow = next(f for f in figures if f["key"] == "shadow:v3")
    assert _cells(table_row(page, "data-key", "shadow:v3"))[8] == (
        f"{shadow['failed']} ({shadow['failure_rate']:.1%})"
    )
    assert _cells(table_row(page, "data-key", "live:v1"))[8] == "-"


def test_charts_show_the_series_of_the_snapshots_and_shade_the_outage(
    deployed_http: httpx.Client, deployed: DeployedProject, project: Project
) -> None:
    page = _text(deployed_http.get("/deployments", params={"window": WINDOW}))
    for name in ("requests", "latency", "cpu", "memory", "answers"):
        assert f'id="figure-{name}"' in page
    requests = figure_json(page, "requests")
    served = [y for y in requests["data"][0]["y"] if y is not None]
    # Two replicas, 50 requests per 10 s each: 10 requests/s in every bucket both served through.
    assert served and max(served) == pytest.approx(10.0)
    # The page's buckets are requests_series' buckets: the same number of points, the same totals.
    now = utcnow()
    since = now - dt.timedelta(minutes=WINDOW)
    points = requests_series(project.store, since, now, bucket_s=WINDOW * 60 / 90)
    assert len(requests["data"][0]["x"]) == len(points)
    assert sum(served) == pytest.approx(sum(p.requests_per_second for p in points), rel=0.02)
    latency = {trace["name"]: trace["y"] for trace in figure_json(page, "latency")["data"]}
    assert max(v for v in latency["p50"] if v is not None) == pytest.approx(3.3)
    assert max(v for v in latency["p95"] if v is not None) == pytest.approx(12.0)
    assert max(v for v in latency["p99"] if v is not None) == pytest.approx(21.0)
    answers = {trace["name"]: trace["y"] for trace in figure_json(page, "answers")["data"]}
    assert {round(v, 3) for v in answers["mean confidence"] if v is not None} == {0.89}
    assert all(0.04 <= v <= 0.06 for v in answers["fallback rate"] if v is not None)
    # The two minutes without a snapshot: downtime, shaded on every chart and listed below them.
    start, end = deployed.outage
    report = downtime(project.store, since=since, until=now)
    assert (report.gaps[0].start, report.gaps[0].end) == (start, end)
    shapes = requests["layout"]["shapes"]
    assert shapes[0]["x0"] == start.strftime("%Y-%m-%d %H:%M:%S")
    assert shapes[0]["x1"] == end.strftime("%Y-%m-%d %H:%M:%S")
    gaps = page[page.index('id="downtime"') :]
    assert start.strftime("%Y-%m-%dT%H:%M:%SZ") in gaps and "2 min 00 s" in gaps
    assert re.search(r"Up \d+\.\d\d% of the ", page)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("window=0", "window '0': Input should be greater than or equal to 1"),
        ("window=abc", "window 'abc': Input should be a valid integer"),
        ("window=1441", "window '1441': Input should be less than or equal to 1440"),
    ],
)
def test_a_bad_window_is_a_bad_request(http: httpx.Client, query: str, message: str) -> None:
    response = http.get(f"/deployments?{query}")
    assert response.status_code == 400 and message in html.unescape(response.text)


def test_with_nothing_deployed_the_page_says_what_to_run(http: httpx.Client) -> None:
    page = _text(http.get("/deployments"))
    text = plain(page)
    assert "Nothing deployed yet: register a model first (taxiway validate RUN, taxiway register RUN)" in text
    assert "No server reported in the last 15 min: taxiway serve starts one" in text
    assert (
        "No serving figures in the last 15 min" in text and "No serving snapshots in the last 15 min" in text
    )
    assert "No changes yet: taxiway deploy vN" in text and "plotly.min.js" not in page
    nav = page[page.index("<nav>") : page.index("</nav>")]
    assert 'href="/models"' in nav and 'href="/deployments"' in nav
    # no disabled entry with an internal phrase ("arrives with the monitoring issue"): only pages that exist
    assert 'class="disabled"' not in nav and "arrives with" not in page and "issue" not in nav
    assert 'href="/monitoring"' in nav


def test_a_replica_that_just_reported_is_alive_and_one_that_failed_a_generation_is_behind(
    tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    project = Project.load(make_project(tmp_path / "p"))
    store = project.store
    try:
        report_replica(store, "a:8000:1", host="a", port=8000, pid=1, generation=0, slots={})
        failed = "generation 0: the artifact of v1 no longer matches its SHA-256"
        report_replica(store, "b:8000:2", host="b", port=8000, pid=2, generation=0, slots={}, error=failed)
        with serving(create_app(project)) as url, httpx.Client(base_url=url) as http:
            page = _text(http.get("/deployments"))
    finally:
        store.close()
    first, second = table_row(page, "data-replica", "a:8000:1"), table_row(page, "data-replica", "b:8000:2")
    assert 'data-state="alive"' in first and 'data-behind="false"' in first and "nothing" in first
    assert 'data-behind="true"' in second and failed in second
    assert "Nothing deployed yet" in page
    # The same judgement as `taxiway status`: a server that refused its generation is not serving it.
    assert f'data-kind="not-served">b:8000:2 refused generation 0: {failed}' in page
    assert "fix: taxiway rollback" in page
