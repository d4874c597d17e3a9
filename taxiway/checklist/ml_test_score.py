"""The ML Test Score (Breck et al., 2017): its 28 tests as data, and the rules that score them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from taxiway.charter import Charter
from taxiway.charter.model import Attestation
from taxiway.checklist.items import CHECKS, ScoreSection
from taxiway.checklist.judge import Judgement, Verdict, judge
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence

Basis = Literal["automatic", "manual", "accepted", "attested", "warned", "stale", "failed", "none"]

SCORE_SECTIONS: Mapping[ScoreSection, str] = {
    "D": "Features and data",
    "M": "Model development",
    "I": "ML infrastructure",
    "O": "Monitoring",
}
# 1 point: taxiway ran it unattended (its origin is one of AUTOMATIC_ORIGINS: `taxiway ci run`, continuous
# training or delivery, the server's or the monitor's own work); what the environment says never counts.
AUTOMATIC_POINTS = 1.0
MANUAL_POINTS = 0.5  # done by hand and recorded, accepted by a person, or attested { link, by, date }

# The seed asks for a "reasonable" score per table. The paper's band (1, 2] is "a first pass at
# productionisation": a section that has reached 2 has finished that first pass, which is what the
# checklist asks of a project before calling it deployed; "strong" (above 3) is more than it asks.
REASONABLE_SECTION_SCORE = 2.0

# (upper bound inclusive, band); a score above every bound is "exceptional".
_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "a research project, not production"),
    (1.0, "not totally untested, but serious holes"),
    (2.0, "a first pass at productionisation"),
    (3.0, "reasonably tested, more could be automated"),
    (5.0, "strong automated testing and monitoring, fit for mission-critical use"),
)
_EXCEPTIONAL = "exceptional"


@dataclass(frozen=True)
class MLTest:
    """One of the 28 tests, with the evidence checks that prove it (any one of them suffices).

    Example:
        >>> ml_test("I6").checks
        (<Check.DEPLOY_CANARY: 'deploy.canary'>, <Check.DEPLOY_SHADOW: 'deploy.shadow'>)
    """

    id: str
    text: str
    checks: tuple[Check, ...]

    @property
    def section(self) -> ScoreSection:
        return self.id[0]  # type: ignore[return-value]  # ids are built from ScoreSection letters


TESTS: tuple[MLTest, ...] = (
    MLTest("D1", "Feature expectations are captured in a schema.", (Check.DATA_SCHEMA,)),
    MLTest("D2", "All features are beneficial.", (Check.DATA_FEATURE_VALUE,)),
    MLTest("D3", "No feature's cost is too much.", (Check.DATA_FEATURE_COST,)),
    MLTest("D4", "Features adhere to meta-level requirements.", (Check.DATA_META_REQUIREMENTS,)),
    MLTest("D5", "The data pipeline has appropriate privacy controls.", (Check.DATA_PII,)),
    MLTest("D6", "New features can be added quickly.", (Check.DATA_FEATURE_VELOCITY,)),
    MLTest("D7", "All input feature code is tested.", (Check.DATA_FEATURE_TESTS,)),
    MLTest("M1", "Model specs are reviewed and submitted.", (Check.MODEL_SPEC_REVIEWED,)),
    MLTest(
        "M2", "Offline proxy metrics correlate with online impact metrics.", (Check.MODEL_ONLINE_CORRELATION,)
    ),
    MLTest("M3", "All hyperparameters have been tuned.", (Check.TRAIN_TUNED,)),
    MLTest("M4", "The impact of model staleness is known.", (Check.MODEL_STALENESS_IMPACT,)),
    MLTest("M5", "A simpler model is not better.", (Check.TRAIN_BASELINES,)),
    MLTest("M6", "Model quality is sufficient on all important data slices.", (Check.MODEL_SLICES,)),
    MLTest("M7", "The model has been tested for considerations of inclusion.", (Check.MODEL_INCLUSION,)),
    MLTest("I1", "Training is reproducible.", (Check.MODEL_REPRODUCED,)),
    MLTest("I2", "Model specs are unit tested.", (Check.MODEL_UNIT_TESTS,)),
    MLTest("I3", "The full ML pipeline is integration tested.", (Check.PIPELINE_INTEGRATION,)),
    MLTest("I4", "Model quality is validated before attempting to serve it.", (Check.MODEL_VALIDATED,)),
    MLTest(
        "I5",
        "The model allows debugging by observing the step-by-step computation of training or "
        "inference on a single example.",
        (Check.MODEL_DEBUGGABLE,),
    ),
    MLTest(
        "I6",
        "Models are tested via a canary (or shadow) process before they enter production serving.",
        (Check.DEPLOY_CANARY, Check.DEPLOY_SHADOW),
    ),
    MLTest(
        "I7",
        "Models can be quickly and safely rolled back to a previous serving version.",
        (Check.DEPLOY_ROLLBACK,),
    ),
    MLTest("O1", "Dependency changes result in notification.", (Check.MONITOR_DEPENDENCIES,)),
    MLTest("O2", "Data invariants hold in training and serving inputs.", (Check.MONITOR_INPUT_SCHEMA,)),
    MLTest("O3", "Training and serving are not skewed.", (Check.MONITOR_SKEW,)),
    MLTest("O4", "Models are not too stale.", (Check.MONITOR_STALENESS,)),
    MLTest("O5", "The model is numerically stable.", (Check.MONITOR_NUMERICAL,)),
    MLTest(
        "O6",
        "The model has not experienced a dramatic or slow-leak regression in training speed, "
        "serving latency, throughput or RAM usage.",
        (Check.MONITOR_RESOURCE_REGRESSION,),
    ),
    MLTest(
        "O7",
        "The model has not experienced a regression in prediction quality on served data.",
        (Check.MONITOR_ONLINE_QUALITY,),
    ),
)


@dataclass(frozen=True)
class ScoredTest:
    """The points one test earned, and the record (or attestation) they came from."""

    test: MLTest
    points: float
    basis: Basis
    evidence: Evidence | None = None
    attestation: Attestation | None = None
    how: str | None = None
    judgement: Judgement | None = None


@dataclass(frozen=True)
class MLTestScore:
    """Every test's points, the four section sums, the final score (their minimum) and its band."""

    tests: tuple[ScoredTest, ...]
    sections: Mapping[ScoreSection, float]
    final: float
    band: str

    @property
    def weakest(self) -> ScoreSection:
        """The section that sets the final score (the first one, on a tie)."""
        return min(self.sections, key=lambda name: self.sections[name])


