"""Every page of the dashboard over a real socket, on a project trained with the real commands."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from taxiway.checklist import to_json
from taxiway.checklist.bound import checklist_of
from taxiway.data.split import get_split, split_frames
from taxiway.measure.predictions import Predictions
from taxiway.measure.scores import score_predictions
from taxiway.project import Project
from taxiway.ui.format import number
from taxiway.ui.pages.compare import labels
from taxiway.validate.compare import compare_runs, decimals, verdict
from tests.ui.trained import CURVE_STEPS, TrainedProject


def _text(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def test_the_runs_page_lists_every_run_with_baselines_and_the_good_enough_line(
    http: httpx.Client, trained: TrainedProject
) -> None:
    page = _text(http.get("/runs"))
    for run in trained.runs.values():
        assert f'data-run="{run.id}"' in page
    assert page.count("◆ baseline") == 2
    assert "good enough: log_loss ≤ 0.1" in page
    # Sorted by the ranking metric, lowest log loss first: the line falls after the runs that reach it.
    order = re.findall(r'data-run="(r-[0-9a-f]+)"', page)
    by_loss = sorted(trained.runs.values(), key=lambda run: run.metrics["log_loss"])
    assert order == [run.id for run in by_loss]
    line = page.index('class="good-enough-line"')
    assert page.index(trained.runs["linear"].id) < line < page.index(trained.runs["constant"].id)
    assert http.get("/", follow_redirects=False).headers["location"] == "/runs"


def test_sorting_filtering_and_paging_happen_in_the_database(
    http: httpx.Client, trained: TrainedProject
) -> None:
    runs = trained.runs
    page = _text(http.get("/runs", params={"sort": "metric:roc_auc", "order": "asc"}))
    order = re.findall(r'data-run="(r-[0-9a-f]+)"', page)
    assert order[0] == runs["constant"].id and len(order) == 4
    baselines = re.findall(r'data-run="(r-[0-9a-f]+)"', _text(http.get("/runs", params={"kind": "baseline"})))
    assert sorted(baselines) == sorted([runs["linear"].id, runs["constant"].id])
    found = re.findall(r'data-run="(r-[0-9a-f]+)"', _text(http.get("/runs", params={"q": "TUN"})))
    assert found == [runs["tuned"].id]
    second = _text(http.get("/runs", params={"per_page": "3", "page": "2"}))
    assert re.findall(r'data-run="(r-[0-9a-f]+)"', second) == [runs["constant"].id]
    assert "page 2 of 2" in second
    none = _text(http.get("/runs", params={"since": "2000-01-01", "until": "2000-01-02"}))
    assert "No runs match these filters" in none and "0 runs match the filters" in none


def test_an_htmx_request_gets_only_the_table_and_a_history_restore_the_whole_page(http: httpx.Client) -> None:
    fragment = http.get("/runs", params={"sort": "name"}, headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and "<table" in fragment and 'id="compare-form"' in fragment
    restored = http.get("/runs", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}).text
    assert "<html" in restored


def test_the_run_page_shows_lineage_metrics_resources_charts_and_artifacts(
    http: httpx.Client, trained: TrainedProject
) -> None:
    candidate = trained.runs["candidate"]
    page = _text(http.get(f"/runs/{candidate.id}"))
    assert candidate.dataset_id is not None and candidate.split_id is not None
    assert f'href="/data/{candidate.dataset_id}"' in page and candidate.split_id[:12] in page
    assert f"Python {candidate.lineage['environment']['python']}" in page
    for chart in ("confusion", "roc", "pr", "calibration", "cost"):
        assert f'id="figure-{chart}"' in page
    assert "false positive 1, false negative 3" in page  # the charter's costs drive the cost curve
    for key in candidate.resources:
        assert key in page
    assert "good enough" in page and f'/runs/{candidate.id}/artifacts/predictions.parquet"' in page
    tuned = _text(http.get(f"/runs/{trained.runs['tuned'].id}"))
    assert 'id="figure-curve-1"' in tuned and "train_loss" in tuned and "valid_loss" in tuned


def test_an_artifact_downloads_as_its_verified_bytes(http: httpx.Client, trained: TrainedProject) -> None:
    candidate = trained.runs["candidate"]
    response = http.get(f"/runs/{candidate.id}/artifacts/predictions.parquet")
    assert response.status_code == 200
    project = Project.load(trained.root)
    try:
        assert candidate.predictions_artifact is not None
        assert response.content == project.store.artifacts.get_bytes(candidate.predictions_artifact)
    finally:
        project.store.close()
    assert response.headers["x-content-sha256"] == candidate.predictions_artifact
    assert response.headers["content-disposition"] == 'attachment; filename="predictions.parquet"'


def test_the_compare_page_shows_what_the_library_computes(
    http: httpx.Client, trained: TrainedProject
) -> None:
    linear, candidate = trained.runs["linear"], trained.runs["candidate"]
    page = _text(http.get("/compare", params=[("run", linear.id), ("run", candidate.id)]))
    project = Project.load(trained.root)
    try:
        comparison = compare_runs(
            project.store, [linear.id, candidate.id], costs=project.charter.error_costs()
        )
    finally:
        project.store.close()
    named = labels([linear, candidate])
    assert comparison.rows == 459 and "459</strong> validation rows" in page
    assert len(comparison.metrics) >= 10
    for item in comparison.metrics:
        row = re.search(rf'<tr data-metric="{item.metric}".*?</tr>', page, re.DOTALL)
        assert row is not None, item.metric
        digits = decimals(item.difference.low, item.difference.high)
        assert f"{item.difference.estimate:+.{digits}f}" in row.group(0)
        assert f"[{item.difference.low:.{digits}f}, {item.difference.high:.{digits}f}]" in row.group(0)
        assert verdict(item, named[linear.id], named[candidate.id]) in row.group(0)
    log_loss = comparison.of("log_loss", candidate.id)
    assert log_loss is not None and log_loss.better == "other"
    assert "candidate is better by" in page
    assert "differ</span>" in page  # the params table counts the differing params


def test_the_compare_page_overlays_step_curves(http: httpx.Client, trained: TrainedProject) -> None:
    runs = [trained.runs["tuned"].id, trained.runs["candidate"].id]
    page = _text(http.get("/compare", params=[("run", ref) for ref in runs]))
    curves = dict(
        re.findall(r'<script type="application/json" id="figure-(curve-\d+)">(.*?)</script>', page, re.DOTALL)
    )
    figures = [json.loads(text) for _, text in sorted(curves.items())]
    assert [figure["layout"]["title"]["text"] for figure in figures] == ["train_loss", "valid_loss"]
    for figure in figures:  # the candidate logged no curve: one trace, the tuned run's, step by step
        assert [trace["name"] for trace in figure["data"]] == ["tuned"]
        assert figure["data"][0]["x"] == list(range(CURVE_STEPS))


def test_compare_without_runs_offers_a_picker(http: httpx.Client, trained: TrainedProject) -> None:
    page = _text(http.get("/compare", params={"pick": trained.runs["tuned"].id}))
    assert page.count('type="checkbox" name="run"') == 4
    assert re.search(rf'value="{trained.runs["tuned"].id}" checked', page)


def test_the_data_pages_show_versions_schema_splits_and_checks(
    http: httpx.Client, trained: TrainedProject
) -> None:
    dataset_id = trained.runs["candidate"].dataset_id
    assert dataset_id is not None
    listing = _text(http.get("/data"))
    assert dataset_id[:12] in listing and "3,000" in listing and "leakage: pass" in listing
    page = _text(http.get(f"/data/{dataset_id[:8]}"))
    for column in ("dewp", "humid", "wind_speed", "origin", "warm"):
        assert f"<th>{column}</th>" in page
    for label in ("split", "leakage", "same distribution", "dev-set power", "schema", "personal data"):
        assert f"<h4>{label} <span" in page
    assert "validation and test look alike" in page


def test_the_checklist_page_has_what_taxiway_check_reports(
    http: httpx.Client, trained: TrainedProject
) -> None:
    page = _text(http.get("/checklist"))
    project = Project.load(trained.root)
    try:
        document = to_json(checklist_of(project.store, project.charter, project.root))
    finally:
        project.store.close()
    items = [item for section in document["sections"] for item in section["items"]]
    marked = re.findall(r'<li class="item state-(\w+)" id="item-([\w.]+)">', page)
    found = {item_id: state for state, item_id in marked}
    assert found == {item["id"]: item["state"] for item in items}
    for item in items:
        assert item["text"] in page
        if item["evidence"] is not None:
            assert item["evidence"]["check_id"] in page
    for test in document["ml_test_score"]["tests"]:
        row = re.search(rf'<tr class="points-\d" id="test-{test["id"]}">.*?</tr>', page, re.DOTALL)
        assert row is not None and f'<td class="num points">{_points(test["points"])}</td>' in row.group(0)
    assert f"{document['ml_test_score']['band']}" in page


def test_every_evidence_link_opens_its_record(http: httpx.Client) -> None:
    page = http.get("/checklist").text
    links = sorted(set(re.findall(r'href="(/evidence/\d+)"', page)))
    assert len(links) >= 5
    for link in links:
        record = _text(http.get(link))
        assert "<h3>Details</h3>" in record


@pytest.mark.parametrize(
    ("address", "status", "says"),
    [
        ("/runs/r-0000ffff0000", 404, "no run starts with 'r-0000ffff0000'"),
        ("/runs/r-12", 400, "is too short"),
        ("/runs/not-a-run", 404, "run ids are 'r-' and hexadecimal digits"),
        ("/runs?page=abc", 400, "page 'abc' is not a whole number"),
        ("/runs?per_page=100000", 400, "per_page '100000'"),
        ("/runs?sort=bogus", 400, "sort 'bogus' is not a column"),
        ("/runs?kind=champion", 400, "kind 'champion' is not a run kind"),
        ("/runs?since=2026-13-45", 400, "since '2026-13-45' is not a date"),
        ("/runs?order=sideways", 400, "order 'sideways'"),
        ("/runs/r-0000ffff0000/artifacts/model.skops", 404, "no run starts with"),
        ("/compare?run=r-0000ffff0000&run=r-1111ffff0000", 404, "no run starts with"),
        ("/evidence/abc", 400, "record_id 'abc'"),
        ("/evidence/99999999", 404, "no evidence record 99999999"),
        ("/data/zz99", 404, "version ids are hexadecimal"),
        ("/data/ab", 400, "is too short"),
        ("/nowhere", 404, "there is no page at /nowhere"),
    ],
)
def test_bad_addresses_get_a_helpful_page_never_a_500(
    http: httpx.Client, address: str, status: int, says: str
) -> None:
    response = http.get(address)
    assert response.status_code == status
    page = _text(response)
    assert says in page and "hint:" in page
    assert "Traceback" not in page


def test_bad_comparisons_are_bad_requests(http: httpx.Client, trained: TrainedProject) -> None:
    candidate = trained.runs["candidate"].id
    one = http.get("/compare", params={"run": candidate})
    assert one.status_code == 400 and "comparing needs at least two runs, got 1" in one.text
    twice = http.get("/compare", params=[("run", candidate), ("run", candidate[:8])])
    assert twice.status_code == 400 and "the same run is selected twice" in twice.text
    missing = http.get(f"/runs/{candidate}/artifacts/no-such-file")
    listed = "its artifacts: failure-predictor.skops, model.skops, predictions.parquet"
    assert missing.status_code == 404 and listed in missing.text, missing.text[-600:]


def test_scripts_are_served_from_the_installed_packages(http: httpx.Client) -> None:
    plotly_js = http.get("/static/vendor/plotly.min.js")
    assert plotly_js.status_code == 200 and plotly_js.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js" in plotly_js.content[:2000] and len(plotly_js.content) > 1_000_000
    htmx = http.get("/static/vendor/htmx.min.js")
    assert htmx.status_code == 200, "htmx.min.js is missing: `make` fetches it (npm pack htmx.org@2)"
    assert 'src="/static/vendor/htmx.min.js"' in http.get("/runs").text
    assert http.get("/static/taxiway.css").status_code == 200
    assert http.get("/static/favicon.svg").status_code == 200


def _points(points: float) -> str:
    return str(int(points)) if float(points).is_integer() else str(points)


def test_the_compare_page_shows_each_run_on_each_slice(http: httpx.Client, trained: TrainedProject) -> None:
    linear, candidate = trained.runs["linear"], trained.runs["candidate"]
    page = _text(http.get("/compare", params=[("run", linear.id), ("run", candidate.id)]))
    project = Project.load(trained.root)
    try:
        assert candidate.split_id is not None
        valid = split_frames(project.store, get_split(project.store, candidate.split_id)).valid
        for run in (linear, candidate):
            assert run.predictions_artifact is not None
            p = Predictions.from_parquet(project.store.artifacts.get_bytes(run.predictions_artifact))
            origin = valid.loc[p.row_key, "origin"].to_numpy()
            for airport in ("EWR", "JFK", "LGA"):
                rows = origin == airport
                part = Predictions(p.row_key[rows], p.y_true[rows], p.y_pred[rows], p.proba[rows], p.classes)
                expected = number(score_predictions(part)["log_loss"])
                row = re.search(rf'<tr data-slice="origin={airport}">.*?</tr>', page, re.DOTALL)
                assert row is not None and f'<td class="num">{int(rows.sum()):,}</td>' in row.group(0)
                assert f">{expected}</td>" in row.group(0), (run.name, airport, expected)
    finally:
        project.store.close()
