"""The starter files `taxiway init` writes: pipeline.py, unit tests, behaviour tests, .gitignore entries."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from taxiway.measure.metrics import Task

# The local store, and the reports `taxiway test` and `taxiway ci run` write by default: none belongs in a
# commit (a report left in the tree would make the next `ci run` see a tree that differs from its commit).
GITIGNORE_ENTRIES = (".taxiway/", "taxiway-test.xml", "taxiway-ci/")
_ESTIMATORS = {
    "classification": "HistGradientBoostingClassifier",
    "regression": "HistGradientBoostingRegressor",
}
_TARGETS = {  # a learnable target for the starter unit test, per task
    "classification": '(rows["number"] > 0).astype(int)',
    "regression": 'rows["number"] * 3.0',
}
_MINIMUM_EXPECT = {  # the minimum functionality example's expectation, per task
    "classification": "#    expect:\n#      label: 1\n#      score:\n#        min: 0.7",
    "regression": "#    expect:\n#      score:\n#        min: 10\n#        max: 20",
}


@dataclass(frozen=True)
class Scaffold:
    """What `write_scaffold` wrote (paths) and left alone because it existed."""

    written: tuple[Path, ...]
    kept: tuple[Path, ...]


def unchanged_tests(root: Path) -> tuple[str, ...]:
    """The test files ``taxiway init`` wrote that still hold exactly what it wrote (paths from ``root``).

    They test taxiway's starter, not the team's code: a unit-test check does not count them.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_scaffold(root, name="x", task="regression")
        >>> unchanged_tests(root)
        ('tests/test_pipeline.py',)
        >>> _ = (root / "tests/test_pipeline.py").write_text("def test_mine(): pass")
        >>> unchanged_tests(root)
        ()
    """
    relative = "tests/test_pipeline.py"
    path = root / relative
    if not path.is_file():
        return ()
    template = files("taxiway.scaffold").joinpath("test_pipeline.py.tmpl").read_text(encoding="utf-8")
    written = {template.format(target_expression=expression) for expression in _TARGETS.values()}
    return (relative,) if path.read_text(encoding="utf-8") in written else ()


def write_scaffold(root: Path, *, name: str, task: Task) -> Scaffold:
    """Write pipeline.py, tests/test_pipeline.py, tests/behaviour.yaml and the .gitignore entries.

    A file that exists is kept as it is, never overwritten.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> sorted(p.name for p in write_scaffold(root, name="x", task="regression").written)
        ['.gitignore', 'behaviour.yaml', 'pipeline.py', 'test_pipeline.py']
    """
    written: list[Path] = []
    kept: list[Path] = []
    templates = files("taxiway.scaffold")
    for relative, template, values in (
        ("pipeline.py", "pipeline.py.tmpl", {"name": name, "estimator": _ESTIMATORS[task]}),
        ("tests/test_pipeline.py", "test_pipeline.py.tmpl", {"target_expression": _TARGETS[task]}),
        ("tests/behaviour.yaml", "behaviour.yaml.tmpl", {"minimum_expect": _MINIMUM_EXPECT[task]}),
    ):
        path = root / relative
        if path.exists():
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            templates.joinpath(template).read_text(encoding="utf-8").format(**values), encoding="utf-8"
        )
        written.append(path)
    gitignore = root / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    missing = [entry for entry in GITIGNORE_ENTRIES if entry not in lines]
    if missing:
        gitignore.write_text("\n".join([*lines, *missing]) + "\n", encoding="utf-8")
        written.append(gitignore)
    else:
        kept.append(gitignore)
    return Scaffold(written=tuple(written), kept=tuple(kept))
