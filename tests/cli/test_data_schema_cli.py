"""`taxiway data schema / validate / diff / pii` (and what `data add` now does) through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from taxiway.cli import app
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence
from tests.backend import BACKEND

CHARTER = '[project]\nname = "people"\n[problem]\ntarget = "label"\n'


@pytest.fixture
def backend() -> str:
    """The store backend of this run (TAXIWAY_TEST_BACKEND): each test runs on SQLite, then on PostgreSQL."""
    return BACKEND


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "taxiway.toml").write_text(CHARTER, encoding="utf-8")
    return root


def _people(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "city": rng.choice(["Lyon", "Oslo", "Rome"], rows),
            "email": [f"person{i}@example.org" for i in range(rows)],
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def _csv(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def _run(runner: CliRunner, project: Path, *args: str) -> Result:
    return runner.invoke(app, ["--project", str(project), "data", *args])


def _json(result: Result, code: int = 0) -> Any:
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _latest(project: Path, check: Check) -> Evidence:
    store = Project.load(project).store
    try:
        return store.evidence.latest([check])[check]
    finally:
        store.close()


def _add(runner: CliRunner, project: Path, path: Path) -> dict[str, Any]:
    document: dict[str, Any] = _json(
        _run(runner, project, "add", str(path), "--name", "people", "-f", "json")
    )
    return document


def test_add_writes_schema_yaml_once_and_warns_about_personal_data(
    runner: CliRunner, project: Path, backend: str
) -> None:
    result = _run(runner, project, "add", str(_csv(project, "v1", _people())))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("wrote schema.yaml from this version")
    assert result.stderr.splitlines() == [
        (
            "warning: column 'email' looks like personal data (email: 100% of 120 sampled values; "
            "name hint 'email')"
        ),
        (
            "hint: list each in data.allowed_pii (kept, with care) or data.drop_columns "
            "(never a model input) in taxiway.toml, then run `taxiway data pii`"
        ),
    ]
    schema_file = project / "schema.yaml"
    assert "EDIT IT BY HAND" in schema_file.read_text(encoding="utf-8")
    assert _latest(project, Check.DATA_PII).status == "fail"

    schema_file.write_text(schema_file.read_text(encoding="utf-8") + "# my edit\n", encoding="utf-8")
    document = _add(runner, project, _csv(project, "v2", _people().iloc[:100]))
    assert document["schema_written"] is None and document["pii"]["unhandled"] == ["email"]
    assert schema_file.read_text(encoding="utf-8").endswith("# my edit\n")  # hand edits kept


def test_schema_shows_the_file_or_a_version_and_writes_only_when_asked(
    runner: CliRunner, project: Path, backend: str
) -> None:
    first = _add(runner, project, _csv(project, "v1", _people()))
    schema_file = project / "schema.yaml"
    assert first["schema_written"] == str(schema_file)

    text = _run(runner, project, "schema")
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[0].strip() == "schema.yaml"
    assert "│ label  │ string  │ no       │ -   │ -   │ no, yes" in text.stdout

    shown = _json(_run(runner, project, "schema", "--format", "json"))
    assert list(shown) == ["source", "file", "version", "written", "replaced", "changed_columns", "schema"]
    assert (shown["source"], shown["version"], shown["written"]) == ("file", None, False)
    columns = {c["name"]: c for c in shown["schema"]["columns"]}
    assert list(columns["age"]) == [
        "name",
        "type",
        "nullable",
        "min",
        "max",
        "categories",
        "pattern",
        "target",
    ]
    assert columns["label"]["target"] is True and columns["city"]["categories"] == ["Lyon", "Oslo", "Rome"]

    older = _people().assign(age=lambda f: f["age"] + 100)
    second = _add(runner, project, _csv(project, "v2", older))["version"]
    before = schema_file.read_text(encoding="utf-8")
    refused = _run(runner, project, "schema", "--write")
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"error: {schema_file} already exists and may hold hand edits")
    assert "taxiway data schema --write --force" in refused.stderr
    assert schema_file.read_text(encoding="utf-8") == before

    inferred = _json(_run(runner, project, "schema", "--version", second["short_id"], "-f", "json"))
    assert (inferred["source"], inferred["version"]["id"], inferred["written"]) == (
        "version",
        second["id"],
        False,
    )
    replaced = _json(_run(runner, project, "schema", "--write", "--force", "-f", "json"))
    assert (replaced["written"], replaced["replaced"], replaced["changed_columns"]) == (True, True, ["age"])
    assert f"Written from dataset version {second['short_id']}" in schema_file.read_text(encoding="utf-8")

    usage = _run(runner, project, "schema", "--force")
    assert usage.exit_code == 2 and "error: --force only applies with --write" in usage.stderr


def test_validate_reports_hand_edits_and_records_evidence(
    runner: CliRunner, project: Path, backend: str
) -> None:
    frame = _people()
    version = _add(runner, project, _csv(project, "v1", frame))["version"]
    valid = _run(runner, project, "validate")
    assert valid.exit_code == 0, valid.output
    assert valid.stdout == (
        f"valid: version {version['short_id']} (people, 120 rows) against schema.yaml: "
        "every column meets it\n"
    )
    evidence = _latest(project, Check.DATA_SCHEMA)
    assert (evidence.status, evidence.subject_id, evidence.details["inferred"]) == (
        "pass",
        version["id"],
        False,
    )

    schema_file = project / "schema.yaml"
    text = schema_file.read_text(encoding="utf-8")
    text = text.replace("    max: 89\n", "    max: 60\n").replace("[Lyon, Oslo, Rome]", "[Lyon, Oslo]")
    schema_file.write_text(text, encoding="utf-8")
    over, rome = frame.index[frame["age"] > 60], frame.index[frame["city"] == "Rome"]

    report = _json(
        _run(runner, project, "validate", "--version", version["id"][:6], "--format", "json"), code=1
    )
    assert list(report) == [
        "version",
        "schema_file",
        "valid",
        "n_rows",
        "n_violations",
        "counts",
        "violations",
    ]
    assert (report["valid"], report["n_rows"], report["n_violations"]) == (False, 120, len(over) + len(rome))
    assert report["counts"] == {"age": {"out_of_range": len(over)}, "city": {"unknown_category": len(rome)}}
    age, city = report["violations"]
    assert age == {
        "column": "age",
        "kind": "out_of_range",
        "count": len(over),
        "expected": "between 18 and 60",
        "rows": over[:5].tolist(),
        "examples": frame["age"][over[:5]].tolist(),
    }
    assert (city["rows"], city["examples"]) == (rome[:5].tolist(), ["Rome"] * 5)
    evidence = _latest(project, Check.DATA_SCHEMA)
    assert (evidence.status, evidence.value, evidence.details["columns"]) == (
        "fail",
        float(len(over) + len(rome)),
        report["counts"],
    )

    table = _run(runner, project, "validate")
    assert table.exit_code == 1
    assert f"invalid: version {version['short_id']}" in table.stdout
    assert f"│ city   │ unknown_category │ {len(rome):>5} │ one of Lyon, Oslo" in table.stdout


def test_validate_bad_input_exits_2_and_records_nothing(runner: CliRunner, project: Path) -> None:
    none = _run(runner, project, "validate")
    assert none.exit_code == 2
    assert none.stderr == (
        f"error: no schema file at {project / 'schema.yaml'}\n"
        "hint: write one from a dataset version with `taxiway data schema --write`\n"
    )
    (project / "schema.yaml").write_text("columns:\n  age: {type: integer, min: old}\n", encoding="utf-8")
    invalid = _run(runner, project, "validate")
    assert invalid.exit_code == 2
    assert invalid.stderr.startswith(
        "error: schema.yaml: columns.age: min/max of a integer column are numbers (got 'old')\n"
    )
    (project / "schema.yaml").write_text("columns:\n  age: {type: integer}\n", encoding="utf-8")
    empty = _run(runner, project, "validate")
    assert empty.exit_code == 2
    assert (
        empty.stderr == "error: no dataset versions stored yet\nhint: add one with `taxiway data add FILE`\n"
    )
    unknown = _run(runner, project, "validate", "--version", "abcdef")
    assert unknown.exit_code == 2 and "no dataset version starts with 'abcdef'" in unknown.stderr
    store = Project.load(project).store
    try:
        assert store.evidence.count() == 0
    finally:
        store.close()


def test_diff_counts_and_lists_changes_with_lineage(runner: CliRunner, project: Path, backend: str) -> None:
    old = _people()
    new = old.drop(index=[3, 4]).copy()
    new.loc[[10, 11, 12], "label"] = new.loc[[10, 11, 12], "label"].map({"yes": "no", "no": "yes"})
    new.loc[20, "age"] = 99
    v1 = _add(runner, project, _csv(project, "v1", old))["version"]
    v2 = _add(runner, project, _csv(project, "v2", new))["version"]

    document = _json(_run(runner, project, "diff", v1["short_id"], v2["short_id"], "-f", "json", "-n", "2"))
    assert list(document) == [
        "old",
        "new",
        "lineage",
        "matched_by",
        "key_column",
        "target",
        "columns_added",
        "columns_removed",
        "rows",
        "examples",
    ]
    assert document["lineage"] == {
        "relation": "ancestor",
        "path": [v2["id"], v1["id"]],
        "common_ancestor": None,
    }
    assert (document["matched_by"], document["key_column"], document["target"]) == ("content", None, "label")
    assert document["rows"] == {
        "old": 120,
        "new": 118,
        "added": 1,
        "removed": 3,
        "changed": None,
        "label_changes": 3,
        "unchanged": 114,
    }
    assert [e["old_row"] for e in document["examples"]["removed"]] == [3, 4]  # the first 2 of 3
    label = document["examples"]["label_changes"][0]
    assert (label["old_row"], label["new_row"], list(label["values"])) == (10, 8, ["label"])

    text = _run(runner, project, "diff", v1["short_id"], v2["short_id"])
    assert text.exit_code == 0, text.output
    assert (
        f"lineage: old is an ancestor of new (1 generation: {v2['short_id']} -> {v1['short_id']})"
        in text.stdout
    )
    assert "a row whose features changed counts as removed + added" in text.stdout
    assert "label changes: first 3 of 3" in text.stdout

    keyed = project / "taxiway.toml"
    keyed.write_text(CHARTER + '[data]\nkey_column = "id"\n', encoding="utf-8")
    by_key = _json(_run(runner, project, "diff", v1["id"], v2["id"], "-f", "json"))
    assert (by_key["rows"]["changed"], by_key["rows"]["label_changes"], by_key["rows"]["removed"]) == (
        1,
        3,
        2,
    )
    assert by_key["examples"]["changed"][0] == {
        "key": 20,
        "old_row": 20,
        "new_row": 18,
        "values": {"age": [int(old.loc[20, "age"]), 99]},
    }

    keyed.write_text(CHARTER + '[data]\nkey_column = "passport"\n', encoding="utf-8")
    missing = _run(runner, project, "diff", v1["id"], v2["id"])
    assert missing.exit_code == 2
    assert (
        f"key column 'passport' (data.key_column in taxiway.toml) is not in version {v1['short_id']}"
        in missing.stderr
    )
    bad = _run(runner, project, "diff", v1["id"], "nope")
    assert bad.exit_code == 2 and "version ids are hexadecimal" in bad.stderr


def test_pii_follows_the_charter(runner: CliRunner, project: Path, backend: str) -> None:
    version = _add(runner, project, _csv(project, "v1", _people()))["version"]
    flagged = _run(runner, project, "pii")
    assert flagged.exit_code == 1
    assert (
        "│ email  │ email │ 100% of 120 sampled values; name hint 'email' │ NOT HANDLED │" in flagged.stdout
    )

    (project / "taxiway.toml").write_text(CHARTER + '[data]\nallowed_pii = ["email"]\n', encoding="utf-8")
    document = _json(_run(runner, project, "pii", "--version", version["short_id"], "-f", "json"))
    assert document == {
        "version": {"id": version["id"], "short_id": version["short_id"], "name": "people", "n_rows": 120},
        "status": "pass",
        "flagged": 1,
        "unhandled": [],
        "columns": [
            {
                "column": "email",
                "kind": "email",
                "share": 1.0,
                "name_hint": "email",
                "sampled": 120,
                "allowed": True,
                "dropped": False,
            }
        ],
    }
    evidence = _latest(project, Check.DATA_PII)
    assert (evidence.status, evidence.subject_id) == ("pass", version["id"])

    clean = _people().drop(columns=["email"])
    _add(runner, project, _csv(project, "clean", clean))
    quiet = _run(runner, project, "pii")
    assert quiet.exit_code == 0 and quiet.stdout.startswith("no personal data found in version")
