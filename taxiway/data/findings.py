"""Findings: what a data check found, and its verdict, as records the CLI renders and the evidence stores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from taxiway.data._frames import Scalar
from taxiway.store.checks import Check
from taxiway.store.evidence import Status

# pass: nothing wrong. warn: worth a look, not proof of a problem. fail: the check's claim does not hold.
# expected_shift: dev and test differ as a time split makes them differ (see taxiway.data.distribution).
# skipped: the check does not apply (e.g. group overlap without a group column).
Verdict = Literal["pass", "warn", "fail", "expected_shift", "skipped"]
_SEVERITY: dict[Verdict, int] = {"skipped": 0, "pass": 1, "expected_shift": 2, "warn": 3, "fail": 4}

__all__ = ["CheckReport", "Finding", "SubCheck", "Verdict", "worst"]


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe verdict (fail > warn > expected_shift > pass > skipped); pass for none.

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
    stored as the evidence record's details and printed by ``taxiway data check --format json``.
    """

    check: Check
    verdict: Verdict
    summary: str
    value: float | None = None
    threshold: float | None = None
    figures: tuple[tuple[str, str], ...] = ()
    parts: tuple[SubCheck, ...] = ()
    findings: tuple[Finding, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    evidence_status: Status | None = None  # set when a warning must not count as proof (see status)

    @property
    def status(self) -> Status:
        """The evidence status: only a failed check fails; warnings and an expected shift still pass.

        The checklist counts only "pass" as proof; a warning is not proof that something is wrong, so it
        is listed in the details instead of withholding the proof. A check whose claim cannot be judged
        (dev-set power with no smallest improvement stated) sets ``evidence_status`` to "warn" instead.
        """
        if self.evidence_status is not None:
            return self.evidence_status
        return "fail" if self.verdict == "fail" else "pass"

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
            "details": self.details,
            "parts": [part.document() for part in self.parts],
            "findings": [finding.document() for finding in self.findings],
            "notes": list(self.notes),
        }
