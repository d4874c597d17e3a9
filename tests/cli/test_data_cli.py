"""`taxiway data add / list / show` through the real CLI, on a real project folder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.filesize import decimal
from sklearn.datasets import load_iris
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

import taxiway.cli.data as data_cli
from taxiway.cli import app
from taxiway.project import Project
from taxiway.store.tables import ArtifactRow, DatasetVersionRow, EvidenceRow
from tests.backend import BACKEND

VERSION_KEYS = [
    "id",
    "short_id",
    "name",
    "format",
    "source",
    "n_rows",
    "n_columns",
    "size_bytes",
    "artifact",
    "parent_id",
    "created_at",
]


@pytest.fixture
def backend() -> str:
    """The store backend of this run (TAXIWAY_TEST_BACKEND): each test runs on SQLite, then on PostgreSQL."""
    return BACKEND


@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "label"})
    frame["species"] = frame["label"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def _run(runner: CliRunner, project: Path, *args: str) -> Result:
    return runner.invoke(app, ["--project", str(project), "data", *args])


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one document


def _counts(project: Path) -> tuple[int, int, int, int]:
    """(dataset rows, artifact rows, evidence rows, blob files) in the project's store."""
    store = Project.load(project).store
    try:
        with store.session() as session:
            rows = [
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (DatasetVersionRow, ArtifactRow, EvidenceRow)
            ]
    finally:
        store.close()
    root = project / ".taxiway" / "artifacts"
    blobs = [path for path in root.rglob("*") if path.is_file()] if root.exists() else []
    return rows[0], rows[1], rows[2], len(blobs)


def test_add_csv(runner: CliRunner, project_dir: Path, iris_csv: Path, backend: str) -> None:
    result = _run(runner, project_dir, "add", str(iris_csv))
    assert result.exit_code == 0, result.output
    short_id = hashlib.sha256(iris_csv.read_bytes()).hexdigest()[:12]
    size = decimal(iris_csv.stat().st_size)
    assert result.stdout == (
        f"added dataset version {short_id}: iris, 150 rows × 6 columns, {size} (first version of 'iris')\n"
        "wrote schema.yaml from this version: the expectations every version is validated against; "
        "edit it by hand and commit it\n"
    )
    # iris repeats one row (the 143rd is the 102nd): said, with the row, never refused
    assert result.stderr.startswith("warning: 1 row (0.7%) is an exact copy of another row: ")
    assert "drop_duplicates" in result.stderr and "  e.g. label=2, sepal length (cm)=5.8" in result.stderr
    # evidence: data.version, data.pii (a schema inferred from the same rows cannot fail: no data.schema)
    assert _counts(project_dir) == (1, 1, 2, 1)


def test_add_parquet_as_json(runner: CliRunner, project_dir: Path, iris_csv: Path, backend: str) -> None:
    parquet = iris_csv.with_suffix(".parquet")
    pd.read_csv(iris_csv).to_parquet(parquet)
    document = _json(_run(runner, project_dir, "add", str(parquet), "--name", "flowers", "--format", "json"))
    assert list(document) == ["is_new", "version", "schema_written", "pii", "duplicates"]
    assert document["duplicates"]["copies"] == 1 and document["duplicates"]["rows"] == 150
    assert document["is_new"] is True
    version = document["version"]
    assert list(version) == VERSION_KEYS
    facts = (version["name"], version["format"], version["n_rows"], version["n_columns"])
    assert facts == ("flowers", "parquet", 150, 6)
    assert version["source"] == str(parquet)
    assert version["size_bytes"] == parquet.stat().st_size
    assert version["artifact"] == version["id"] and version["short_id"] == version["id"][:12]
    assert version["parent_id"] is None
    assert version["created_at"].endswith("+00:00")


