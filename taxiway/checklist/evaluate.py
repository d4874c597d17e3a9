"""Evaluators: the charter and the latest evidence in, one typed report of every checklist item out."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from taxiway.charter import Charter
from taxiway.charter.model import answer
from taxiway.charter.questions import question
from taxiway.checklist.items import (
    CHECKS,
    ITEMS,
    NOT_YET,
    SECTIONS,
    Asks,
    AsksThenProves,
    Item,
    Proves,
    Scores,
    ScoreSection,
    Section,
)
from taxiway.checklist.judge import Judgement, judge
from taxiway.checklist.ml_test_score import REASONABLE_SECTION_SCORE, MLTestScore, score
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence

ItemState = Literal["proven", "accepted", "answered", "warned", "stale", "missing", "failed"]
ITEM_STATES: tuple[ItemState, ...] = (
    "proven",
    "accepted",
    "answered",
    "warned",
    "stale",
    "missing",
    "failed",
)
# Each state its own mark: a written answer (✎) meets a "Before modelling" item but is a claim, not proof;
# an accepted warning or failure (☑) is a person's decision, not a measurement; a warning (⚠) and an
# expired record (◷) prove nothing until fixed, accepted or measured again.
SYMBOLS: Mapping[ItemState, str] = {
    "proven": "✓",
    "accepted": "☑",
    "answered": "✎",
    "warned": "⚠",
    "stale": "◷",
    "missing": "✗",
    "failed": "✗",
}
MET: frozenset[ItemState] = frozenset({"proven", "accepted", "answered"})
_TABLES: Mapping[tuple[ScoreSection, ...], str] = {("M",): "table 2", ("I", "O"): "tables 3-4"}


@dataclass(frozen=True)
class Answer:
    """A charter answer shown next to the item it meets."""

    path: str
    value: object


@dataclass(frozen=True)
class Unanswered:
    """A charter question still open, and the value taxiway uses until it is answered (None: no default)."""

    path: str
    default: object | None


@dataclass(frozen=True)
class ItemResult:
    """Where one checklist item stands, and why.

    ``text`` is the seed's wording, completed where evidence fills a blank (the metrics page's url).
    """

    item: Item
    state: ItemState
    text: str
    evidence: Evidence | None = None
    answers: tuple[Answer, ...] = ()
    unanswered: tuple[Unanswered, ...] = ()
    how: str | None = None
    score: Mapping[ScoreSection, float] | None = None
    judgement: Judgement | None = None
    subject: str | None = None  # what the item's evidence must be about, in words

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.state]

    @property
    def is_met(self) -> bool:
        """Whether the item counts as done: proven, accepted by a person, or answered in the charter."""
        return self.state in MET


@dataclass(frozen=True)
class ChecklistReport:
    """The whole checklist and the ML Test Score of one project at one moment."""

    project: str
    generated_at: dt.datetime
    items: tuple[ItemResult, ...]
    score: MLTestScore

    def sections(self) -> tuple[tuple[Section, tuple[ItemResult, ...]], ...]:
        """The items grouped under their seed headings, in the seed's order."""
        return tuple((s, tuple(r for r in self.items if r.item.section == s.key)) for s in SECTIONS)

    @property
    def summary(self) -> dict[ItemState, int]:
        """How many items are in each state (every state listed, zeros included)."""
        counts = Counter(result.state for result in self.items)
        return {state: counts[state] for state in ITEM_STATES}


