"""Which columns reach the model, and seeding an estimator so that training can be repeated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from taxiway.charter import Charter
from taxiway.errors import TaxiwayError


def feature_columns(columns: Iterable[Any], charter: Charter) -> list[str]:
    """All columns but the target, the row key and the charter's dropped columns.

    Raises:
        TaxiwayError: a protected column (ML Test Score D4) would reach the model.

    Example:
        >>> from taxiway.charter import parse_charter
        >>> text = '[project]\\nname="p"\\n[problem]\\ntarget="y"\\n[data]\\ndrop_columns=["id"]\\n'
        >>> c = parse_charter(text)
        >>> feature_columns(["id", "x", "y"], c)
        ['x']
    """
    data = charter.data
    excluded = {charter.problem.target, data.key_column, *data.drop_columns}
    features = [str(c) for c in columns if str(c) not in excluded]
    protected = [c for c in data.protected_columns if c in features]
    if protected:
        raise TaxiwayError(
            f"protected column{'s' if len(protected) > 1 else ''} {', '.join(protected)} would be a model "
            "input; training refuses (data.protected_columns in taxiway.toml)",
            hint="add them to data.drop_columns too: kept for fairness checks, never learned from",
        )
    if not features:
        raise TaxiwayError(
            "no feature columns are left to train on", hint="check data.drop_columns in taxiway.toml"
        )
    return features


def seed_estimator(estimator: Any, seed: int) -> dict[str, int]:
    """Set every unset ``random_state`` in an estimator and its nested steps to ``seed``; return what was set.

    Example:
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> seed_estimator(RandomForestClassifier(), 7)
        {'random_state': 7}
    """
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    unset = {
        key: seed
        for key, value in get_params(deep=True).items()
        if key.split("__")[-1] == "random_state" and value is None
    }
    if unset:
        estimator.set_params(**unset)
    return unset
