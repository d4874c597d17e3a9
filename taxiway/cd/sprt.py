"""Wald's sequential probability ratio test on a rate: is the canary's bad-answer rate live's, or worse?

H0: the canary answers badly (server error or fallback) as often as live, ``p0``; H1: as often as
``p0 + worse_by``. After each answer the log-likelihood ratio moves; it stops when it crosses
``log((1 - beta) / alpha)`` (H1: roll back) or ``log(beta / (1 - alpha))`` (H0: promote). It needs on
average far fewer answers than a fixed-size test of the same risks, and it says when it has seen enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Decision = Literal["worse", "as_good", "continue"]
_FLOOR = 1e-3  # a live rate of exactly 0 would make one bad canary answer infinitely telling


@dataclass(frozen=True)
class Sprt:
    """The test's state after ``n`` answers with ``bad`` bad ones, and its decision.

    Example:
        >>> sprt(bad=0, n=400, p0=0.01, worse_by=0.05, alpha=0.01, beta=0.05).decision
        'as_good'
        >>> sprt(bad=30, n=200, p0=0.01, worse_by=0.05, alpha=0.01, beta=0.05).decision
        'worse'
        >>> sprt(bad=1, n=10, p0=0.01, worse_by=0.05, alpha=0.01, beta=0.05).decision
        'continue'
    """

    n: int
    bad: int
    p0: float
    p1: float
    llr: float
    upper: float  # cross it: worse (H1)
    lower: float  # cross it: as good (H0)

    @property
    def decision(self) -> Decision:
        if self.llr >= self.upper:
            return "worse"
        if self.llr <= self.lower:
            return "as_good"
        return "continue"


def sprt(*, bad: int, n: int, p0: float, worse_by: float, alpha: float, beta: float) -> Sprt:
    """The SPRT of ``bad`` bad answers in ``n`` against live's rate ``p0`` (floored at 0.1%)."""
    if n < 0 or not 0 <= bad <= n:
        raise ValueError(f"bad answers ({bad}) must be between 0 and the answers counted ({n})")
    p0 = min(max(p0, _FLOOR), 1 - 2 * _FLOOR)
    p1 = min(p0 + worse_by, 1 - _FLOOR)
    llr = bad * math.log(p1 / p0) + (n - bad) * math.log((1 - p1) / (1 - p0))
    return Sprt(n, bad, p0, p1, llr, math.log((1 - beta) / alpha), math.log(beta / (1 - alpha)))


def answers_to_decide(p0: float, worse_by: float, alpha: float, beta: float) -> int:
    """Answers without a bad one that take the test to ``as_good`` from nothing (its shortest path).

    Example:
        >>> answers_to_decide(0.01, 0.05, 0.01, 0.05)
        58
    """
    step = sprt(bad=0, n=1, p0=p0, worse_by=worse_by, alpha=alpha, beta=beta)
    return math.ceil(step.lower / step.llr)