def evaluate_checklist(
    charter: Charter,
    evidence: Mapping[str, Evidence],
    *,
    now: dt.datetime | None = None,
    context: Context | None = None,
) -> ChecklistReport:
    """Evaluate every checklist item and the ML Test Score from what is already recorded; nothing re-runs.

    Each record is judged again against the charter as it is now and the clock (:mod:`.judge`).

    Args:
        charter: the project's answers to the "Before modelling" questions, and its attestations.
        evidence: the record of each check that counts: about the subject the check must be about
            (``bound.bind`` picks them); tests hand in records directly.
        now: the report's time (UTC); the current time when omitted.
        context: why no record counts where none does, the subjects in words, the ML Test Score's records.

    Example:
        >>> charter = Charter.model_validate({"project": {"name": "x", "owner": "Ana"},
        ...                                   "problem": {"target": "y"}})
        >>> report = evaluate_checklist(charter, {})
        >>> [r.state for r in report.items if r.item.id == "project.owner"]
        ['answered']
        >>> report.summary["proven"], report.score.band
        (0, 'a research project, not production')
    """
    moment = now or dt.datetime.now(dt.UTC)
    context = context or Context()
    score_records = evidence if context.score_evidence is None else context.score_evidence
    ml_score = score(charter, score_records, now=moment, notes=context.notes)
    results = tuple(
        evaluate_item(item, charter, evidence, ml_score, now=moment, context=context) for item in ITEMS
    )
    return ChecklistReport(
        project=charter.project.name,
        generated_at=moment,
        items=results,
        score=ml_score,
    )


@dataclass(frozen=True)
class Context:
    """What the checklist knows beyond the records: why none counts for a check, each check's subject."""

    notes: Mapping[str, str] = field(default_factory=dict)
    subjects: Mapping[str, str] = field(default_factory=dict)
    score_evidence: Mapping[str, Evidence] | None = None


def evaluate_item(
    item: Item,
    charter: Charter,
    evidence: Mapping[str, Evidence],
    ml_score: MLTestScore,
    *,
    now: dt.datetime | None = None,
    context: Context | None = None,
) -> ItemResult:
    """Evaluate one item by what it needs: charter answers, an evidence check, or ML Test Score sections.

    Example:
        >>> from taxiway.checklist.items import item
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> evaluate_item(item("deployment.ci"), charter, {}, score(charter, {})).state
        'missing'
    """
    needs = item.needs
    context = context or Context()
    if isinstance(needs, Asks):
        return _asks(item, charter, needs.paths)
    if isinstance(needs, Proves | AsksThenProves):
        record = evidence.get(needs.check)
        judged = judge(record, charter, now) if record is not None else None
        subject = context.subjects.get(needs.check)
        if isinstance(needs, Proves):
            result = _proves(item, judged, needs.check, context.notes.get(needs.check))
        else:
            result = _asks_then_proves(item, charter, needs, judged, context.notes.get(needs.check))
        return replace(result, subject=subject)
    return _scores(item, needs, ml_score)


def _asks(item: Item, charter: Charter, paths: tuple[str, ...]) -> ItemResult:
    answers, open_ = _read(charter, paths)
    if open_:
        return ItemResult(
            item, "missing", item.text, answers=answers, unanswered=open_, how=_how_to_answer(open_)
        )
    return ItemResult(item, "answered", item.text, answers=answers)


def _proves(item: Item, judged: Judgement | None, check: Check, note: str | None) -> ItemResult:
    command = CHECKS[check].command
    if judged is None:
        how = f"{note}; run {command}" if note else f"run {command}"
        return ItemResult(item, "missing", item.text, how=how)
    text = _completed_text(item, judged.record) if judged.verdict == "proven" else item.text
    return ItemResult(
        item, judged.verdict, text, evidence=judged.record, how=how_to_fix(judged, check), judgement=judged
    )


def _asks_then_proves(
    item: Item, charter: Charter, needs: AsksThenProves, judged: Judgement | None, note: str | None
) -> ItemResult:
    answers, open_ = _read(charter, (needs.path,))
    command = CHECKS[needs.check].command
    if open_:
        record = judged.record if judged else None
        return ItemResult(
            item, "missing", item.text, evidence=record, unanswered=open_, how=_how_to_answer(open_)
        )
    if judged is None:
        how = f"prove the plan is followed: {command}" + (f" ({note})" if note else "")
        return ItemResult(item, "answered", item.text, answers=answers, how=how)
    return ItemResult(
        item,
        judged.verdict,
        item.text,
        evidence=judged.record,
        answers=answers,
        how=how_to_fix(judged, needs.check),
        judgement=judged,
    )


