"""Evaluators: the charter and the latest evidence in, one typed report of every checklist item out."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from taxiway.charter import Charter
from taxiway.charter.model import answer
from taxiway.charter.questions import question
from taxiway.checklist.items import (
    CHECKS,
    ITEMS,
    SECTIONS,
    Asks,
    AsksThenProves,
    Item,
    Proves,
    Scores,
    ScoreSection,
    Section,
)
from taxiway.checklist.ml_test_score import REASONABLE_SECTION_SCORE, MLTestScore, score
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence

ItemState = Literal["proven", "answered", "missing", "failed"]
ITEM_STATES: tuple[ItemState, ...] = ("proven", "answered", "missing", "failed")
# "answered" gets its own mark: a written answer meets a "Before modelling" item, but is a claim, not proof.
SYMBOLS: Mapping[ItemState, str] = {"proven": "✓", "answered": "✎", "missing": "✗", "failed": "✗"}
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

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.state]


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
    charter: Charter, evidence: Mapping[str, Evidence], *, now: dt.datetime | None = None
) -> ChecklistReport:
    """Evaluate every checklist item and the ML Test Score from what is already recorded; nothing re-runs.

    Args:
        charter: the project's answers to the "Before modelling" questions, and its attestations.
        evidence: the latest record of each check, as ``EvidenceLog.latest()`` returns it.
        now: the report's time (UTC); the current time when omitted.

    Example:
        >>> charter = Charter.model_validate({"project": {"name": "x", "owner": "Ana"},
        ...                                   "problem": {"target": "y"}})
        >>> report = evaluate_checklist(charter, {})
        >>> [r.state for r in report.items if r.item.id == "project.owner"]
        ['answered']
        >>> report.summary["proven"], report.score.band
        (0, 'a research project, not production')
    """
    ml_score = score(charter, evidence)
    results = tuple(evaluate_item(item, charter, evidence, ml_score) for item in ITEMS)
    return ChecklistReport(
        project=charter.project.name,
        generated_at=now or dt.datetime.now(dt.UTC),
        items=results,
        score=ml_score,
    )


def evaluate_item(
    item: Item, charter: Charter, evidence: Mapping[str, Evidence], ml_score: MLTestScore
) -> ItemResult:
    """Evaluate one item by what it needs: charter answers, an evidence check, or ML Test Score sections.

    Example:
        >>> from taxiway.checklist.items import item
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> evaluate_item(item("deployment.ci"), charter, {}, score(charter, {})).how
        'run taxiway ci run'
    """
    needs = item.needs
    if isinstance(needs, Asks):
        return _asks(item, charter, needs.paths)
    if isinstance(needs, Proves):
        return _proves(item, evidence.get(needs.check), needs.check)
    if isinstance(needs, AsksThenProves):
        return _asks_then_proves(item, charter, needs, evidence.get(needs.check))
    return _scores(item, needs, ml_score)


def _asks(item: Item, charter: Charter, paths: tuple[str, ...]) -> ItemResult:
    answers, open_ = _read(charter, paths)
    if open_:
        return ItemResult(
            item, "missing", item.text, answers=answers, unanswered=open_, how=_how_to_answer(open_)
        )
    return ItemResult(item, "answered", item.text, answers=answers)


def _proves(item: Item, record: Evidence | None, check: Check) -> ItemResult:
    command = CHECKS[check].command
    if record is None:
        return ItemResult(item, "missing", item.text, how=f"run {command}")
    if record.status != "pass":
        return ItemResult(
            item,
            "failed",
            item.text,
            evidence=record,
            how=f"the latest record did not pass: fix what it found and re-run {command}",
        )
    return ItemResult(item, "proven", _completed_text(item, record), evidence=record)


def _asks_then_proves(
    item: Item, charter: Charter, needs: AsksThenProves, record: Evidence | None
) -> ItemResult:
    answers, open_ = _read(charter, (needs.path,))
    command = CHECKS[needs.check].command
    if open_:
        return ItemResult(
            item, "missing", item.text, evidence=record, unanswered=open_, how=_how_to_answer(open_)
        )
    if record is None:
        return ItemResult(
            item, "answered", item.text, answers=answers, how=f"prove the plan is followed: {command}"
        )
    if record.status != "pass":
        return ItemResult(
            item,
            "failed",
            item.text,
            evidence=record,
            answers=answers,
            how=f"the latest record did not pass: fix what it found and re-run {command}",
        )
    return ItemResult(item, "proven", item.text, evidence=record, answers=answers)


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
