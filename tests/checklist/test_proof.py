"""Proof that can fail (issue 13): each situation where a ✓ did not hold its promise, shown not ✓ now, and
the same item ✓ when the thing is really true. Real projects, real SQLite stores, real git histories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from taxiway import registry
from taxiway.charter import load_charter
from taxiway.checklist import evaluate_checklist, to_markdown
from taxiway.checklist.bound import checklist_of
from taxiway.checklist.evaluate import ChecklistReport, ItemResult
from taxiway.checklist.explain import explain
from taxiway.checklist.ml_test_score import ScoredTest
from taxiway.deploy.changes import deploy
from taxiway.errors import CharterError
from taxiway.registry.blessing import GateResult, save_blessing
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by
from taxiway.train.tracking import start_run
from tests.checklist.world import World, build_world, git

MakeProject = Callable[..., Path]
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def world(make_project: MakeProject, tmp_path: Path) -> World:
    root = make_project(tmp_path / "p", answers={"serving.p99_latency_ms": 120.0})
    built = build_world(root)
    yield built
    built.store.close()


def _report(world: World, now: dt.datetime | None = None) -> ChecklistReport:
    return checklist_of(world.store, load_charter(world.root / "taxiway.toml"), world.root, now=now)


def _item(report: ChecklistReport, item_id: str) -> ItemResult:
    return next(r for r in report.items if r.item.id == item_id)


def _test(report: ChecklistReport, test_id: str) -> ScoredTest:
    return next(s for s in report.score.tests if s.test.id == test_id)


def _set_charter(world: World, old: str, new: str) -> None:
    path = world.root / "taxiway.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _latency(world: World, value: float, **extra: object) -> None:
    world.store.evidence.record(
        Check.MONITOR_LATENCY,
        subject_kind="deployment",
        subject_id=world.version,
        value=value,
        limit=Limit(120.0, "<=", key="serving.p99_latency_ms"),
        measured=Measurement(sample_size=1200, method="p99 of request latencies"),
        **extra,  # type: ignore[arg-type]
    )


def test_tightening_the_charter_turns_the_item_failed_with_both_numbers(world: World) -> None:
    _latency(world, 87.5)
    assert _item(_report(world), "deployment.monitor_latency").state == "proven"
    _set_charter(world, "p99_latency_ms = 120.0", "p99_latency_ms = 50.0")
    latency = _item(_report(world), "deployment.monitor_latency")
    assert latency.state == "failed" and latency.symbol == "✗"
    assert latency.how is not None
    assert "measured 87.5, limit <= 50 (serving.p99_latency_ms = 50 now; recorded against 120)" in latency.how
    # loosened again, the same record proves it again: the judgement is made at read time
    _set_charter(world, "p99_latency_ms = 50.0", "p99_latency_ms = 100.0")
    assert _item(_report(world), "deployment.monitor_latency").state == "proven"


def test_a_record_past_its_expiry_is_stale_not_proven(world: World) -> None:
    now = dt.datetime.now(dt.UTC)
    _latency(world, 40.0, expires_at=now + HOUR)
    world.store.evidence.record(
        Check.MONITOR_SKEW,
        subject_kind="deployment",
        subject_id=world.version,
        value=0.01,
        limit=Limit(0.1, "<="),
        origin="monitor",
        expires_at=now + HOUR,
    )
    fresh = _report(world, now=now)
    assert _item(fresh, "deployment.monitor_latency").state == "proven"
    assert (_test(fresh, "O3").points, _test(fresh, "O3").basis) == (1.0, "automatic")
    later = _report(world, now=now + 2 * HOUR)
    latency = _item(later, "deployment.monitor_latency")
    assert latency.state == "stale" and latency.symbol == "◷" and not latency.is_met
    assert latency.how is not None and latency.how.startswith("stale (expired")
    assert (_test(later, "O3").points, _test(later, "O3").basis) == (0.0, "stale")


def test_reproducing_the_baseline_does_not_prove_the_live_model_reproducible(world: World) -> None:
    world.store.evidence.record(
        Check.MODEL_REPRODUCED,
        subject_kind="run",
        subject_id=world.baseline_run,
        value=0.0,
        limit=Limit(1e-6, "<="),
    )
    reproducible = _item(_report(world), "modelling.reproducible")
    assert reproducible.state == "missing"
    assert reproducible.how is not None and world.baseline_run in reproducible.how
    assert "model v1" in reproducible.how
    world.store.evidence.record(
        Check.MODEL_REPRODUCED,
        subject_kind="run",
        subject_id=world.candidate_run,
        value=0.0,
        limit=Limit(1e-6, "<="),
    )
    assert _item(_report(world), "modelling.reproducible").state == "proven"


def test_a_later_pass_about_another_subject_does_not_undo_a_failure(world: World) -> None:
    log = world.store.evidence
    log.record(
        Check.DATA_LEAKAGE, subject_kind="split", subject_id=world.split_id, value=3, limit=Limit(0, "<=")
    )
    log.record(Check.DATA_LEAKAGE, subject_kind="split", subject_id="f" * 64, value=0, limit=Limit(0, "<="))
    assert _item(_report(world), "data.leakage").state == "failed"
    log.record(
        Check.DATA_LEAKAGE, subject_kind="split", subject_id=world.split_id, value=0, limit=Limit(0, "<=")
    )
    assert _item(_report(world), "data.leakage").state == "proven"


def test_a_warning_is_not_proven_until_accepted_and_a_new_subject_voids_the_acceptance(world: World) -> None:
    log = world.store.evidence
    log.record(
        Check.TRAIN_BASELINES,
        subject_kind="run",
        subject_id=world.candidate_run,
        value=0.02,
        limit=Limit(0.0, ">"),
        warn="the gain over the baseline is not significant at 0.05",
    )
    report = _report(world)
    baselines = _item(report, "modelling.baselines")
    assert baselines.state == "warned" and baselines.symbol == "⚠" and not baselines.is_met
    assert (_test(report, "M5").points, _test(report, "M5").basis) == (0.0, "warned")
    log.accept(
        Check.TRAIN_BASELINES,
        subject_kind="run",
        subject_id=world.candidate_run,
        reason="a small gain is worth it here",
        by="Ana",
    )
    report = _report(world)
    baselines = _item(report, "modelling.baselines")
    assert baselines.state == "accepted" and baselines.symbol == "☑" and baselines.is_met
    assert baselines.how == "accepted by Ana: a small gain is worth it here"
    assert (_test(report, "M5").points, _test(report, "M5").basis) == (0.5, "accepted")

    _register_and_go_live(world, "gbm-2", b"second")  # the subject changes: v2 goes live
    report = _report(world)
    baselines = _item(report, "modelling.baselines")
    assert baselines.state == "missing" and baselines.how is not None and "model v2" in baselines.how
    assert _test(report, "M5").points == 0.0


def test_the_ci_environment_gives_no_automatic_points_what_started_the_work_does(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    log = world.store.evidence
    log.record(
        Check.MODEL_VALIDATED,
        subject_kind="run",
        subject_id=world.candidate_run,
        value=0,
        limit=Limit(0, "<="),
    )
    i4 = _test(_report(world), "I4")
    assert (i4.points, i4.basis) == (0.5, "manual")
    with started_by("ci", commit=world.commit, run_id="4711"):
        log.record(
            Check.MODEL_VALIDATED,
            subject_kind="run",
            subject_id=world.candidate_run,
            value=0,
            limit=Limit(0, "<="),
        )
    i4 = _test(_report(world), "I4")
    assert (i4.points, i4.basis) == (1.0, "automatic")
    assert i4.evidence is not None and i4.evidence.details["commit"] == world.commit


def test_the_ci_item_needs_a_passing_ci_run_of_a_commit_in_this_repository(world: World) -> None:
    log = world.store.evidence
    with started_by("ci", commit="0123456789abcdef0123456789abcdef01234567"):
        log.record(
            Check.CI_CHECK,
            subject_kind="commit",
            subject_id="0123456789abcdef0123456789abcdef01234567",
            value=0,
            limit=Limit(0, "<="),
        )
    ci = _item(_report(world), "deployment.ci")
    assert ci.state == "missing"
    assert ci.how is not None and "a commit in this repository's git history" in ci.how
    with started_by("ci", commit=world.commit):
        log.record(
            Check.CI_CHECK, subject_kind="commit", subject_id=world.commit, value=2, limit=Limit(0, "<=")
        )
    assert _item(_report(world), "deployment.ci").state == "failed"
    git(world.root, "commit", "-q", "--allow-empty", "-m", "fix the two failing tests")
    head = git(world.root, "rev-parse", "HEAD")
    with started_by("ci", commit=head):
        log.record(Check.CI_CHECK, subject_kind="commit", subject_id=head, value=0, limit=Limit(0, "<="))
    ci = _item(_report(world), "deployment.ci")
    assert ci.state == "proven" and ci.evidence is not None and ci.evidence.origin == "ci"


def test_i6_needs_a_shadow_or_canary_of_the_live_version_before_it_went_live(world: World) -> None:
    log = world.store.evidence
    # v1 is already live: shadowing it now proves "we can shadow", not that it was tested before going live
    log.record(Check.DEPLOY_SHADOW, subject_kind="model", subject_id="v1", value=0.97, limit=Limit(0.9, ">="))
    report = _report(world)
    assert _item(report, "deployment.shadow").state == "proven"
    i6 = _test(report, "I6")
    assert i6.points == 0.0 and i6.how is not None and "before it went live" in i6.how
    v2 = _register(world, "gbm-2", b"second")
    deploy(world.store, v2, "shadow")
    log.record(Check.DEPLOY_SHADOW, subject_kind="model", subject_id=v2, value=0.97, limit=Limit(0.9, ">="))
    deploy(world.store, v2, "live")
    i6 = _test(_report(world), "I6")
    assert (i6.points, i6.basis) == (0.5, "manual")
    assert i6.evidence is not None and i6.evidence.subject_id == "v2"


def test_evidence_about_a_model_whose_file_is_gone_proves_nothing(world: World) -> None:
    world.store.evidence.record(
        Check.MODEL_REPRODUCED, subject_kind="model", subject_id="v1", value=0.0, limit=Limit(1e-6, "<=")
    )
    assert _item(_report(world), "modelling.reproducible").state == "proven"
    artifact = registry.get_version(world.store, "v1").artifact
    Path(world.store.artifacts.path_of(artifact)).unlink()
    reproducible = _item(_report(world), "modelling.reproducible")
    assert reproducible.state == "missing"
    assert reproducible.how is not None and "missing from the artifact store" in reproducible.how


def test_reflective_test_set_is_answered_with_a_reason_until_serving_inputs_prove_it(world: World) -> None:
    assert _item(_report(world), "data.dev_test_reflective").state == "missing"
    _set_charter(world, "[data]", '[data]\ntest_set_reflects = "the test set is the latest month, as served"')
    reflective = _item(_report(world), "data.dev_test_reflective")
    assert reflective.state == "answered" and reflective.symbol == "✎"
    world.store.evidence.record(
        Check.DATA_REFLECTS_PRODUCTION,
        subject_kind="split",
        subject_id=world.split_id,
        value=0.81,
        limit=Limit(0.6, "<=", key="validation.max_adversarial_auc"),
        measured=Measurement(sample_size=5000, method="adversarial validation, test set vs logged inputs"),
        origin="monitor",
    )
    reflective = _item(_report(world), "data.dev_test_reflective")
    assert reflective.state == "failed" and reflective.how is not None and "measured 0.81" in reflective.how
    world.store.evidence.record(
        Check.DATA_REFLECTS_PRODUCTION,
        subject_kind="split",
        subject_id=world.split_id,
        value=0.52,
        limit=Limit(0.6, "<="),
        origin="monitor",
    )
    assert _item(_report(world), "data.dev_test_reflective").state == "proven"


def test_explain_prints_the_chain_from_record_to_mark(world: World) -> None:
    _latency(world, 87.5, expires_at=dt.datetime.now(dt.UTC) + HOUR)
    _set_charter(world, "p99_latency_ms = 120.0", "p99_latency_ms = 50.0")
    lines = explain(_report(world), "deployment.monitor_latency")
    text = "\n".join(lines)
    assert lines[1] == "state: ✗ failed"
    assert "must be about: the live deployment (v1)" in text
    assert "measured: 87.5, over 1200 observations, by p99 of request latencies" in text
    assert "about: deployment v1" in text and "origin: manual (by hand)" in text
    assert "threshold: <= 120 when recorded; charter key serving.p99_latency_ms = 50 now" in text
    assert "holds until: 20" in text  # an ISO time, not "until a newer record"


def test_a_free_text_attestation_is_refused_with_a_hint(tmp_path: Path, make_project: MakeProject) -> None:
    root = make_project(tmp_path / "p")
    charter = root / "taxiway.toml"
    charter.write_text(charter.read_text(encoding="utf-8") + 'D6 = "x"\n', encoding="utf-8")
    with pytest.raises(CharterError) as caught:
        load_charter(charter)
    assert "attest: D6 = 'x' is free text, not an attestation" in caught.value.message
    assert 'D6 = { link = "https://' in caught.value.hint


def test_an_attestation_links_a_file_that_exists_and_earns_half_a_point_listed_apart(
    tmp_path: Path, make_project: MakeProject
) -> None:
    root = make_project(tmp_path / "p")
    charter = root / "taxiway.toml"
    text = charter.read_text(encoding="utf-8")
    charter.write_text(
        text + 'D6 = { link = "docs/feature-onboarding.md", by = "Ana", date = 2027-01-31 }\n',
        encoding="utf-8",
    )
    with pytest.raises(CharterError) as caught:
        load_charter(charter)
    assert "links 'docs/feature-onboarding.md', which is no file in" in caught.value.message
    (root / "docs").mkdir()
    (root / "docs" / "feature-onboarding.md").write_text("# Adding a feature takes a day\n", encoding="utf-8")
    loaded = load_charter(charter)
    report = evaluate_checklist(loaded, {})
    d6 = _test(report, "D6")
    assert (d6.points, d6.basis) == (0.5, "attested")
    markdown = to_markdown(report)
    assert "Attested by hand (0.5 points each, not measured by taxiway):" in markdown
    assert "- D6: docs/feature-onboarding.md, by Ana on 2027-01-31" in markdown


def _register(world: World, name: str, model: bytes) -> str:
    store = world.store
    with start_run(
        name, kind="candidate", store=store, dataset_id=world.dataset_id, split_id=world.split_id
    ) as run:
        run.set_model(run.log_bytes("model.skops", model))
    with store.write_session() as session, session.begin():
        gates = [GateResult("beats_baseline", "pass", 0.1, 0.0, "beats the baseline")]
        save_blessing(session, run.id, gates, test_metrics={}, evaluation={})
    return registry.register(store, run.id)[0].name


def _register_and_go_live(world: World, name: str, model: bytes) -> str:
    version = _register(world, name, model)
    deploy(world.store, version, "live")
    return version
