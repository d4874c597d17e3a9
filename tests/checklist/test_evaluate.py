"""Evaluating the checklist from a real charter and evidence, built directly and through a real store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from taxiway.charter import Charter, load_charter
from taxiway.checklist import evaluate_checklist, to_json, to_markdown, to_rich
from taxiway.checklist.evaluate import ChecklistReport, ItemResult
from taxiway.checklist.items import ITEMS, Asks, AsksThenProves
from taxiway.checklist.ml_test_score import TESTS
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence, Limit, Origin, Status

MakeProject = Callable[..., Path]
CLOCK = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
CLASSIFICATION_ANSWERS: dict[str, object] = {
    "project.business_goal": "fewer missed connections",
    "project.business_metric": "share of rebooked passengers",
    "project.owner": "Ana",
    "project.first_deployment_plan": "shadow the rule-based system for a month",
    "project.first_deployment_date": dt.date(2027, 3, 1),
    "project.team_sync": "weekly planning, daily standup",
    "problem.ranking_metric": "pr_auc",
    "problem.costs.false_positive": 2.0,
    "problem.costs.false_negative": 15.0,
    "problem.good_enough": 0.6,
    "problem.smallest_improvement": 0.01,
    "serving.max_memory_mb": 512.0,
    "serving.p99_latency_ms": 40.0,
    "serving.min_throughput_rps": 200.0,
    "serving.mode": "batch",
    "problem.state_of_the_art": "gradient boosting on schedule features",
    "serving.freshness_days": 7,
    "problem.domain_experts": ["Bo", "Cy"],
    "serving.target": "server",
    "data.storage_plan": "taxiway dataset versions in S3",
    "data.annotation_cost": "labels come free from arrival logs",
}


def _charter(make_project: MakeProject, root: Path, **kwargs: Any) -> Charter:
    return load_charter(make_project(root, **kwargs) / "taxiway.toml")


def _by_id(report: ChecklistReport) -> dict[str, ItemResult]:
    return {result.item.id: result for result in report.items}


def _record(check: str, status: Status = "pass", origin: Origin = "manual", **details: Any) -> Evidence:
    return Evidence(
        check_id=check,
        subject_kind="project",
        subject_id="test-project",
        status=status,
        origin=origin,
        details=details,
        recorded_at=CLOCK,
    )


def test_unanswered_charter_leaves_every_before_modelling_question_missing(project_dir: Path) -> None:
    report = evaluate_checklist(load_charter(project_dir / "taxiway.toml"), {}, now=CLOCK)
    asked = [r for r in report.items if isinstance(r.item.needs, Asks | AsksThenProves)]
    assert len(asked) == 18 and {r.state for r in asked} == {"missing"}
    assert {r.symbol for r in report.items} == {"✗"}
    assert report.summary == {
        "proven": 0,
        "accepted": 0,
        "answered": 0,
        "warned": 0,
        "stale": 0,
        "missing": 42,
        "failed": 0,
    }
    assert report.score.final == 0.0 and report.score.band.startswith("a research project")
    assert report.project == "test-project" and report.generated_at == CLOCK
    items = _by_id(report)
    costs = items["problem.costs"]
    assert [u.path for u in costs.unanswered] == [
        "problem.costs.false_positive",
        "problem.costs.false_negative",
    ]
    assert costs.how is not None and "problem.costs.false_positive (default in use: 1)" in costs.how
    assert (
        items["problem.memory"].how == "answer serving.max_memory_mb (default in use: 1024) in taxiway.toml"
    )
    assert items["project.owner"].how == "answer project.owner in taxiway.toml"
    assert items["data.leakage"].how == "run taxiway data check"


def test_answered_charter_shows_the_answers_with_their_paths(
    make_project: MakeProject, tmp_path: Path
) -> None:
    charter = _charter(make_project, tmp_path / "p", answers=CLASSIFICATION_ANSWERS)
    items = _by_id(evaluate_checklist(charter, {}))
    for result in items.values():
        if isinstance(result.item.needs, Asks):
            assert result.state == "answered" and result.how is None, result.item.id
            assert result.symbol == "✎"
    assert [(a.path, a.value) for a in items["problem.costs"].answers] == [
        ("problem.costs.false_positive", 2.0),
        ("problem.costs.false_negative", 15.0),
    ]
    assert [(a.path, a.value) for a in items["project.first_deployment"].answers] == [
        ("project.first_deployment_plan", "shadow the rule-based system for a month"),
        ("project.first_deployment_date", dt.date(2027, 3, 1)),
    ]
    assert items["problem.domain_experts"].answers[0].value == ["Bo", "Cy"]
    assert items["data.storage_plan"].state == "answered"  # a plan, not yet proof that it is followed
    assert items["data.storage_plan"].how == "prove the plan is followed: taxiway data add FILE"


def test_regression_costs_need_over_and_under_prediction(make_project: MakeProject, tmp_path: Path) -> None:
    charter = _charter(
        make_project,
        tmp_path / "p",
        task="regression",
        target="delay",
        answers={"problem.costs.over_prediction": 1.0},
    )
    costs = _by_id(evaluate_checklist(charter, {}))["problem.costs"]
    assert costs.state == "missing"
    assert [a.path for a in costs.answers] == ["problem.costs.over_prediction"]
    assert [u.path for u in costs.unanswered] == ["problem.costs.under_prediction"]


def test_passing_evidence_proves_and_a_failed_latest_record_fails(project_dir: Path) -> None:
    charter = load_charter(project_dir / "taxiway.toml")
    evidence = {
        "data.same_distribution": _record("data.same_distribution", origin="ci"),
        "data.leakage": _record("data.leakage", "fail"),
        "data.dev_power": _record("data.dev_power", "warn"),
        "ui.served": _record("ui.served", url="http://127.0.0.1:8765/"),
    }
    items = _by_id(evaluate_checklist(charter, evidence))
    assert items["data.dev_test_distribution"].state == "proven"
    assert items["data.dev_test_distribution"].evidence == evidence["data.same_distribution"]
    assert items["data.leakage"].state == "failed" and items["data.leakage"].symbol == "✗"
    assert items["data.leakage"].evidence == evidence["data.leakage"]
    assert items["data.dev_power"].state == "warned" and items["data.dev_power"].symbol == "⚠"
    webpage = items["modelling.metrics_webpage"]
    assert webpage.state == "proven"
    assert (
        webpage.text
        == "There's a metrics webpage where I can compare runs and the url is http://127.0.0.1:8765/"
    )


def test_storage_plan_is_proven_by_answer_and_dataset_versions(
    make_project: MakeProject, tmp_path: Path
) -> None:
    version = {"data.version": _record("data.version")}
    answered = _charter(make_project, tmp_path / "a", answers={"data.storage_plan": "versions in S3"})
    plan = _by_id(evaluate_checklist(answered, version))["data.storage_plan"]
    assert plan.state == "proven" and plan.evidence is not None and plan.answers[0].value == "versions in S3"
    unanswered = _charter(make_project, tmp_path / "b")
    plan = _by_id(evaluate_checklist(unanswered, version))["data.storage_plan"]
    assert plan.state == "missing" and plan.how is not None and "default in use: taxiway:" in plan.how
    failed = _by_id(evaluate_checklist(answered, {"data.version": _record("data.version", "fail")}))
    assert failed["data.storage_plan"].state == "failed"


def test_score_items_follow_the_section_scores(project_dir: Path) -> None:
    charter = load_charter(project_dir / "taxiway.toml")

    def section(letter: str, origin: Origin, count: int) -> dict[str, Evidence]:
        tests = [t for t in TESTS if t.section == letter][:count]
        return {str(t.checks[0]): _record(t.checks[0], origin=origin) for t in tests}

    evidence = {**section("M", "ci", 2), **section("I", "ci", 3), **section("O", "manual", 3)}
    items = _by_id(evaluate_checklist(charter, evidence))
    assert items["modelling.ml_test_score"].state == "proven"
    assert items["modelling.ml_test_score"].score == {"M": 2.0}
    deployment = items["deployment.ml_test_score"]
    assert deployment.state == "missing" and deployment.score == {"I": 3.0, "O": 1.5}
    assert deployment.how == (
        "reach 2 points in ML Test Score section O (tables 3-4): the score table says how to earn each point"
    )


def test_evidence_from_a_real_store(store: Store, project_dir: Path) -> None:
    charter = load_charter(project_dir / "taxiway.toml")
    store.evidence.record(
        Check.TRAIN_BASELINES, subject_kind="run", subject_id="r-1", value=0.61, limit=Limit(0.65, ">=")
    )
    items = _by_id(evaluate_checklist(charter, store.evidence.latest()))
    assert items["modelling.baselines"].state == "failed"
    store.evidence.record(
        Check.TRAIN_BASELINES,
        subject_kind="run",
        subject_id="r-2",
        value=0.7,
        limit=Limit(0.65, ">="),
        origin="ci",
    )
    report = evaluate_checklist(charter, store.evidence.latest())
    baselines = _by_id(report)["modelling.baselines"]
    assert baselines.state == "proven"
    assert baselines.evidence is not None and baselines.evidence.subject_id == "r-2"
    assert baselines.evidence.recorded_at.tzinfo is not None
    assert report.score.sections["M"] == 1.0
    assert report.summary["proven"] == 1


def test_renderers_show_states_evidence_and_answers(make_project: MakeProject, tmp_path: Path) -> None:
    charter = _charter(make_project, tmp_path / "p", answers={"project.owner": "Ana | Bo"})
    evidence = {
        "data.leakage": _record("data.leakage", "fail"),
        "data.same_distribution": _record("data.same_distribution", origin="ci"),
    }
    report = evaluate_checklist(charter, evidence, now=CLOCK)

    doc = json.loads(json.dumps(to_json(report, required_score=1.5)))
    assert list(doc) == ["project", "generated_at", "sections", "ml_test_score", "summary", "required_score"]
    assert doc["generated_at"] == "2027-01-02T03:04:05+00:00" and doc["required_score"] == 1.5
    assert [s["key"] for s in doc["sections"]] == ["project", "problem", "data", "modelling", "deployment"]
    item_keys = ["id", "text", "state", "symbol", "evidence", "answers", "unanswered", "how", "score"]
    item_keys += ["subject", "judgement"]
    assert all(list(i) == item_keys for s in doc["sections"] for i in s["items"])
    flat = {i["id"]: i for s in doc["sections"] for i in s["items"]}
    assert len(flat) == len(ITEMS)
    assert flat["project.owner"]["answers"] == [{"path": "project.owner", "value": "Ana | Bo"}]
    assert flat["data.leakage"]["evidence"]["status"] == "fail"
    assert flat["data.dev_test_distribution"]["evidence"]["is_automatic"] is True
    assert flat["data.dev_test_distribution"]["evidence"]["recorded_at"] == "2027-01-02T03:04:05+00:00"
    assert list(doc["ml_test_score"]) == ["tests", "sections", "final", "band", "weakest"]
    assert len(doc["ml_test_score"]["tests"]) == 28
    assert doc["summary"] == {
        "proven": 1,
        "accepted": 0,
        "answered": 1,
        "warned": 0,
        "stale": 0,
        "missing": 39,
        "failed": 1,
    }

    markdown = to_markdown(report)
    assert markdown.startswith("# Checklist: test-project")
    assert "## Before modelling: Project" in markdown and "## Deployment" in markdown
    assert (
        "- [x] ✎ There is a person" in markdown
        and "answered in charter: project.owner = Ana \\| Bo" in markdown
    )
    assert "- [ ] ✗ We understand how to split" in markdown
    assert "| D1 | Feature expectations are captured in a schema. | 0 |" in markdown

    console = Console(width=240, no_color=True, record=True)
    console.print(to_rich(report))
    text = console.export_text()
    assert "✓ My dev- and test sets are from the same distribution." in text
    assert (
        "data.same_distribution (dev and test sets compared for distribution shift) on project test-project: "
        "pass; ci" in text
    )
    assert "Final (the lowest): 0: a research project, not production." in text


@pytest.mark.parametrize("status", ["pass", "fail"])
def test_ci_item_reads_the_ci_check(project_dir: Path, status: Status) -> None:
    charter = load_charter(project_dir / "taxiway.toml")
    result = _by_id(evaluate_checklist(charter, {"ci.check": _record("ci.check", status, origin="ci")}))
    assert result["deployment.ci"].state == ("proven" if status == "pass" else "failed")
