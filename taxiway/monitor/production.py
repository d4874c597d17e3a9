"""Does the test set reflect production? Adversarial validation of served inputs against the test rows.

A classifier is trained to tell logged serving inputs from the version's test rows (same features, same
coding). If it cannot (ROC AUC near 0.5, cross-validated) the test set looks like what the model meets in
production; if it can, the test figures describe some other population. The same AUC is the multivariate
drift figure of a monitor pass: a domain classifier sees shifts in how features combine that no single
feature's histogram shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

MAX_ROWS_EACH = 20_000  # rows drawn from each side: the AUC is stable long before, the fit stays seconds


@dataclass(frozen=True)
class DomainCheck:
    """How well served rows can be told from test rows, and which features give them away."""

    auc: float
    served_rows: int
    test_rows: int
    top_features: list[tuple[str, float]]  # feature, AUC of that feature alone (the giveaways)


def _encoded(frame: pd.DataFrame, kinds: dict[str, str], categories: dict[str, list[str]]) -> pd.DataFrame:
    columns = {}
    for name, kind in kinds.items():
        values = frame[name] if name in frame.columns else pd.Series([np.nan] * len(frame))
        if kind == "numeric":
            columns[name] = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        else:
            codes = pd.Series(range(len(categories[name])), index=categories[name], dtype=float)
            text = values.astype(object).where(values.notna(), None)
            columns[name] = text.map(lambda v: None if v is None else str(v)).map(codes).to_numpy(dtype=float)
    return pd.DataFrame(columns)


def domain_check(
    served: pd.DataFrame, test: pd.DataFrame, kinds: dict[str, str], *, seed: int = 0
) -> DomainCheck:
    """Cross-validated ROC AUC of a gradient-boosted classifier telling ``served`` rows from ``test`` rows.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = pd.DataFrame({"x": rng.normal(size=600)})
        >>> round(domain_check(a, pd.DataFrame({"x": rng.normal(size=600)}), {"x": "numeric"}).auc, 1)
        0.5
        >>> domain_check(a, pd.DataFrame({"x": rng.normal(3, 1, size=600)}), {"x": "numeric"}).auc > 0.9
        True
    """
    rng = np.random.default_rng(seed)
    served = served.iloc[rng.permutation(len(served))[:MAX_ROWS_EACH]]
    test = test.iloc[rng.permutation(len(test))[:MAX_ROWS_EACH]]
    categories = {
        name: sorted({str(v) for v in pd.concat([served[name], test[name]]).dropna()})
        for name, kind in kinds.items()
        if kind != "numeric" and name in served.columns and name in test.columns
    }
    for name in kinds:
        categories.setdefault(name, [])
    both = pd.concat(
        [_encoded(served, kinds, categories), _encoded(test, kinds, categories)], ignore_index=True
    )
    origin = np.r_[np.ones(len(served)), np.zeros(len(test))]
    categorical = [kinds[name] != "numeric" and len(categories[name]) <= 250 for name in kinds]
    model = HistGradientBoostingClassifier(
        max_iter=100, categorical_features=categorical if any(categorical) else None, random_state=seed
    )
    score = cross_val_predict(model, both, origin, cv=3, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(origin, score))
    singles = []
    for name in kinds:
        column = both[name].fillna(both[name].min() - 1 if both[name].notna().any() else 0)
        single = float(roc_auc_score(origin, column))
        singles.append((name, max(single, 1 - single)))
    singles.sort(key=lambda pair: -pair[1])
    return DomainCheck(auc, len(served), len(test), singles[:5])
