"""Duplicates inside the data: rows copied exactly, the same features under different labels, and rows of a
group or time split that repeat a train row but for the columns the split keeps apart.

A split keyed by row content keeps exact copies in one split, so the cross-split checks in
:mod:`taxiway.data.leakage` never see them; they still weigh a row twice in training and in the validation
score, and often mean a join or an export ran twice. Identical features under different labels are label
noise (or a missing column that tells the rows apart). Both are counted and shown with examples when a
version is added and when a split is checked: a warning, since neither moves information across splits.

Under a group or time split, a validation or test row that equals a train row on every column but the
group, time and key columns is the same record under another group or at another time: above
:data:`DUPLICATE_SHARE_MAX` of a split this fails a group split (the groups do not keep the records apart)
and warns for a time split (a record that recurs in time is what production sees).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from taxiway.data._frames import Scalar, examples
from taxiway.data._row_hashes import RowHashes, isin
from taxiway.data.findings import Finding, SubCheck, Verdict, worst

if TYPE_CHECKING:  # taxiway.data.versions counts duplicates when a version is added; split imports versions
    from taxiway.data.split import SplitFrames, SplitName

# Past 1% of a split's rows repeated from another split, its metric moves by about as much as the smallest
# gains teams chase; below it a few coincidental repeats (small categorical data) are only worth a look.
DUPLICATE_SHARE_MAX = 0.01
_SHOWN_COLUMNS = 8  # columns in an example row; JSON readers get the columns list
_LATER: tuple[tuple[SplitName, SplitName], ...] = (("train", "valid"), ("train", "test"))

__all__ = ["DUPLICATE_SHARE_MAX", "Duplicates", "count_duplicates", "duplicates_within", "near_duplicates"]


@dataclass(frozen=True)
class Duplicates:
    """Exact copies among ``rows`` rows, and rows whose features repeat under another label.

    ``copies`` counts the rows beyond the first of each group of identical rows; ``conflicting`` counts
    every row of a group of identical features that holds more than one label.
    """

    rows: int
    copies: int
    conflicting: int
    conflicting_groups: int
    copy_examples: tuple[dict[str, Scalar], ...] = ()
    conflict_examples: tuple[dict[str, Scalar], ...] = ()

    @property
    def copy_share(self) -> float:
        return self.copies / self.rows if self.rows else 0.0

    @property
    def conflicting_share(self) -> float:
        return self.conflicting / self.rows if self.rows else 0.0

    def messages(self, target: str | None) -> list[str]:
        """One sentence per problem found, saying what to do; empty when there is none."""
        out = []
        if self.copies:
            out.append(
                f"{_rows(self.copies)} ({self.copy_share:.1%}) "
                f"{'is an exact copy' if self.copies == 1 else 'are exact copies'} of another row: copies "
                "weigh a row twice in training and in the validation score; drop them (pandas "
                "drop_duplicates) unless each is a real event, and then keep the column that tells them "
                "apart (a time, an id)"
            )
        if self.conflicting and target is not None:
            out.append(
                f"{_rows(self.conflicting)} ({self.conflicting_share:.1%}, {self.conflicting_groups:,} "
                f"groups) share every feature with a row of another '{target}': no model can tell them "
                "apart; check how those labels were made, or add the column that explains the difference"
            )
        return out

    def document(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "copies": self.copies,
            "copy_share": self.copy_share,
            "conflicting": self.conflicting,
            "conflicting_groups": self.conflicting_groups,
            "conflicting_share": self.conflicting_share,
            "copy_examples": [dict(row) for row in self.copy_examples],
            "conflict_examples": [dict(row) for row in self.conflict_examples],
        }


def count_duplicates(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    skip: Sequence[str | None] = (),
    hashes: RowHashes | None = None,
) -> Duplicates:
    """Count exact copies and (with ``target``) conflicting labels in ``frame``; ``skip`` columns are ignored.

    Example:
        >>> frame = pd.DataFrame({"x": [1, 1, 2, 2, 3], "y": [0, 0, 0, 1, 1]})
        >>> found = count_duplicates(frame, target="y")
        >>> found.copies, found.conflicting, found.conflicting_groups
        (1, 2, 1)
    """
    columns = [str(c) for c in frame.columns if c not in set(skip)]
    rows = hashes or RowHashes({"all": frame})
    whole = rows.of("all", columns)
    repeated = pd.Series(whole).duplicated().to_numpy()
    copies = int(repeated.sum())
    shown = columns[:_SHOWN_COLUMNS]
    in_copies = isin(whole, whole[repeated]) if copies else np.zeros(len(frame), dtype=bool)
    copy_rows = frame[in_copies]
    conflicting, groups, conflict_rows = 0, 0, frame.iloc[:0]
    if target is not None and target in columns and len(columns) > 1:
        features = [c for c in columns if c != target]
        keys = pd.Series(rows.of("all", features))
        labels = pd.Series(rows.of("all", [target]))
        distinct = labels.groupby(keys.to_numpy()).nunique()
        mixed = distinct.index[distinct.to_numpy() > 1]
        in_mixed = keys.isin(mixed).to_numpy()
        conflicting, groups = int(in_mixed.sum()), len(mixed)
        if groups:
            first = keys.to_numpy() == mixed[0]
            conflict_rows = frame[first]
        shown = [target, *[c for c in shown if c != target]][:_SHOWN_COLUMNS]
    return Duplicates(
        rows=len(frame),
        copies=copies,
        conflicting=conflicting,
        conflicting_groups=groups,
        copy_examples=tuple(examples(_sorted(copy_rows, whole[in_copies]), shown)),
        conflict_examples=tuple(examples(conflict_rows, shown)),
    )


def duplicates_within(
    rows: pd.DataFrame, settings: dict[str, Any], hashes: RowHashes | None = None
) -> SubCheck:
    """Exact copies and conflicting labels among all the split's ``rows``, judged as warnings.

    ``hashes`` may carry the rows' column hashes already computed (under the name "all").
    """
    target = settings["target"]
    found = count_duplicates(rows, target=target, skip=(settings.get("key_column"),), hashes=hashes)
    findings = []
    messages = found.messages(target)
    if found.copies:
        findings.append(
            Finding(
                check="exact_copies",
                verdict="warn",
                message=messages[0],
                count=found.copies,
                examples=found.copy_examples,
                figures={"share": found.copy_share},
            )
        )
    if found.conflicting:
        findings.append(
            Finding(
                check="conflicting_labels",
                verdict="warn",
                message=messages[-1],
                columns=(target,),
                count=found.conflicting,
                examples=found.conflict_examples,
                figures={"share": found.conflicting_share, "groups": found.conflicting_groups},
            )
        )
    summary = "; ".join(f.message.split(":")[0] for f in findings) or "no row is a copy of another"
    return SubCheck("duplicates_within", worst(f.verdict for f in findings), summary, tuple(findings))


def near_duplicates(
    frames: SplitFrames, settings: dict[str, Any], strategy: str, row_hashes: RowHashes | None = None
) -> SubCheck:
    """Validation and test rows equal to a train row on every column but the key, group and time columns."""
    if strategy not in ("group", "time"):
        return SubCheck(
            "near_duplicates", "skipped", "a random split: rows are compared whole (duplicate_rows)"
        )
    apart = {settings.get("key_column"), settings.get("group_column"), settings.get("time_column")}
    columns = [str(c) for c in frames.train.columns if c not in apart]
    if not columns:
        return SubCheck("near_duplicates", "skipped", "no column beyond the key, group and time columns")
    cache = row_hashes or RowHashes(dict(frames.items()))
    hashes = {name: cache.of(name, columns) for name, _ in frames.items()}
    parts = dict(frames.items())
    verdict: Verdict = "fail" if strategy == "group" else "warn"
    split_by = settings.get("group_column") if strategy == "group" else settings.get("time_column")
    findings = []
    for earlier, later in _LATER:
        repeated = isin(hashes[later], hashes[earlier])
        count = int(repeated.sum())
        if count == 0:
            continue
        share = count / len(parts[later])
        findings.append(
            Finding(
                check="near_duplicates",
                verdict=verdict if share > DUPLICATE_SHARE_MAX else "warn",
                message=f"{count:,} {later} rows ({share:.1%}) repeat a {earlier} row on every column but "
                f"'{split_by}'"
                + (
                    ": the same record under another group; find why it repeats, or split by a coarser group"
                    if strategy == "group"
                    else ": a record that recurs in time, as production will see it"
                ),
                columns=tuple(columns),
                count=count,
                examples=tuple(examples(parts[later][repeated], [str(split_by), *columns][:_SHOWN_COLUMNS])),
                figures={"splits": [earlier, later], "share": share},
            )
        )
    summary = "; ".join(f.message for f in findings) or f"no row repeats a train row but for '{split_by}'"
    return SubCheck("near_duplicates", worst(f.verdict for f in findings), summary, tuple(findings))


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def _sorted(frame: pd.DataFrame, keys: np.ndarray) -> pd.DataFrame:
    """Rows of one copy group next to each other, so an example shows a row and its copy."""
    return frame.iloc[np.argsort(keys, kind="stable")]
