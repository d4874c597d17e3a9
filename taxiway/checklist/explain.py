"""Why an item stands where it stands: the chain from the record to the mark.

``taxiway check --explain ITEM`` and the dashboard's checklist page print the same chain: which record,
what was measured (value, sample size, window, method), about which subject, when, by what origin, against
which threshold (the charter key and its value now), and until when it holds.
"""

from __future__ import annotations

import datetime as dt

from taxiway.checklist.evaluate import ChecklistReport, ItemResult, format_value
from taxiway.checklist.items import ITEMS, AsksThenProves, Proves, check_info
from taxiway.checklist.judge import Judgement
from taxiway.checklist.ml_test_score import TESTS, ScoredTest
from taxiway.errors import TaxiwayError
from taxiway.store.evidence import AUTOMATIC_ORIGINS, Evidence


def explain(report: ChecklistReport, ref: str) -> list[str]:
    """The chain behind an item (``data.leakage``), a check (``data.leakage``'s check id) or a test (``I6``).

    Raises:
        TaxiwayError: ``ref`` names no item, check or ML Test Score test.

    Example:
        >>> from taxiway.charter import Charter
        >>> from taxiway.checklist.evaluate import evaluate_checklist
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> explain(evaluate_checklist(charter, {}), "deployment.ci")[:2]
        ['deployment.ci: We have CI in place.', 'state: ✗ missing']
    """
    wanted = ref.strip()
    results = [r for r in report.items if r.item.id == wanted]
    if not results:
        results = [
            r
            for r in report.items
            if isinstance(r.item.needs, Proves | AsksThenProves) and r.item.needs.check == wanted
        ]
    tests = [s for s in report.score.tests if s.test.id == wanted.upper() or wanted in s.test.checks]
    if not results and not tests:
        known = ", ".join(i.id for i in ITEMS[:3])
        raise TaxiwayError(
            f"'{ref}' is no checklist item, check or ML Test Score test",
            hint=f"name an item as `taxiway check --format json` lists it (e.g. {known}) or a test (D1..O7)",
        )
    lines: list[str] = []
    for result in results:
        lines += item_chain(result)
    for scored in tests:
        if lines:
            lines.append("")
        lines += test_chain(scored)
    return lines


def item_chain(result: ItemResult) -> list[str]:
    """The lines explaining one item."""
    lines = [f"{result.item.id}: {result.text}", f"state: {result.symbol} {result.state}"]
    if result.subject:
        lines.append(f"must be about: {result.subject}")
    for answered in result.answers:
        lines.append(f"answered in the charter: {answered.path} = {format_value(answered.value)}")
    for unanswered in result.unanswered:
        lines.append(f"unanswered in the charter: {unanswered.path}")
    if result.evidence is not None:
        lines += record_chain(result.evidence, result.judgement)
    if result.score is not None:
        scores = ", ".join(f"{k} {format_value(v)}" for k, v in result.score.items())
        lines.append(f"ML Test Score sections: {scores}")
    if result.how:
        lines.append(f"what to do: {result.how}")
    return lines


def test_chain(scored: ScoredTest) -> list[str]:
    """The lines explaining one ML Test Score test's points."""
    lines = [
        f"{scored.test.id}: {scored.test.text}",
        f"points: {format_value(scored.points)} ({scored.basis})",
    ]
    if scored.evidence is not None:
        lines += record_chain(scored.evidence, scored.judgement)
    if scored.attestation is not None:
        lines.append(f"attested by hand: {scored.attestation.describe()}")
    if scored.how:
        lines.append(f"what to do: {scored.how}")
    return lines


def record_chain(record: Evidence, judged: Judgement | None) -> list[str]:
    """Which record, what it measured, about what, when, by whom, against what, until when.

    Example:
        >>> e = Evidence("monitor.latency", "deployment", "v3", "pass", value=42.0, threshold=50.0,
        ...              comparison="<=", limit_key="serving.p99_latency_ms", id=7, origin="server",
        ...              recorded_at=dt.datetime(2027, 1, 2, tzinfo=dt.UTC))
        >>> record_chain(e, None)[:3]
        ['record: #7 monitor.latency (serving latency monitored)', 'measured: 42', 'about: deployment v3']
    """
    info = check_info(record.check_id)
    what = f" ({info.what})" if info else ""
    lines = [f"record: #{record.id} {record.check_id}{what}", f"measured: {_measured(record)}"]
    lines.append(f"about: {record.subject_kind} {record.subject_id}")
    lines.append(f"when: {_iso(record.recorded_at)}")
    automatic = "automatic: taxiway ran it unattended" if record.origin in AUTOMATIC_ORIGINS else "by hand"
    lines.append(f"origin: {record.origin} ({automatic})")
    started = {k: record.details[k] for k in ("commit", "run_id") if k in record.details}
    if started:
        lines.append("started by: " + ", ".join(f"{k} {v}" for k, v in started.items()))
    if record.status == "accepted":
        lines.append(f"accepted by {record.details.get('by')}: {record.details.get('reason')}")
    lines.append(f"threshold: {_threshold(record, judged)}")
    if record.details.get("warning"):
        lines.append(f"warning: {record.details['warning']}")
    if judged is not None:
        lines.append(f"judged now: {judged.verdict} ({judged.reason})")
    until = _iso(record.expires_at) if record.expires_at else "until a newer record about the same subject"
    lines.append(f"holds until: {until}")
    return lines


def _measured(record: Evidence) -> str:
    parts = [format_value(record.value) if record.value is not None else "no value recorded"]
    measured = record.measured
    if measured.sample_size is not None:
        parts.append(f"over {measured.sample_size} observations")
    if measured.window_start is not None or measured.window_end is not None:
        start = _iso(measured.window_start) if measured.window_start else "?"
        end = _iso(measured.window_end) if measured.window_end else "?"
        parts.append(f"from {start} to {end}")
    if measured.method:
        parts.append(f"by {measured.method}")
    return ", ".join(parts)


def _threshold(record: Evidence, judged: Judgement | None) -> str:
    if record.threshold is None or record.comparison is None:
        if record.threshold is not None:
            return f"{format_value(record.threshold)} (recorded verdict: {record.status})"
        return f"none recorded (recorded verdict: {record.status})"
    text = f"{record.comparison} {format_value(record.threshold)} when recorded"
    if record.limit_key:
        text += f"; charter key {record.limit_key}"
        if judged is not None and judged.threshold is not None:
            text += f" = {format_value(judged.threshold)} now"
    if record.warn_at is not None:
        text += f"; warns past {format_value(record.warn_at)}"
    return text


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


__all__ = ["TESTS", "explain", "item_chain", "record_chain", "test_chain"]