def ml_test(test_id: str) -> MLTest:
    """Look up one of the 28 tests by id.

    Example:
        >>> ml_test("M5").checks
        (<Check.TRAIN_BASELINES: 'train.baselines'>,)
    """
    for candidate in TESTS:
        if candidate.id == test_id:
            return candidate
    raise KeyError(test_id)


def band(final: float) -> str:
    """The paper's reading of a final score.

    Example:
        >>> band(0), band(0.5), band(2), band(2.5), band(6)
        ('a research project, not production', 'not totally untested, but serious holes', \
'a first pass at productionisation', 'reasonably tested, more could be automated', 'exceptional')
    """
    for upper, name in _BANDS:
        if final <= upper:
            return name
    return _EXCEPTIONAL


def points_for(
    spec: MLTest,
    evidence: Mapping[str, Evidence],
    attestation: Attestation | None = None,
    *,
    charter: Charter | None = None,
    now: dt.datetime | None = None,
    note: str | None = None,
) -> ScoredTest:
    """Score one test from the record of each of its checks (judged now), or a charter attestation.

    A record that holds (proven) earns 1 when taxiway made it unattended (``Evidence.is_automatic``) and
    0.5 when a person did; a warning or failure accepted by a person earns 0.5; a warned, stale or failed
    record earns 0 even when the test is attested (a failure beats a claim); with no record at all, an
    attestation earns 0.5.

    Example:
        >>> e = Evidence(check_id="train.baselines", subject_kind="run", subject_id="r-1", status="pass")
        >>> points_for(ml_test("M5"), {"train.baselines": e}).points
        0.5
    """
    judged = [
        judge(evidence[check], charter, now) if charter is not None else _as_recorded(evidence[check])
        for check in spec.checks
        if check in evidence
    ]
    proven = [j for j in judged if j.verdict == "proven"]
    if proven:
        best = max(proven, key=lambda j: j.record.is_automatic)
        if best.record.is_automatic:
            return ScoredTest(spec, AUTOMATIC_POINTS, "automatic", evidence=best.record, judgement=best)
        how = f"record it automatically (taxiway's CI run, CT or the server) for 1 point: {_command(spec)}"
        return ScoredTest(
            spec,
            MANUAL_POINTS,
            "manual",
            evidence=best.record,
            attestation=attestation,
            how=how,
            judgement=best,
        )
    accepted = [j for j in judged if j.verdict == "accepted"]
    if accepted:
        how = f"accepted by a person (0.5); fix it and record a pass unattended for 1 point: {_command(spec)}"
        return ScoredTest(
            spec, MANUAL_POINTS, "accepted", evidence=accepted[0].record, how=how, judgement=accepted[0]
        )
    if judged:
        first = judged[0]
        basis: Basis = (
            "warned" if first.verdict == "warned" else "stale" if first.verdict == "stale" else "failed"
        )
        how = f"{basis} ({first.reason}): fix it and re-run {_command(spec)}"
        if basis != "stale":
            how += f", or accept it: taxiway accept {first.record.check_id} --reason TEXT"
        return ScoredTest(
            spec, 0.0, basis, evidence=first.record, attestation=attestation, how=how, judgement=first
        )
    if attestation is not None:
        how = f"attested by hand; record evidence automatically for 1 point: {_command(spec)}"
        return ScoredTest(spec, MANUAL_POINTS, "attested", attestation=attestation, how=how)
    how = (
        f"run {_command(spec)}; or, done by hand, attest it (0.5): "
        f'{spec.id} = {{ link = "URL or file", by = "NAME", date = YYYY-MM-DD }} under [attest]'
    )
    if note:
        how = f"{note}; {how}"
    return ScoredTest(spec, 0.0, "none", how=how)


