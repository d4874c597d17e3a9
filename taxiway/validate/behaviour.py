"""Behaviour tests (functionality tests): what a model must do, declared by the team in tests/behaviour.yaml.

Three kinds, after CheckList (Ribeiro et al., ACL 2020):

- ``minimum`` (minimum functionality): this input → this label, or a score in this range;
- ``invariance``: perturbing a column (set to other values, or shifted within a range) must not move the
  score by more than ``tolerance``;
- ``directional``: perturbing a column must not move the score the wrong way (``not_lower`` /
  ``not_higher``) by more than ``tolerance``.

The score is the probability of ``class`` (default: the positive class of a binary task) for a classifier,
the predicted value for a regressor. Invariance and directional tests perturb ``rows`` validation rows
(default 100) unless they give ``input``/``inputs``; columns a row leaves out take typical training values.

Example::

    tests:
      - name: a cold, dry night is not warm
        kind: minimum
        input: {dewp: 5, humid: 40, month: 1, hour: 3}
        expect: {label: 0, score: {max: 0.2}}
      - name: a higher dew point never lowers P(warm)
        kind: directional
        perturb: {column: dewp, shift: {min: 1, max: 20, steps: 4}}
        expect: not_lower
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.validate.behaviour_file import (
    BEHAVIOUR_FILE,
    BehaviourFile,
    BehaviourTest,
    DirectionalTest,
    Expectation,
    InvarianceTest,
    MinimumTest,
    parse_behaviour,
)
from taxiway.validate.run_model import RunModel, load_run_model

SHOWN_FAILURES = 3  # failing examples kept per test, the worst first


@dataclass(frozen=True)
class TestResult:
    """One test's outcome: how many examples it checked, how many failed, the worst failures."""

    __test__ = False  # not a pytest test class

    name: str
    kind: str
    examples: int
    failed: int
    failures: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class BehaviourReport:
    """Every test of a behaviour file run on one run's model."""

    run_id: str
    run_name: str
    file: str
    results: list[TestResult]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what `taxiway test behaviour --format json` prints and the evidence stores."""
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "file": self.file,
            "passed": self.passed,
            "tests": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "passed": r.passed,
                    "examples": r.examples,
                    "failed": r.failed,
                    "failures": r.failures,
                }
                for r in self.results
            ],
        }


def check_columns(model: RunModel, file: BehaviourFile, source: str) -> None:
    """Refuse a column the model does not read, naming the test and field it is in."""
    for index, test in enumerate(file.tests):
        for n, row in enumerate(test.given_rows() or []):
            field = "input" if test.input is not None else f"inputs[{n}]"
            model.check_columns(list(row), f"{source}: tests[{index}].{field}")
        if isinstance(test, InvarianceTest | DirectionalTest):
            column = test.perturb.column
            model.check_columns([column], f"{source}: tests[{index}].perturb.column")
            dtype = model.frames.train[column].dtype
            if test.perturb.shift is not None and (
                not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
            ):
                raise TaxiwayError(
                    f"{source}: tests[{index}].perturb.shift: column '{column}' holds {dtype}, not numbers",
                    hint="shift adds amounts to a number column; give the values to try instead: "
                    "values: [a, b, c]",
                )


def run_behaviour_tests(
    project: Project, *, run: str | None = None, path: Path | None = None
) -> BehaviourReport:
    """Run the project's behaviour tests on a run's model and record ``model.behaviour`` evidence.

    Args:
        run: a run id or prefix; default the best candidate of the newest training.
        path: the behaviour file; default tests/behaviour.yaml in the project.

    Raises:
        TaxiwayError: no file, a file that is not valid (the message names the line or field), an
            unknown column, or a run without a model.
    """
    file_path = path if path is not None else project.root / BEHAVIOUR_FILE
    shown = _shown(file_path, project.root)
    if not file_path.is_file():
        raise TaxiwayError(
            f"no behaviour tests: {shown} does not exist",
            hint="declare them there (`taxiway init` writes an example), or pass --file PATH",
        )
    parsed = parse_behaviour(file_path.read_text(encoding="utf-8"), shown)
    model = load_run_model(project, run)
    check_columns(model, parsed, shown)
    seed = project.charter.train.seed
    results = [run_test(model, test, index, seed) for index, test in enumerate(parsed.tests)]
    report = BehaviourReport(run_id=model.run.id, run_name=model.run.name, file=shown, results=results)
    failed = sum(1 for result in results if not result.passed)
    project.store.evidence.record(
        Check.MODEL_BEHAVIOUR,
        subject_kind="run",
        subject_id=model.run.id,
        value=float(failed),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=len(results), method=f"behaviour tests in {shown}"),
        details=report.to_dict(),
    )
    return report


def run_test(model: RunModel, test: BehaviourTest, index: int, seed: int) -> TestResult:
    """Run one test on ``model``; failures show the input, what was expected and what came out."""
    where = f"tests[{index}]"
    if isinstance(test, MinimumTest):
        return _minimum(model, test, where)
    given = test.given_rows()
    if given is not None:
        base = model.frame(given, where)
        keys = [f"input {n}" for n in range(len(given))]
    else:
        valid = model.frames.valid
        sample = valid.sample(n=min(test.rows, len(valid)), random_state=seed) if len(valid) else valid
        base = sample[model.features].reset_index(drop=True)
        keys = [str(key) for key in sample.index]
    _, before = model.scores(base, test.score_class)
    column = test.perturb.column
    failures: list[tuple[float, dict[str, Any]]] = []
    examples = 0
    for amount in test.perturb.amounts():
        changed = base.copy()
        if test.perturb.shift is not None:
            changed[column] = changed[column].astype(float) + amount
        else:
            changed[column] = model.frame([{column: amount}] * len(base), where)[column].to_numpy()
        _, after = model.scores(changed, test.score_class)
        moved = after - before
        if isinstance(test, InvarianceTest):
            bad = np.abs(moved) > test.tolerance
            expected = f"score moves by at most {test.tolerance:g}"
        else:
            bad = moved < -test.tolerance if test.expect == "not_lower" else moved > test.tolerance
            expected = f"score {test.expect.replace('_', ' ')} (tolerance {test.tolerance:g})"
        examples += len(moved)
        for i in np.flatnonzero(bad):
            detail: dict[str, Any] = {
                "row": keys[i],
                "input": {
                    column: {"from": _short(base[column].iloc[i]), "to": _short(changed[column].iloc[i])}
                },
                "expected": expected,
                "actual": f"score {before[i]:.4g} → {after[i]:.4g} ({moved[i]:+.4g})",
            }
            failures.append((abs(float(moved[i])), detail))
    failures.sort(key=lambda item: -item[0])
    worst: dict[str, dict[str, Any]] = {}  # one failure per row, its largest move: other rows say more
    for _, detail in failures:
        worst.setdefault(str(detail["row"]), detail)
    return TestResult(test.name, test.kind, examples, len(failures), list(worst.values())[:SHOWN_FAILURES])


def _minimum(model: RunModel, test: MinimumTest, where: str) -> TestResult:
    rows = test.given_rows() or []
    labels, scores = model.scores(model.frame(rows, where), test.score_class)
    expect = test.expect
    failures = []
    for i, row in enumerate(rows):
        label, score = _plain(labels[i]), float(scores[i])
        wrong_label = expect.label is not None and str(label) != str(expect.label)
        low = expect.score is not None and expect.score.min is not None and score < expect.score.min
        high = expect.score is not None and expect.score.max is not None and score > expect.score.max
        if wrong_label or low or high:
            failures.append(
                {
                    "row": f"input {i}",
                    "input": row,
                    "expected": _expected(expect),
                    "actual": f"label {label}, score {score:.4g}",
                }
            )
    return TestResult(test.name, test.kind, len(rows), len(failures), failures[:SHOWN_FAILURES])


def _expected(expect: Expectation) -> str:
    parts = []
    if expect.label is not None:
        parts.append(f"label {expect.label}")
    if expect.score is not None:
        low = "-∞" if expect.score.min is None else f"{expect.score.min:g}"
        high = "∞" if expect.score.max is None else f"{expect.score.max:g}"
        parts.append(f"score in [{low}, {high}]")
    return ", ".join(parts)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _short(value: Any) -> Any:
    """A value for people: floats to 6 significant digits (a shift of 7.33… shows as 7.33333)."""
    value = _plain(value)
    return float(f"{value:.6g}") if isinstance(value, float) else value


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