def test_same_content_twice_is_a_no_op(
    runner: CliRunner, project_dir: Path, iris_csv: Path, backend: str
) -> None:
    first = _json(_run(runner, project_dir, "add", str(iris_csv), "-f", "json"))["version"]
    before = _counts(project_dir)
    again = _run(runner, project_dir, "add", str(iris_csv), "--name", "other")
    assert again.exit_code == 0, again.output
    added = first["created_at"][:19] + "Z"
    assert again.stdout == (
        f"already stored as version {first['short_id']} (name iris, added {added}); nothing written\n"
    )
    assert _counts(project_dir) == before
    document = _json(_run(runner, project_dir, "add", str(iris_csv), "-f", "json"))
    assert document["is_new"] is False and document["version"] == first


def test_list_and_show(runner: CliRunner, project_dir: Path, iris_csv: Path, backend: str) -> None:
    v1 = _json(_run(runner, project_dir, "add", str(iris_csv), "-f", "json"))["version"]
    smaller = iris_csv.with_name("iris_small.csv")
    pd.read_csv(iris_csv).iloc[40:60].to_csv(smaller, index=False)  # 20 rows of two classes
    v2 = _json(_run(runner, project_dir, "add", str(smaller), "--name", "iris", "-f", "json"))["version"]
    assert v2["parent_id"] == v1["id"]

    listed = _json(_run(runner, project_dir, "list", "--format", "json"))
    assert list(listed) == ["versions"]
    assert [version["id"] for version in listed["versions"]] == [v2["id"], v1["id"]]
    assert listed["versions"][0] == v2 and list(listed["versions"][1]) == VERSION_KEYS
    assert _json(_run(runner, project_dir, "list", "--name", "iris", "-f", "json")) == listed
    assert _json(_run(runner, project_dir, "list", "--name", "nope", "-f", "json")) == {"versions": []}

    text = _run(runner, project_dir, "list")
    assert text.exit_code == 0, text.output
    assert "dataset versions" in text.stdout
    lines = [line for line in text.stdout.splitlines() if v2["short_id"] in line]
    assert len(lines) == 1 and "20" in lines[0] and v1["short_id"] in lines[0]  # v2's row names its parent
    assert v1["created_at"][:10] in text.stdout

    shown = _json(_run(runner, project_dir, "show", v2["id"][:6], "-f", "json"))
    assert list(shown) == [*VERSION_KEYS, "schema"]
    assert {key: shown[key] for key in VERSION_KEYS} == v2
    schema = shown["schema"]
    assert (schema["n_rows"], schema["n_columns"]) == (20, 6)
    species = next(column for column in schema["columns"] if column["name"] == "species")
    assert (species["kind"], species["categories"], species["nullable"]) == (
        "string",
        ["setosa", "versicolor"],
        False,
    )
    label = next(column for column in schema["columns"] if column["name"] == "label")
    assert (label["kind"], label["min"], label["max"]) == ("integer", 0, 1)

    text = _run(runner, project_dir, "show", v1["short_id"])
    assert text.exit_code == 0, text.output
    for expected in (
        v1["id"],
        f"dataset version {v1['short_id']}",
        "schema (6 columns)",
        "sepal length (cm)",
        "setosa, versicolor, virginica",
        "integer",
        str(iris_csv),
    ):
        assert expected in text.stdout, expected


def test_empty_list(runner: CliRunner, project_dir: Path) -> None:
    text = _run(runner, project_dir, "list")
    assert text.exit_code == 0
    assert text.stdout == "no dataset versions stored yet; add one with `taxiway data add FILE`\n"
    assert _json(_run(runner, project_dir, "list", "-f", "json")) == {"versions": []}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("abc", "dataset version 'abc' is too short: give at least 4 characters of its id"),
        ("0000", "no dataset version starts with '0000'"),
        ("iris", "no dataset version 'iris': version ids are hexadecimal (0-9, a-f)"),
    ],
)
def test_show_unknown(runner: CliRunner, project_dir: Path, ref: str, message: str) -> None:
    result = _run(runner, project_dir, "show", ref)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\nhint: run `taxiway data list` to see the stored versions\n"


def _latin1(path: Path) -> None:
    path.write_bytes("city,label\nBogotá,1\n".encode("latin-1"))


