"""Which columns reach the model, and seeding an estimator so that training can be repeated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from taxiway.charter import Charter
from taxiway.errors import TaxiwayError


def feature_columns(columns: Iterable[Any], charter: Charter) -> list[str]:
    """All columns but the target, the row key, the charter's dropped columns and its protected columns.

    Protected columns (ML Test Score D4) stay in the data for the fairness checks but never reach the model:
    naming one in ``data.protected_columns`` is enough, no second listing in ``data.drop_columns``.

    Raises:
        TaxiwayError: no column is left to train on.

    Example:
        >>> from taxiway.charter import parse_charter
        >>> text = '[project]\\nname="p"\\n[problem]\\ntarget="y"\\n[data]\\ndrop_columns=["id"]\\n'
        >>> feature_columns(["id", "x", "y"], parse_charter(text))
        ['x']
        >>> text += 'protected_columns=["sex"]\\n'
        >>> feature_columns(["id", "sex", "x", "y"], parse_charter(text))
        ['x']
    """
    data = charter.data
    excluded = {charter.problem.target, data.key_column, *data.drop_columns, *data.protected_columns}
    features = [str(c) for c in columns if str(c) not in excluded]
    if not features:
        raise TaxiwayError(
            "no feature columns are left to train on",
            hint="check data.drop_columns and data.protected_columns in taxiway.toml",
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
