"""The smallest improvement that matters: derived from the dev set when the charter is silent, and what to do
when the dev set cannot show the one the charter asks for.

A fixed default cannot fit every metric: 0.005 of ROC AUC needs ~90,000 validation rows on census data, and
0.005 of an RMSE in dollars is no gain at all. So an unanswered ``problem.smallest_improvement`` becomes the
smallest gain the validation rows can detect (their minimum detectable effect, see
:mod:`taxiway.data.power`), rounded up to two significant digits: a gain training and validation can
actually show. The dev-set power check then records a warning, not proof, until the charter answers.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from taxiway.charter import Charter

# More than half the rows for validation starves training; the charter also refuses valid + test >= 0.9.
MAX_VALID_FRACTION = 0.5

__all__ = ["MAX_VALID_FRACTION", "Advice", "advise", "derived_improvement", "improvement_inputs"]


def derived_improvement(mde: float) -> float:
    """The MDE rounded up to two significant digits: the derived smallest improvement.

    Example:
        >>> derived_improvement(0.01734), derived_improvement(1234.5), derived_improvement(0.02)
        (0.018, 1300.0, 0.02)
    """
    if not math.isfinite(mde) or mde <= 0:
        return mde
    exponent = math.floor(math.log10(mde)) - 1
    step = 10.0**exponent
    return round(math.ceil(mde / step - 1e-9) * step, max(0, -exponent))


def improvement_inputs(split_id: str, settings: dict[str, Any], charter: Charter, *, seed: int) -> str:
    """A digest of everything the derived smallest improvement depends on: the split's rows, its target and
    key column, and the charter's task, ranking metric, error costs and dropped columns, and the seed.

    Deriving it fits a baseline and bootstraps the dev set (half a second on 50,000 rows); `taxiway train`
    records the value with this digest, and `taxiway validate` reuses it when the digest is the same, since
    the same inputs give the same value.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> one = improvement_inputs("s-1", {"target": "y"}, c, seed=0)
        >>> one == improvement_inputs("s-1", {"target": "y", "key_column": None}, c, seed=0)
        True
        >>> one == improvement_inputs("s-2", {"target": "y"}, c, seed=0)
        False
    """
    problem = charter.problem
    facts = {
        "split": split_id,
        "target": settings["target"],
        "key_column": settings.get("key_column"),
        "task": problem.task,
        "metric": problem.ranking_metric,
        "costs": problem.costs.model_dump() if problem.costs is not None else None,
        "drop_columns": list(charter.data.drop_columns),
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Advice:
    """What to change so the dev set can show the smallest improvement that matters."""

    text: str
    figures: dict[str, Any] = field(default_factory=dict)


def advise(*, n: int, mde: float, needed: float, rows: int, charter: Charter) -> Advice:
    """What to do when ``n`` validation rows detect ``mde``, ``needed`` matters and ``rows`` are labelled.

    The MDE shrinks as 1/sqrt(n): ``n · (mde / needed)²`` validation rows are needed. When that fits in
    :data:`MAX_VALID_FRACTION` of the data (and leaves the test share), the fix is a larger
    ``split.valid_fraction``; otherwise more rows, or a larger smallest improvement, are the only ways.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> advise(n=1500, mde=0.02, needed=0.015, rows=10_000, charter=c).text
        'set split.valid_fraction = 0.27 in taxiway.toml (now 0.15), then run `taxiway data split`'
        >>> advice = advise(n=1500, mde=0.02, needed=0.005, rows=10_000, charter=c)
        >>> advice.figures
        {'valid_fraction': 0.5, 'more_rows': 38000, 'smallest_improvement': 0.011}
    """
    want = n * (mde / needed) ** 2
    limit = min(MAX_VALID_FRACTION, round(0.89 - charter.split.test_fraction, 2))
    fraction = math.ceil(100 * want / max(rows, 1)) / 100
    if fraction <= limit:
        return Advice(
            f"set split.valid_fraction = {fraction:g} in taxiway.toml (now "
            f"{charter.split.valid_fraction:g}), then run `taxiway data split`",
            {"valid_fraction": fraction},
        )
    best_n = max(1, int(rows * limit))
    best_mde = derived_improvement(mde * math.sqrt(n / best_n))
    more_rows = _round_up(want / limit - rows)
    return Advice(
        f"even split.valid_fraction = {limit:g} leaves {best_n:,} validation rows, which detect "
        f"{best_mde:g}: add about {more_rows:,} rows, or set problem.smallest_improvement = {best_mde:g} if "
        "a gain that size is what matters",
        {"valid_fraction": limit, "more_rows": more_rows, "smallest_improvement": best_mde},
    )


def _round_up(value: float) -> int:
    """Up to two significant digits, as a count a person reads: 37,312 -> 38,000."""
    if value <= 0:
        return 0
    step = 10 ** max(0, math.floor(math.log10(value)) - 1)
    return int(math.ceil(value / step) * step)
