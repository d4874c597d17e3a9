"""The ML Test Score: the 28 tests, points from evidence, section sums, the final minimum and its band."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from taxiway.charter import Charter
from taxiway.charter.model import Attestation
from taxiway.checklist.items import CHECKS
from taxiway.checklist.ml_test_score import (
    REASONABLE_SECTION_SCORE,
    SCORE_SECTIONS,
    TESTS,
    band,
    ml_test,
    points_for,
    score,
)
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence, Limit, Origin, Status

RUBRIC_FILE = (
    Path(__file__).parents[2] / "docs" / "reference" / "ML-TEST-SCORE.md"
)  # a copy of the user's document


def _charter(attest: dict[str, str] | None = None) -> Charter:
    attested = {test: _attested(link).model_dump() for test, link in (attest or {}).items()}
    return Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}, "attest": attested})


def _attested(link: str) -> Attestation:
    return Attestation(link=link, by="Ana", date=dt.date(2027, 1, 1))


def _record(check: str, status: Status = "pass", origin: Origin = "ci", minute: int = 0) -> Evidence:
    return Evidence(
        check_id=check,
        subject_kind="project",
        subject_id="x",
        status=status,
        origin=origin,
        recorded_at=dt.datetime(2027, 1, 1, 12, minute, tzinfo=dt.UTC),
    )


def test_28_tests_seven_per_section_with_unique_ids_in_order() -> None:
    ids = [t.id for t in TESTS]
    assert ids == [f"{s}{n}" for s in "DMIO" for n in range(1, 8)]
    assert list(SCORE_SECTIONS) == ["D", "M", "I", "O"]
    assert all(t.checks and set(t.checks) <= set(CHECKS) for t in TESTS)


def test_tests_are_proven_by_the_checks_the_store_comments_name() -> None:
    assert ml_test("D1").checks == (Check.DATA_SCHEMA,)
    assert ml_test("D5").checks == (Check.DATA_PII,)
    assert ml_test("M5").checks == (Check.TRAIN_BASELINES,)
    assert ml_test("I1").checks == (Check.MODEL_REPRODUCED,)
    assert set(ml_test("I6").checks) == {Check.DEPLOY_CANARY, Check.DEPLOY_SHADOW}
    assert ml_test("O7").checks == (Check.MONITOR_ONLINE_QUALITY,)


def test_test_texts_are_the_rubrics_short_form() -> None:
    lines = dict(re.findall(r"^- ([DMIO][1-7]) (.*)$", RUBRIC_FILE.read_text(encoding="utf-8"), re.MULTILINE))
    assert len(lines) == 28
    for t in TESTS:
        assert lines[t.id].startswith(t.text.rstrip(".")), t.id


@pytest.mark.parametrize(
    ("final", "expected"),
    [
        (0.0, "a research project, not production"),
        (0.5, "not totally untested, but serious holes"),
        (1.0, "not totally untested, but serious holes"),
        (1.5, "a first pass at productionisation"),
        (2.0, "a first pass at productionisation"),
        (2.5, "reasonably tested, more could be automated"),
        (3.0, "reasonably tested, more could be automated"),
        (3.5, "strong automated testing and monitoring, fit for mission-critical use"),
        (5.0, "strong automated testing and monitoring, fit for mission-critical use"),
        (5.5, "exceptional"),
        (7.0, "exceptional"),
    ],
)
def test_band_follows_the_paper(final: float, expected: str) -> None:
    assert band(final) == expected


def test_points_automatic_manual_attested_failed_and_none() -> None:
    m5 = ml_test("M5")
    assert points_for(m5, {"train.baselines": _record("train.baselines", origin="ci")}).points == 1.0
    for origin in ("ct", "server"):
        assert (
            points_for(m5, {"train.baselines": _record("train.baselines", origin=origin)}).basis
            == "automatic"
        )
    manual = points_for(m5, {"train.baselines": _record("train.baselines", origin="manual")})
    assert (manual.points, manual.basis) == (0.5, "manual")
    assert manual.how is not None and "automatically" in manual.how
    attested = points_for(m5, {}, _attested("https://wiki/m5"))
    assert (attested.points, attested.basis) == (0.5, "attested")
    assert attested.attestation == _attested("https://wiki/m5")
    failed = points_for(
        m5, {"train.baselines": _record("train.baselines", "fail")}, _attested("https://wiki/m5")
    )
    assert (failed.points, failed.basis) == (0.0, "failed")  # a failure beats an attestation
    assert failed.evidence is not None and failed.evidence.status == "fail"
    warned = points_for(m5, {"train.baselines": _record("train.baselines", "warn")})
    assert (warned.points, warned.basis) == (0.0, "warned")  # a warning is not a pass
    nothing = points_for(m5, {})
    assert (nothing.points, nothing.basis) == (0.0, "none")
    assert nothing.how is not None and "taxiway train" in nothing.how and "M5 = { link" in nothing.how


def test_manual_record_with_attestation_earns_half_a_point_at_most() -> None:
    scored = points_for(
        ml_test("D6"),
        {"data.feature_velocity": _record("data.feature_velocity", origin="manual")},
        _attested("https://wiki/d6"),
    )
    assert scored.points == 0.5


def test_either_canary_or_shadow_proves_i6() -> None:
    i6 = ml_test("I6")
    evidence = {"deploy.canary": _record("deploy.canary", "fail"), "deploy.shadow": _record("deploy.shadow")}
    scored = points_for(i6, evidence)
    assert scored.points == 1.0
    assert scored.evidence is not None and scored.evidence.check_id == "deploy.shadow"
    assert points_for(i6, {"deploy.canary": _record("deploy.canary", origin="manual")}).points == 0.5


def _all_of(section: str, origin: Origin) -> dict[str, Evidence]:
    return {str(t.checks[0]): _record(t.checks[0], origin=origin) for t in TESTS if t.section == section}


def test_final_is_the_minimum_of_the_section_sums() -> None:
    evidence = {**_all_of("D", "ci"), **_all_of("M", "manual"), **_all_of("I", "ct")}
    evidence |= {
        "monitor.skew": _record("monitor.skew", origin="server"),
        "monitor.numerical": _record("monitor.numerical", origin="manual"),
    }
    result = score(_charter({"O1": "https://wiki/o1", "O7": "https://wiki/o7"}), evidence)
    assert dict(result.sections) == {"D": 7.0, "M": 3.5, "I": 7.0, "O": 2.5}
    assert result.final == 2.5 and result.weakest == "O"
    assert result.band == "reasonably tested, more could be automated"
    assert len(result.tests) == 28


def test_no_evidence_scores_zero() -> None:
    result = score(_charter(), {})
    assert result.final == 0.0 and set(result.sections.values()) == {0.0}
    assert result.band == "a research project, not production"
    assert REASONABLE_SECTION_SCORE == 2.0


def test_points_from_a_real_store_manual_then_ci_then_failed(store: Store) -> None:
    d1 = ml_test("D1")
    store.evidence.record(
        Check.DATA_SCHEMA,
        subject_kind="dataset",
        subject_id="ab12",
        value=0,
        limit=Limit(0, "<="),
        origin="manual",
    )
    assert points_for(d1, store.evidence.latest()).points == 0.5
    store.evidence.record(
        Check.DATA_SCHEMA,
        subject_kind="dataset",
        subject_id="ab12",
        value=0,
        limit=Limit(0, "<="),
        origin="ci",
    )
    assert points_for(d1, store.evidence.latest()).points == 1.0
    store.evidence.record(
        Check.DATA_SCHEMA,
        subject_kind="dataset",
        subject_id="cd34",
        value=1,
        limit=Limit(0, "<="),
        origin="ci",
    )
    scored = points_for(d1, store.evidence.latest(), _attested("https://wiki/d1"))
    assert (scored.points, scored.basis) == (0.0, "failed")
    assert score(_charter(), store.evidence.latest()).sections["D"] == 0.0


def test_the_ci_environment_earns_no_automatic_points(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    store.evidence.record(
        Check.TRAIN_BASELINES, subject_kind="run", subject_id="r-1", value=0, limit=Limit(0, "<=")
    )
    scored = points_for(ml_test("M5"), store.evidence.latest())
    assert (scored.points, scored.basis) == (0.5, "manual")
    assert scored.evidence is not None and scored.evidence.origin == "manual"
