"""Renderers of a checklist report: Rich for terminals, Markdown for docs and CI, a dict for JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from taxiway.checklist.evaluate import ChecklistReport, ItemResult, ItemState, format_value
from taxiway.checklist.items import check_info
from taxiway.checklist.judge import Judgement
from taxiway.checklist.ml_test_score import SCORE_SECTIONS, MLTestScore, ScoredTest
from taxiway.store.evidence import Evidence

_STYLES: dict[ItemState, str] = {
    "proven": "green",
    "accepted": "green",
    "answered": "cyan",
    "warned": "yellow",
    "stale": "magenta",
    "missing": "red",
    "failed": "red",
}
_POINT_STYLES = {1.0: "green", 0.5: "yellow", 0.0: "red"}


def to_json(report: ChecklistReport, *, required_score: float | None = None) -> dict[str, Any]:
    """The report as one JSON-ready document (keys documented in docs/checklist.md).

    Example:
        >>> import json
        >>> from taxiway.charter import Charter
        >>> from taxiway.checklist.evaluate import evaluate_checklist
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> doc = to_json(evaluate_checklist(charter, {}))
        >>> list(doc)
        ['project', 'generated_at', 'sections', 'ml_test_score', 'summary', 'required_score']
        >>> json.loads(json.dumps(doc))["ml_test_score"]["band"]
        'a research project, not production'
    """
    return {
        "project": report.project,
        "generated_at": _iso(report.generated_at),
        "sections": [
            {
                "key": section.key,
                "part": section.part,
                "name": section.name,
                "items": [_item_json(result) for result in results],
            }
            for section, results in report.sections()
        ],
        "ml_test_score": _score_json(report.score),
        "summary": dict(report.summary),
        "required_score": required_score,
    }


def to_markdown(report: ChecklistReport) -> str:
    """The report as Markdown: a task list per section, then the ML Test Score as a table.

    Example:
        >>> from taxiway.charter import Charter
        >>> from taxiway.checklist.evaluate import evaluate_checklist
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> to_markdown(evaluate_checklist(charter, {})).splitlines()[0]
        '# Checklist: x'
    """
    lines = [f"# Checklist: {report.project}", "", f"Generated at {_iso(report.generated_at)}.", ""]
    for section, results in report.sections():
        lines += [f"## {_heading(section.part, section.name)}", ""]
        for result in results:
            box = "x" if result.is_met else " "
            lines.append(f"- [{box}] {result.symbol} {_md(result.text)}")
            lines += [f"  - {_md(detail)}" for detail in _details(result)]
        lines.append("")
    lines += [
        "## ML Test Score",
        "",
        "| id | test | points | evidence or how to earn it |",
        "| --- | --- | ---: | --- |",
    ]
    for scored in report.score.tests:
        lines.append(
            f"| {scored.test.id} | {_md(scored.test.text)} | {format_value(scored.points)} | "
            f"{_md(_test_detail(scored))} |"
        )
    attested = _attested_lines(report.score)
    if attested:
        lines += ["", "Attested by hand (0.5 points each, not measured by taxiway):", ""]
        lines += [f"- {_md(line)}" for line in attested]
    lines += ["", _score_line(report.score), "", _summary_line(report), ""]
    return "\n".join(lines)


def to_rich(report: ChecklistReport) -> Group:
    """The report for a terminal: coloured marks per item, then the ML Test Score as a Rich table.

    Example:
        >>> from rich.console import Console
        >>> from taxiway.charter import Charter
        >>> from taxiway.checklist.evaluate import evaluate_checklist
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> console = Console(width=200, no_color=True)
        >>> with console.capture() as capture:
        ...     console.print(to_rich(evaluate_checklist(charter, {})))
        >>> "We have CI in place." in capture.get()
        True
    """
    parts: list[RenderableType] = [
        Text.assemble(
            ("Checklist: ", "bold"), (report.project, "bold"), f"  (generated {_iso(report.generated_at)})"
        )
    ]
    for section, results in report.sections():
        parts.append(Text(f"\n{_heading(section.part, section.name)}", style="bold underline"))
        for result in results:
            style = _STYLES[result.state]
            parts.append(Text.assemble("  ", (result.symbol, f"bold {style}"), " ", result.text))
            for detail in _details(result):
                parts.append(Text(f"      {detail}", style="dim" if result.is_met else style))
    table = Table(title="ML Test Score", title_justify="left", show_lines=False)
    for column, justify in (
        ("id", "left"),
        ("test", "left"),
        ("points", "right"),
        ("evidence or how", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for scored in report.score.tests:
        # Text, not str: a plain string cell is read as Rich markup, and "[attest]" would vanish.
        table.add_row(
            Text(scored.test.id),
            Text(scored.test.text),
            Text(format_value(scored.points), style=_POINT_STYLES.get(scored.points, "")),
            Text(_test_detail(scored)),
        )
    parts += [Text(""), table]
    attested = _attested_lines(report.score)
    if attested:
        parts.append(Text("Attested by hand (0.5 points each, not measured by taxiway):", style="bold"))
        parts += [Text(f"  {line}") for line in attested]
    parts += [Text(_score_line(report.score), style="bold"), Text(_summary_line(report))]
    return Group(*parts)


def describe_evidence(record: Evidence) -> str:
    """One line on a record: the check, what it verifies, on what, with what result, how it ran and when.

    Example:
        >>> import datetime as dt
        >>> e = Evidence(check_id="data.split", subject_kind="split", subject_id="ab12", status="pass",
        ...              value=0.8, origin="ci", recorded_at=dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
        >>> describe_evidence(e)
        'data.split (leakage-safe train/dev/test split made) on split ab12: pass, value 0.8; \
ci, 2027-01-02T03:04:05+00:00'
    """
    info = check_info(record.check_id)
    what = f" ({info.what})" if info else ""
    result: str = record.status
    if record.value is not None:
        result += f", value {format_value(record.value)}"
    if record.threshold is not None:
        result += f", threshold {format_value(record.threshold)}"
    line = (
        f"{record.check_id}{what} on {record.subject_kind} {record.subject_id}: {result}; "
        f"{record.origin}, {_iso(record.recorded_at)}"
    )
    if record.expires_at is not None:
        line += f", holds until {_iso(record.expires_at)}"
    return line


def _details(result: ItemResult) -> list[str]:
    """The lines under an item: its evidence, its answers, what is still open."""
    lines: list[str] = []
    if result.evidence is not None:
        lines.append(describe_evidence(result.evidence))
    judged = result.judgement
    if judged is not None and judged.verdict == "proven" and judged.charter_changed:
        lines.append(f"judged against the charter now: {judged.reason}")
    if result.answers:
        answered = "; ".join(f"{a.path} = {format_value(a.value)}" for a in result.answers)
        lines.append(f"answered in charter: {answered}")
    if result.score is not None:
        lines.append("ML Test Score " + ", ".join(f"{k} {format_value(v)}" for k, v in result.score.items()))
    if result.how:
        lines.append(result.how)
    return lines


def _test_detail(scored: ScoredTest) -> str:
    parts: list[str] = []
    if scored.evidence is not None:
        parts.append(describe_evidence(scored.evidence))
    if scored.attestation and scored.basis != "manual":
        parts.append(f"attested: {scored.attestation.describe()}")
    if scored.how:
        parts.append(scored.how)
    return " — ".join(parts)


def _item_json(result: ItemResult) -> dict[str, Any]:
    return {
        "id": result.item.id,
        "text": result.text,
        "state": result.state,
        "symbol": result.symbol,
        "evidence": _evidence_json(result.evidence),
        "answers": [{"path": a.path, "value": _jsonable(a.value)} for a in result.answers] or None,
        "unanswered": [{"path": u.path, "default": _jsonable(u.default)} for u in result.unanswered] or None,
        "how": result.how,
        "score": dict(result.score) if result.score is not None else None,
        "subject": result.subject,
        "judgement": _judgement_json(result.judgement),
    }


def _judgement_json(judged: Judgement | None) -> dict[str, Any] | None:
    if judged is None:
        return None
    return {
        "verdict": judged.verdict,
        "threshold_now": judged.threshold,
        "recorded_threshold": judged.recorded_threshold,
        "reason": judged.reason,
    }


def _score_json(ml_score: MLTestScore) -> dict[str, Any]:
    return {
        "tests": [
            {
                "id": s.test.id,
                "section": s.test.section,
                "text": s.test.text,
                "points": s.points,
                "basis": s.basis,
                "evidence": _evidence_json(s.evidence),
                "attestation": _attestation_json(s),
                "how": s.how,
            }
            for s in ml_score.tests
        ],
        "sections": dict(ml_score.sections),
        "final": ml_score.final,
        "band": ml_score.band,
        "weakest": ml_score.weakest,
    }


def _attested_lines(ml_score: MLTestScore) -> list[str]:
    return [
        f"{s.test.id}: {s.attestation.describe()}"
        for s in ml_score.tests
        if s.basis == "attested" and s.attestation
    ]


def _attestation_json(scored: ScoredTest) -> dict[str, Any] | None:
    if scored.attestation is None:
        return None
    return {
        "link": scored.attestation.link,
        "by": scored.attestation.by,
        "date": scored.attestation.date.isoformat(),
    }


def _evidence_json(record: Evidence | None) -> dict[str, Any] | None:
    if record is None:
        return None
    info = check_info(record.check_id)
    return {
        "check_id": record.check_id,
        "what": info.what if info else None,
        "subject_kind": record.subject_kind,
        "subject_id": record.subject_id,
        "status": record.status,
        "value": record.value,
        "threshold": record.threshold,
        "origin": record.origin,
        "is_automatic": record.is_automatic,
        "recorded_at": _iso(record.recorded_at),
        "expires_at": _iso(record.expires_at) if record.expires_at else None,
        "comparison": record.comparison,
        "limit_key": record.limit_key,
        "sample_size": record.measured.sample_size,
        "method": record.measured.method,
        "details": _jsonable(record.details),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _score_line(ml_score: MLTestScore) -> str:
    sections = ", ".join(
        f"{name} ({SCORE_SECTIONS[name]}) {format_value(points)}"
        for name, points in ml_score.sections.items()
    )
    return f"Sections: {sections}. Final (the lowest): {format_value(ml_score.final)}: {ml_score.band}."


def _summary_line(report: ChecklistReport) -> str:
    return "Items: " + ", ".join(f"{count} {state}" for state, count in report.summary.items()) + "."


def _heading(part: str, name: str) -> str:
    return name if part == name else f"{part}: {name}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _md(text: str) -> str:
    # Pipes would split a table cell; newlines would end a list item.
    return text.replace("|", "\\|").replace("\n", " ")
