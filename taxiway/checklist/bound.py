"""The records the checklist reads: for each check, the newest record about the subject it must be about.

"The latest judgement for a subject wins": a failure about the live model is undone only by a newer pass
about that same model, never by a pass about another one; evidence about another subject is set aside, and
the checklist says which subject it still needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from taxiway.charter import Charter
from taxiway.checklist.evaluate import ChecklistReport, Context, evaluate_checklist
from taxiway.checklist.subjects import BEFORE_LIVE, BINDINGS, Subjects, resolve
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence, EvidenceLog

# How far back in one check's records the binding looks for one about the right subject.
_HISTORY = 500


@dataclass(frozen=True)
class Bound:
    """The records that count, per check, and why none counts where none does."""

    subjects: Subjects
    records: Mapping[str, Evidence] = field(default_factory=dict)
    # deploy.shadow / deploy.canary about the live version, made before it went live (ML Test Score I6)
    before_live: Mapping[str, Evidence] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def for_score(self) -> dict[str, Evidence]:
        """The records the ML Test Score reads: I6's checks only count before the version went live."""
        chosen = {k: v for k, v in self.records.items() if k not in BEFORE_LIVE}
        return {**chosen, **self.before_live}


def bind(history: Mapping[str, Sequence[Evidence]], subjects: Subjects) -> Bound:
    """Pick, from each check's records (newest first), the newest one about the subject it must be about.

    Example:
        >>> from taxiway.checklist.subjects import Subject
        >>> subjects = Subjects(project=Subject("project", "x", "project x"),
        ...                     model=Subject("model", "v2", "model v2", names=(("run", "r-2"),)))
        >>> old = Evidence("model.reproduced", "run", "r-2", "fail")
        >>> baseline = Evidence("model.reproduced", "run", "r-base", "pass")
        >>> bound = bind({"model.reproduced": [baseline, old]}, subjects)  # newest first
        >>> bound.records["model.reproduced"].status
        'fail'
    """
    records: dict[str, Evidence] = {}
    notes: dict[str, str] = {}
    before_live: dict[str, Evidence] = {}
    for check in Check:
        found = list(history.get(check, ()))
        subject = subjects.subject_for(check)
        if subject is not None and subject.gone:
            notes[check] = f"{subject.label}: {subject.gone}"
            continue
        record = next((r for r in found if subjects.about(check, r)), None)
        if record is not None:
            records[check] = record
        elif BINDINGS.get(check) not in (None, "any"):
            notes[check] = _why_none(check, subjects, found)
        if check in BEFORE_LIVE:
            early = _before_live(check, subjects, found)
            if early is not None:
                before_live[check] = early
    return Bound(subjects=subjects, records=records, before_live=before_live, notes=notes)


def bind_store(store: Store, charter: Charter, root: Path | None) -> Bound:
    """Resolve the project's subjects and bind each check's records from the store's evidence log."""
    subjects = resolve(store, charter, root)
    return bind(histories(store.evidence), subjects)


def histories(log: EvidenceLog) -> dict[str, list[Evidence]]:
    """Each check's recent records, newest first."""
    return {check.value: log.history(check, limit=_HISTORY) for check in Check}


def why_not_before_live(subjects: Subjects) -> str:
    """What ML Test Score I6 still needs, in words."""
    model = subjects.model
    if subjects.live_since is None or model is None:
        return "nothing is live yet: shadow or canary a version, then make it live (taxiway promote)"
    went_live = subjects.live_since.astimezone(dt.UTC).isoformat(timespec="seconds")
    return f"no shadow or canary of {model.label} recorded before it went live ({went_live})"


def _before_live(check: Check, subjects: Subjects, found: Sequence[Evidence]) -> Evidence | None:
    model, since = subjects.model, subjects.live_since
    if model is None or model.gone or since is None:
        return None
    return next((r for r in found if model.is_named(r) and r.recorded_at < since), None)


def _why_none(check: Check, subjects: Subjects, found: Sequence[Evidence]) -> str:
    wanted = subjects.describe(check)
    if BINDINGS.get(check) != "commit" and subjects.subject_for(check) is None:
        return wanted  # the subject does not exist yet: say how to make it
    if not found:
        return f"no record yet about {wanted}"
    newest = found[0]
    return (
        f"the newest record is about {newest.subject_kind} {newest.subject_id}, which does not count: "
        f"it must be about {wanted}"
    )


def checklist_of(
    store: Store, charter: Charter, root: Path | None, *, now: dt.datetime | None = None
) -> ChecklistReport:
    """The project's checklist now: subjects resolved, each check's records bound to them, judged now.

    ``taxiway check``, ``taxiway accept`` and the dashboard all read the checklist through this function.
    """
    bound = bind_store(store, charter, root)
    return evaluate_bound(charter, bound, now=now)


def evaluate_bound(charter: Charter, bound: Bound, *, now: dt.datetime | None = None) -> ChecklistReport:
    """Evaluate the checklist from bound records (``bind``), with the notes on what does not count."""
    notes = dict(bound.notes)
    if not bound.before_live:
        notes["I6"] = why_not_before_live(bound.subjects)
    context = Context(
        notes=notes,
        subjects={check.value: bound.subjects.describe(check) for check in Check},
        score_evidence=bound.for_score,
    )
    return evaluate_checklist(charter, bound.records, now=now, context=context)
