"""The model pages over a real socket: versions registered, validated and deployed with the library's own
functions (tests/ui/deployed.py), compared with what the registry and the blessings say."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from taxiway import registry
from taxiway.deploy.state import desired_state
from taxiway.project import Project
from taxiway.registry.blessing import Blessing, get_blessing
from taxiway.ui.format import number, short
from tests.ui.deployed import DeployedProject
from tests.ui.page_text import figure_json, plain, table_row


def _text(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def test_the_models_page_lists_every_version_with_its_run_blessing_aliases_and_role(
    deployed_http: httpx.Client, project: Project
) -> None:
    page = _text(deployed_http.get("/models"))
    versions = registry.list_versions(project.store)
    assert [v.name for v in versions] == ["v3", "v2", "v1"]
    assert re.findall(r'<tr data-version="(v\d+)"', page) == ["v3", "v2", "v1"]
    roles = {"v1": ["live"], "v2": ["canary 10%", "previous live"], "v3": ["shadow"]}
    for version in versions:
        row = table_row(page, "data-version", version.name)
        assert f'href="/models/{version.name}"' in row and f'href="/runs/{version.run_id}"' in row
        assert short(version.artifact) in row and version.model_format in row
        assert version.lineage["run_name"] in row
        assert re.findall(r'class="badge role role-[a-z]+[^"]*">([^<]+)<', row) == roles[version.name]
        for alias in version.aliases:
            assert f'<span class="badge alias">{alias}</span>' in row
        if version.is_blessed:
            assert version.blessing_id is not None
            blessing = get_blessing(project.store, version.blessing_id)
            passed = sum(g.status == "pass" for g in blessing.gates)
            assert f"{passed} of {len(blessing.gates)} passed" in row and f"#{blessing.id}" in row
        else:
            assert "forced" in row and str(version.reason) in row and "never validated" in row
    assert "production" in table_row(page, "data-version", "v1")
    assert "fallback" in table_row(page, "data-version", "v2")
    # Every move of an alias, newest first: production followed each change of live.
    moves = registry.alias_history(project.store, limit=20)
    table = page[page.index('id="alias-moves"') :]
    for move in moves:
        assert str(move.reason) in table
    assert 'href="/models"' in page and 'aria-current="page">Models<' in page


def test_a_version_page_shows_its_gates_failure_report_lineage_and_deployment_changes(
    deployed_http: httpx.Client, deployed: DeployedProject, project: Project
) -> None:
    version = registry.get_version(project.store, "v1")
    assert version.blessing_id is not None
    blessing: Blessing = get_blessing(project.store, version.blessing_id)
    page = _text(deployed_http.get("/models/v1"))
    assert version.artifact in page and f"#{blessing.id}, passed" in page
    for gate in blessing.gates:
        row = table_row(page, "data-gate", gate.gate)
        assert f'data-status="{gate.status}"' in row and gate.summary in row
        assert number(gate.value) in row and number(gate.threshold) in row
    # The failure predictor's report as `taxiway validate` recorded it, and its risk-coverage curve.
    report = blessing.evaluation["failure_predictor"]
    assert report["summary"] in page
    auc = re.search(r'id="failure-auc">([^<]+)<', page)
    assert auc and auc.group(1) == number(report["roc_auc"])
    curve = figure_json(page, "risk-coverage")
    assert curve["data"][0]["x"] == report["risk_coverage"]["coverage"]
    assert curve["data"][0]["y"] == report["risk_coverage"]["error"]
    assert '<script src="/static/vendor/plotly.min.js" defer></script>' in page
    # Test metrics, lineage to the run, the dataset version and the split.
    for name, value in blessing.test_metrics["metrics"].items():
        assert f'<th>{name}</th><td class="num">{number(value)}</td>' in page
    run = deployed.runs["candidate"]
    assert run.dataset_id and run.split_id
    lineage = page[page.index('id="lineage"') :]
    assert f'href="/runs/{run.id}"' in lineage and f'href="/data/{run.dataset_id}"' in lineage
    assert f'href="/data/{run.dataset_id}#split-{run.split_id[:12]}"' in lineage
    # v1 went canary (2), was promoted (3), rolled back (4) and forward again (5); it is live now.
    changes = re.findall(r'<tr data-generation="(\d+)"', page[page.index('id="role-changes"') :])
    assert changes == ["5", "4", "3", "2"]
    third = table_row(page, "data-generation", "3")
    assert 'canary</span> → <span class="badge role role-live ok">live' in third
    assert desired_state(project.store).live == 1 and "role-live" in page[page.index('id="deployed"') :][:200]


def test_a_forced_version_says_why_and_that_no_gate_let_it_in(deployed_http: httpx.Client) -> None:
    page = _text(deployed_http.get("/models/v2"))
    text = plain(page)
    assert (
        "Registered without a passing blessing (--force): the linear baseline, kept to fall back on" in text
    )
    assert "no gate let it in" in text and 'id="gate-table"' not in page
    assert "No report: reports are recorded by taxiway validate" in text
    deployed_now = page[page.index('id="deployed"') :][:400]
    assert "canary 10%" in deployed_now and "previous live" in deployed_now
    assert "◆ baseline" in page


def test_a_version_is_found_by_number_and_by_alias(deployed_http: httpx.Client) -> None:
    by_name = _text(deployed_http.get("/models/v1"))
    for ref in ("1", "production", "V1"):
        page = _text(deployed_http.get(f"/models/{ref}"))
        assert "<h1>v1 " in page and page.count("data-gate=") == by_name.count("data-gate=")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/models/v99", 404, "no model version v99"),
        ("/models/v99999999999999999999999", 404, "no model version v99999999999999999999999"),
        ("/models/nope", 404, "no model version or alias 'nope'"),
        ("/models/v1/more", 404, "there is no page at /models/v1/more"),
    ],
)
def test_bad_model_addresses_get_a_helpful_page(
    deployed_http: httpx.Client, path: str, status: int, message: str
) -> None:
    response = deployed_http.get(path)
    assert response.status_code == status, response.text[-600:]
    page = _text(response)
    assert message in page and "hint:" in page and "Traceback" not in page


def test_without_versions_the_models_page_says_what_to_run(http: httpx.Client) -> None:
    page = plain(_text(http.get("/models")))
    assert "No model versions yet: taxiway validate RUN, then taxiway register RUN" in page
    assert http.get("/models/v1").status_code == 404