def how_to_fix(judged: Judgement, check: Check | str) -> str | None:
    """What the person reading the checklist can do about a judgement; None when it holds as measured.

    Example:
        >>> e = Evidence("model.slices", "model", "v2", "warn", details={"warning": "one slice is thin"})
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> how_to_fix(judge(e, charter), "model.slices")
        'warned (recorded warn: one slice is thin): not proven until fixed and re-run (taxiway validate), \
or accepted: taxiway accept model.slices --reason TEXT'
    """
    info = CHECKS.get(Check(check)) if check in set(Check) else None
    command = info.command if info else "the command that records it"
    accept = f"taxiway accept {check} --reason TEXT"
    if judged.verdict == "failed":
        return f"failed ({judged.reason}): fix what it found and re-run {command}, or accept it: {accept}"
    if judged.verdict == "warned":
        return (
            f"warned ({judged.reason}): not proven until fixed and re-run ({command}), or accepted: {accept}"
        )
    if judged.verdict == "stale":
        return f"stale ({judged.reason}): it proves nothing until measured again: {command}"
    if judged.verdict == "accepted":
        details = judged.record.details
        return f"accepted by {details.get('by', 'someone')}: {details.get('reason', '')}"
    return None


def _scores(item: Item, needs: Scores, ml_score: MLTestScore) -> ItemResult:
    sections = {name: ml_score.sections[name] for name in needs.sections}
    short = [name for name, points in sections.items() if points < REASONABLE_SECTION_SCORE]
    if not short:
        return ItemResult(item, "proven", item.text, score=sections)
    how = (
        f"reach {format_value(REASONABLE_SECTION_SCORE)} points in ML Test Score section "
        f"{' and '.join(short)} ({_TABLES[needs.sections]}): the score table says how to earn each point"
    )
    return ItemResult(item, "missing", item.text, how=how, score=sections)


def _read(charter: Charter, paths: tuple[str, ...]) -> tuple[tuple[Answer, ...], tuple[Unanswered, ...]]:
    """Split the paths that apply to the charter's task into answered and open ones."""
    task = charter.problem.task
    answered: list[Answer] = []
    open_: list[Unanswered] = []
    for path in paths:
        asked = question(path)
        if asked.task not in (None, task):
            continue
        value = answer(charter, path)
        if value is None:
            open_.append(Unanswered(path, asked.default_value(task)))
        else:
            answered.append(Answer(path, value))
    return tuple(answered), tuple(open_)


def _run(command: str, *, again: bool = False) -> str:
    """``run taxiway X``, or the hint's own words when no command records the check yet."""
    if command.startswith(NOT_YET):
        return command
    return f"{'re-run' if again else 'run'} {command}"


def _how_to_answer(open_: tuple[Unanswered, ...]) -> str:
    keys = [
        u.path if u.default is None else f"{u.path} (default in use: {format_value(u.default)})"
        for u in open_
    ]
    return f"answer {', '.join(keys)} in taxiway.toml"


def _completed_text(item: Item, record: Evidence) -> str:
    # The seed leaves the metrics page's address blank ("... and the url is"); the evidence fills it in.
    url = record.details.get("url")
    if record.check_id == Check.UI_SERVED and url:
        return f"{item.text} {url}"
    return item.text


def format_value(value: object) -> str:
    """A charter value as people read it: lists joined, dates in ISO 8601, floats without trailing zeros.

    Example:
        >>> format_value(["Ana", "Bo"]), format_value(1024.0), format_value(dt.date(2027, 1, 31))
        ('Ana, Bo', '1024', '2027-01-31')
    """
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
