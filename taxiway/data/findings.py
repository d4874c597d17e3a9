"""Findings: what a data check found, and its verdict, as records the CLI renders and the evidence stores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from taxiway.data._frames import Scalar
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Status

# pass: nothing wrong. warn: worth a look, not proof of a problem. fail: the check's claim does not hold.
# skipped: the check does not apply (e.g. group overlap without a group column).
Verdict = Literal["pass", "warn", "fail", "skipped"]
_SEVERITY: dict[Verdict, int] = {"skipped": 0, "pass": 1, "warn": 2, "fail": 3}

__all__ = ["CheckReport", "Finding", "SubCheck", "Verdict", "worst"]


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe verdict (fail > warn > pass > skipped); pass for none.

    Example:
        >>> worst(["pass", "warn", "skipped"]), worst([])
        ('warn', 'pass')
    """
    return max(verdicts, key=_SEVERITY.__getitem__, default="pass")


@dataclass(frozen=True)
class Finding:
    """One problem found: which columns, how many rows, a few example rows, and how serious it is.

    Example:
        >>> f = Finding("id_like", "warn", "column 'id' is unique per row", columns=("id",), count=150)
        >>> f.document()["count"]
        150
    """

    check: str
    verdict: Verdict
    message: str
    columns: tuple[str, ...] = ()
    count: int | None = None
    examples: tuple[dict[str, Scalar], ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The finding as JSON (keys documented in docs/cli.md)."""
        return {
            "check": self.check,
            "verdict": self.verdict,
            "message": self.message,
            "columns": list(self.columns),
            "count": self.count,
            "examples": [dict(row) for row in self.examples],
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class SubCheck:
    """One part of a check (e.g. the duplicate rows part of leakage), with its own verdict."""

    name: str
    verdict: Verdict
    summary: str
    findings: tuple[Finding, ...] = ()

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "summary": self.summary,
            "findings": [finding.document() for finding in self.findings],
        }


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one evidence check on one split: verdict, figures and findings.

    ``figures`` are the key numbers as (label, text) for people; ``details`` is the same content as JSON,
    stored as the evidence record's details and printed by ``taxiway data check --format json``. ``value``
    is what was measured and ``limit`` what it is judged against; ``warn`` (a reason) turns a pass into a
    warning, which is not proof until someone accepts it.

    Example:
        >>> report = CheckReport(Check.DATA_LEAKAGE, "warn", "id-like column", value=0.0,
        ...                      limit=Limit(0.0, "<="), warn="warnings: id_like")
        >>> report.status, report.threshold
        ('warn', 0.0)
    """

    check: Check
    verdict: Verdict
    summary: str
    value: float = 0.0
    limit: Limit = field(default_factory=lambda: Limit(0, "<="))
    warn: str | None = None
    figures: tuple[tuple[str, str], ...] = ()
    parts: tuple[SubCheck, ...] = ()
    findings: tuple[Finding, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def threshold(self) -> float:
        return self.limit.threshold

    @property
    def status(self) -> Status:
        """The judgement the evidence stores: ``value`` against ``limit``; a warning is not a pass."""
        return self.limit.judge(self.value, warn=self.warn)

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        return self.findings + tuple(f for part in self.parts for f in part.findings)

    def document(self) -> dict[str, Any]:
        """The report as JSON (keys documented in docs/cli.md)."""
        return {
            "check_id": str(self.check),
            "status": self.status,
            "verdict": self.verdict,
            "summary": self.summary,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.limit.comparison,
            "limit_key": self.limit.key,
            "warning": self.warn,
            "details": self.details,
            "parts": [part.document() for part in self.parts],
            "findings": [finding.document() for finding in self.findings],
            "notes": list(self.notes),
        }