def _write(text: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(text, encoding="utf-8")


# case: (file name, how to write it, the error line after "error: ", a part of the hint)
BAD_FILES: dict[str, tuple[str, Callable[[Path], object] | None, str, str]] = {
    "missing": ("nope.csv", None, "data file '{path}' does not exist", "check the path"),
    "empty": ("t.csv", _write(""), "data file '{path}' is empty (0 bytes)", "header and rows"),
    "header only": (
        "t.csv",
        _write("a,label\n"),
        "data file '{path}' has no rows (columns: a, label)",
        "at least one row",
    ),
    "latin-1": (
        "t.csv",
        _latin1,
        "data file '{path}' is not UTF-8 text at byte offset 16 (line 2): byte 0xe1",
        "iconv -f latin1 -t utf-8 't.csv' > 't.utf8.csv'",
    ),
    "unknown format": (
        "t.xlsx",
        _write("PK"),
        "data file '{path}' has an unknown format: extension .xlsx",
        ".csv, .csv.gz, .csv.bz2, .csv.xz, .csv.zip, .parquet, .pq",
    ),
    "corrupt parquet": (
        "t.parquet",
        _write("PAR1 nope"),
        "data file '{path}' is not a valid Parquet file: ",
        "export it again",
    ),
    "no target": (
        "t.csv",
        _write("a,lable\n1,2\n"),
        (
            "target column 'label' (problem.target in taxiway.toml) is not in 't.csv'; "
            "its columns are: a, lable"
        ),
        "did you mean 'lable'?",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_input_exits_2_and_writes_nothing(
    runner: CliRunner, project_dir: Path, tmp_path: Path, case: str
) -> None:
    name, write, message, hint = BAD_FILES[case]
    path = tmp_path / name
    if write is not None:
        write(path)
    result = _run(runner, project_dir, "add", str(path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error, hint_line = result.stderr.splitlines()
    assert error.startswith("error: " + message.format(path=path))
    assert hint_line.startswith("hint: ") and hint in hint_line
    assert _counts(project_dir) == (0, 0, 0, 0)


def test_relative_path_is_stored_absolute(
    runner: CliRunner, project_dir: Path, iris_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(iris_csv.parent)
    version = _json(_run(runner, project_dir, "add", iris_csv.name, "-f", "json"))["version"]
    assert version["source"] == str(iris_csv)


def test_without_a_charter(runner: CliRunner, tmp_path: Path, iris_csv: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    result = _run(runner, bare, "add", str(iris_csv))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: no taxiway.toml in {bare}")
    assert "hint: run 'taxiway init'" in result.stderr
    assert not (bare / ".taxiway").exists()


def test_progress_stays_off_stdout(
    runner: CliRunner, project_dir: Path, iris_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_cli, "PROGRESS_MIN_BYTES", 0)  # show the bar even for a small file
    document = _json(_run(runner, project_dir, "add", str(iris_csv), "-f", "json"))
    assert document["is_new"] is True


def test_names_and_values_are_printed_as_given(runner: CliRunner, project_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "[b]odd.csv"
    path.write_text("[red]col,label\n[x],1\n[/],2\n", encoding="utf-8")
    added = _run(runner, project_dir, "add", str(path))
    assert added.exit_code == 0, added.output
    assert ": [b]odd, 2 rows" in added.stdout
    listed = _run(runner, project_dir, "list")
    assert "[b]odd" in listed.stdout
    shown = _run(runner, project_dir, "show", hashlib.sha256(path.read_bytes()).hexdigest()[:8])
    assert shown.exit_code == 0, shown.output
    assert "[red]col" in shown.stdout and "[/], [x]" in shown.stdout and str(path) in shown.stdout


def test_a_semicolon_file_is_read_as_columns_and_its_dialect_shown(
    runner: CliRunner, project_dir: Path, tmp_path: Path
) -> None:
    rows = "".join(f"{i};{i % 3},5;{'yes' if i % 2 else 'no'}\n" for i in range(40))
    path = tmp_path / "semicolons.csv"
    path.write_text("id;price;label\n" + rows, encoding="utf-8")
    result = _run(runner, project_dir, "add", str(path))
    assert result.exit_code == 0, result.output
    assert "40 rows × 3 columns" in result.stdout
    assert "read as CSV with delimiter ';', decimal ',', encoding utf-8" in result.stdout
