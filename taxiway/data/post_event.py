"""Post-event columns by their missingness: filled in when the outcome happens, missing until then.

Rows whose target is missing are rows whose outcome is not known yet (a flight that never arrived, a loan
still running). A column missing on most of them and present on the others is recorded with the outcome, so
a model could not have it when it predicts. Used by :mod:`taxiway.data.proxies` when the charter says rows
are events (``data.time_column`` or ``problem.event``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from taxiway.data._frames import examples
from taxiway.data.findings import Finding
from taxiway.data.split import SplitFrames

# Missing on >= 80% of the rows whose target is missing and <= 10% of the others: filled in with the outcome
# (flights: the departure delay is missing on 85-89% of the flights that never arrived, on 0% of the others;
# diverted flights departed). When most columns do this, whole rows are missing: that says nothing about one.
MISSING_WITH_OUTCOME = 0.8
MISSING_WITH_OUTCOME_SOME = 0.5  # with a far-ahead score: flights' dep_delay is missing on 85% of them
MISSING_WITHOUT_OUTCOME = 0.1
MIN_UNKNOWN_ROWS = 20

__all__ = ["MISSING_WITHOUT_OUTCOME", "MISSING_WITH_OUTCOME", "Missingness", "outcome_missingness"]


@dataclass(frozen=True)
class Missingness:
    """Per column: (share missing where the target is missing, share missing elsewhere, rows of unknown
    outcome); empty when too few rows have an unknown outcome."""

    stats: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    target: str = ""
    unknown_rows: pd.DataFrame | None = None

    def tracks(self, column: str, share: float) -> bool:
        """Missing on at least ``share`` of the rows of unknown outcome, and rarely elsewhere."""
        if column not in self.stats:
            return False
        with_outcome, without, _ = self.stats[column]
        return with_outcome >= share and without <= MISSING_WITHOUT_OUTCOME

    def findings(self, excluded: set[str], events: str) -> list[Finding]:
        """A failing finding for each column filled in with the outcome (unless most columns are)."""
        matches = [c for c in self.stats if self.tracks(c, MISSING_WITH_OUTCOME)]
        if len(matches) > 0.8 * len(self.stats):
            return []  # whole rows are missing: that says nothing about one column
        found = []
        for column in matches:
            if column in excluded:
                continue
            share, other, unknown = self.stats[column]
            rows = self.unknown_rows if self.unknown_rows is not None else pd.DataFrame()
            found.append(
                Finding(
                    check="post_event",
                    verdict="fail",
                    message=f"'{column}' is missing on {share:.0%} of the {unknown:,} rows whose outcome is "
                    f"not known yet ('{self.target}' missing) and on {other:.1%} of the others: rows "
                    f"are events ({events}), and it is filled in when the outcome happens; add '{column}' "
                    "to data.drop_columns",
                    columns=(column,),
                    count=unknown,
                    examples=tuple(examples(rows, [column, self.target])),
                    figures={
                        "missing_unknown": share,
                        "missing_known": other,
                        "threshold": MISSING_WITH_OUTCOME,
                    },
                )
            )
        return found


def outcome_missingness(frames: SplitFrames, features: Sequence[str], target: str) -> Missingness:
    """How each feature's missingness follows the target's, over every row of the split.

    Example:
        >>> rows = pd.DataFrame({"late": [1.0, 0.0] * 15 + [None] * 20, "delay": [5.0] * 30 + [None] * 20})
        >>> frames = SplitFrames(rows, rows.iloc[:0], rows.iloc[:0])
        >>> outcome_missingness(frames, ["delay"], "late").stats["delay"]
        (1.0, 0.0, 20)
    """
    rows = pd.concat([frame[[*features, target]] for _, frame in frames.items()])
    unknown = rows[target].isna().to_numpy()
    if unknown.sum() < MIN_UNKNOWN_ROWS or unknown.all():
        return Missingness(target=target)
    stats = {}
    for column in features:
        missing = rows[column].isna().to_numpy()
        stats[column] = (float(missing[unknown].mean()), float(missing[~unknown].mean()), int(unknown.sum()))
    return Missingness(stats, target, rows[unknown])