def score(
    charter: Charter,
    evidence: Mapping[str, Evidence],
    *,
    now: dt.datetime | None = None,
    notes: Mapping[str, str] | None = None,
) -> MLTestScore:
    """The ML Test Score of a project: each test's points, section sums, the final minimum and its band.

    Args:
        charter: its ``[attest]`` table, and the thresholds each record is judged against now.
        evidence: the record of each check that counts (about the subject the check must be about).
        now: when the records are judged (for expiry); the current time when omitted.
        notes: why no record counts for a check (keyed by check id, or by test id for I6).

    Example:
        >>> from taxiway.charter import Charter
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> result = score(charter, {})
        >>> result.final, result.band
        (0.0, 'a research project, not production')
    """
    notes = notes or {}
    tests = tuple(
        points_for(
            t,
            evidence,
            charter.attest.get(t.id),
            charter=charter,
            now=now,
            note=notes.get(t.id) or next((notes[c] for c in t.checks if c in notes), None),
        )
        for t in TESTS
    )
    sections: dict[ScoreSection, float] = {name: 0.0 for name in SCORE_SECTIONS}
    for scored in tests:
        sections[scored.test.section] += scored.points
    final = min(sections.values())
    return MLTestScore(tests=tests, sections=sections, final=final, band=band(final))


def _as_recorded(record: Evidence) -> Judgement:
    # Without a charter, the stored verdict stands (tests and callers that score records alone).
    verdicts: dict[str, Verdict] = {"pass": "proven", "warn": "warned", "accepted": "accepted"}
    verdict = verdicts.get(record.status, "failed")
    return Judgement(verdict, record, record.threshold, record.threshold, record.status)


def _command(spec: MLTest) -> str:
    return " or ".join(dict.fromkeys(CHECKS[check].command for check in spec.checks))
