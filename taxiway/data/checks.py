"""Data checks of a split: leakage, same distribution and dev-set power, run and recorded together."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from taxiway.charter import Charter
from taxiway.data.distribution import check_same_distribution
from taxiway.data.findings import CheckReport
from taxiway.data.leakage import check_leakage
from taxiway.data.power import check_dev_power
from taxiway.data.split import Split, split_frames
from taxiway.errors import DataError
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Measurement

__all__ = ["CHECK_NAMES", "DataCheckReport", "check_split"]

CHECK_NAMES = ("leakage", "same_distribution", "dev_power")  # JSON keys, in the order the checks run
_NOT_MEASURED = 1e308  # a NaN or infinite measurement (e.g. an undefined MDE) is stored as "far too large"


@dataclass(frozen=True)
class DataCheckReport:
    """The three data checks of one split; ``passed`` when no check failed (warnings are not proof, but do
    not stop the command)."""

    split: Split
    leakage: CheckReport
    same_distribution: CheckReport
    dev_power: CheckReport

    @property
    def reports(self) -> tuple[CheckReport, ...]:
        return (self.leakage, self.same_distribution, self.dev_power)

    @property
    def passed(self) -> bool:
        return all(report.status != "fail" for report in self.reports)

    def document(self) -> dict[str, Any]:
        """The checks as JSON: ``{"passed", "checks": {"leakage", "same_distribution", "dev_power"}}``."""
        return {
            "passed": self.passed,
            "checks": {
                name: report.document() for name, report in zip(CHECK_NAMES, self.reports, strict=True)
            },
        }


def check_split(
    store: Store, split: Split, charter: Charter, *, frame: pd.DataFrame | None = None
) -> DataCheckReport:
    """Run every data check on ``split`` and record one evidence record per check, in one transaction.

    Args:
        frame: the split's dataset version, when the caller has already loaded it.

    Example:
        >>> import tempfile, pathlib
        >>> from sklearn.datasets import load_breast_cancer
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.data.versions import add_dataset
        >>> from taxiway.data.split import split_dataset
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", str(root / "artifacts")))
        >>> load_breast_cancer(as_frame=True).frame.to_csv(root / "cancer.csv", index=False)
        >>> version = add_dataset(store, root / "cancer.csv").version
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "target"}})
        >>> split = split_dataset(store, version, charter).split
        >>> report = check_split(store, split, charter)
        >>> report.leakage.verdict, report.same_distribution.verdict
        ('pass', 'pass')
        >>> store.close()

    Raises:
        DataError: the charter's target or task changed since the split was made.
    """
    settings = split.settings
    if (settings["target"], settings["task"]) != (charter.problem.target, charter.problem.task):
        raise DataError(
            f"split {split.short_id} was made for target '{settings['target']}' ({settings['task']}), but "
            f"taxiway.toml now says '{charter.problem.target}' ({charter.problem.task})",
            hint="run `taxiway data split` to split the data for the charter as it is now",
        )
    frames = split_frames(store, split, frame)
    drop, seed = charter.data.drop_columns, charter.split.seed
    # Any split is checked for the charter's group and time columns, not only a split made by them.
    settings = settings | {
        "group_column": settings.get("group_column") or charter.data.group_column,
        "time_column": settings.get("time_column") or charter.data.time_column,
    }
    report = DataCheckReport(
        split=split,
        leakage=check_leakage(
            frames, settings, strategy=split.strategy, drop=drop, seed=seed, event=charter.problem.event
        ),
        same_distribution=check_same_distribution(
            frames,
            settings,
            strategy=split.strategy,
            drop=drop,
            seed=seed,
            max_auc=charter.split.max_adversarial_auc,
        ),
        dev_power=check_dev_power(frames, settings, charter, seed=seed),
    )
    with store.write_session() as session, session.begin():
        for check in report.reports:
            details = {"split_id": split.id, "dataset_id": split.dataset_id, "strategy": split.strategy}
            details |= {"summary": check.summary, **check.details}
            store.evidence.record(
                check.check,
                subject_kind="split",
                subject_id=split.id,
                value=check.value if math.isfinite(check.value) else _NOT_MEASURED,
                limit=check.limit,
                warn=check.warn,
                measured=Measurement(sample_size=_sample_size(check, split), method=check.summary[:200]),
                details=_json_safe(details),
                session=session,
            )
    return report


def _sample_size(check: CheckReport, split: Split) -> int:
    """Rows the check looked at: validation and test for same distribution, validation for power."""
    counts = split.counts
    if check.check == Check.DATA_SAME_DISTRIBUTION:
        return int(counts["valid"] + counts["test"])
    if check.check == Check.DATA_DEV_POWER:
        return int(counts["valid"])
    return int(counts["rows"])


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    """NaN and infinity as None: PostgreSQL's JSON (and strict JSON readers) refuse them."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
