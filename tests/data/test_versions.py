"""Dataset versions on every backend: add, dedupe, lineage, lookup, load; nothing written on bad input."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sqlalchemy import func, select

from taxiway.data import add_dataset, get_dataset, latest_dataset, list_datasets, load_dataset
from taxiway.data.versions import Phase
from taxiway.errors import ArtifactCorruptError, DataError, NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.artifacts import sha256_file
from taxiway.store.checks import Check
from taxiway.store.tables import ArtifactRow, DatasetVersionRow, EvidenceRow


def _iris() -> pd.DataFrame:
    frame: pd.DataFrame = load_iris(as_frame=True).frame.rename(columns={"target": "label"})
    frame["species"] = frame["label"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _counts(store: Store) -> tuple[int, int, int, int]:
    """(dataset rows, artifact rows, evidence rows, blob files): all zero means nothing was written."""
    with store.session() as session:
        rows = [
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (DatasetVersionRow, ArtifactRow, EvidenceRow)
        ]
    root = Path(store.artifacts.uri)
    blobs = [path for path in root.rglob("*") if path.is_file()] if root.exists() else []
    return rows[0], rows[1], rows[2], len(blobs)


def test_add_csv_stores_file_row_schema_and_evidence(store: Store, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "iris.csv", _iris())
    result = add_dataset(store, path, target="label")

    version = result.version
    assert result.is_new
    assert version.id == hashlib.sha256(path.read_bytes()).hexdigest() == version.artifact
    assert version.short_id == version.id[:12]
    assert (version.name, version.format, version.source) == ("iris", "csv", str(path))
    assert (version.n_rows, version.n_columns, version.size_bytes) == (150, 6, path.stat().st_size)
    assert version.parent_id is None
    assert version.created_at.tzinfo is not None
    assert abs(version.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    kinds = {column["name"]: column["kind"] for column in version.schema["columns"]}
    assert kinds == {
        "sepal length (cm)": "float",
        "sepal width (cm)": "float",
        "petal length (cm)": "float",
        "petal width (cm)": "float",
        "label": "integer",
        "species": "string",
    }
    assert store.artifacts.get_bytes(version.artifact) == path.read_bytes()
    assert _counts(store) == (1, 1, 2, 1)  # data.version, data.pii: an inferred schema proves nothing

    evidence = store.evidence.latest([Check.DATA_VERSION, Check.DATA_SCHEMA])
    recorded = evidence[Check.DATA_VERSION]
    assert (recorded.subject_kind, recorded.subject_id, recorded.status) == ("dataset", version.id, "pass")
    duplicates = recorded.details.pop("duplicates")
    size = path.stat().st_size
    assert recorded.details == {
        "name": "iris",
        "n_rows": 150,
        "n_columns": 6,
        "stored_bytes": size,
        "source_bytes": size,
    }
    assert (recorded.value, recorded.threshold) == (0.0, 0.0)  # every byte of the source was stored
    assert duplicates["copies"] == 1 and duplicates["conflicting"] == 0  # iris repeats one row
    assert Check.DATA_SCHEMA not in evidence


def test_stored_version_reads_back_the_same(store: Store, tmp_path: Path) -> None:
    added = add_dataset(store, _write_csv(tmp_path / "iris.csv", _iris())).version
    assert get_dataset(store, added.id) == added
    assert list_datasets(store) == [added]


def test_add_parquet(store: Store, tmp_path: Path) -> None:
    frame = _iris()
    frame.to_parquet(tmp_path / "iris.pq")
    version = add_dataset(store, tmp_path / "iris.pq", target="label").version
    assert (version.format, version.name, version.n_rows) == ("parquet", "iris", 150)
    pd.testing.assert_frame_equal(load_dataset(store, version), frame)


def test_same_content_twice_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "iris.csv", _iris())
    first = add_dataset(store, path)
    before = _counts(store)
    again = add_dataset(store, path)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    renamed = add_dataset(store, copy, name="other")
    assert not again.is_new and not renamed.is_new
    assert again.version == renamed.version == first.version  # the stored name stands
    assert _counts(store) == before


def test_lineage_follows_the_newest_version_of_the_same_name(store: Store, tmp_path: Path) -> None:
    frame = _iris()
    v1 = add_dataset(store, _write_csv(tmp_path / "v1.csv", frame), name="iris").version
    v2 = add_dataset(store, _write_csv(tmp_path / "v2.csv", frame.iloc[:100]), name="iris").version
    other = add_dataset(store, _write_csv(tmp_path / "wine.csv", frame.iloc[:10])).version
    v3 = add_dataset(store, _write_csv(tmp_path / "v3.csv", frame.iloc[:50]), name="iris").version
    assert (v1.parent_id, v2.parent_id, v3.parent_id, other.parent_id) == (None, v1.id, v2.id, None)
    assert list_datasets(store) == [v3, other, v2, v1]
    assert list_datasets(store, "iris") == [v3, v2, v1]
    assert list_datasets(store, "nothing") == []
    assert latest_dataset(store) == v3
    assert latest_dataset(store, "wine") == other
    assert latest_dataset(store, "nothing") is None


def test_latest_of_an_empty_store(store: Store) -> None:
    assert latest_dataset(store) is None
    assert list_datasets(store) == []


def test_default_name_drops_every_extension(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flights.2024.csv.gz"
    _iris().to_csv(path, index=False)
    version = add_dataset(store, path).version
    assert (version.name, version.format) == ("flights.2024", "csv")
    assert store.artifacts.get_bytes(version.artifact) == path.read_bytes()  # stored compressed, as given
    pd.testing.assert_frame_equal(load_dataset(store, version), pd.read_csv(path))


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 201])
def test_unusable_names(store: Store, tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="is not usable"):
        add_dataset(store, _write_csv(tmp_path / "t.csv", _iris()), name=name)
    assert _counts(store) == (0, 0, 0, 0)


def test_lookup_by_prefix(store: Store, tmp_path: Path) -> None:
    version = add_dataset(store, _write_csv(tmp_path / "iris.csv", _iris())).version
    assert get_dataset(store, version.id[:4]) == version
    assert get_dataset(store, f"  {version.short_id.upper()} ") == version
    with pytest.raises(TaxiwayError, match="too short: give at least 4 characters") as caught:
        get_dataset(store, version.id[:3])
    assert "taxiway data list" in caught.value.hint
    with pytest.raises(NotFoundError, match="no dataset version starts with") as missing:
        get_dataset(store, "0000" if not version.id.startswith("0000") else "1111")
    assert "taxiway data list" in missing.value.hint
    with pytest.raises(NotFoundError, match="hexadecimal"):
        get_dataset(store, "iris")
    with pytest.raises(NotFoundError, match="hexadecimal"):
        get_dataset(store, "ab%_")


def test_ambiguous_prefix(store: Store, tmp_path: Path) -> None:
    # Find two tiny files whose hashes share their first 4 hex digits (a few hundred tries at most).
    seen: dict[str, bytes] = {}
    for i in range(100_000):
        content = f"x,label\n{i},a\n".encode()
        prefix = hashlib.sha256(content).hexdigest()[:4]
        if prefix in seen:
            break
        seen[prefix] = content
    for number, data in enumerate((seen[prefix], content)):
        (tmp_path / f"t{number}.csv").write_bytes(data)
        add_dataset(store, tmp_path / f"t{number}.csv")
    with pytest.raises(
        TaxiwayError, match=f"'{prefix}' is ambiguous: it matches versions {prefix}"
    ) as caught:
        get_dataset(store, prefix)
    assert "give more characters" in caught.value.hint


def test_load_by_reference_round_trips(store: Store, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"x": [1, 2, 3], "label": ["a", "b", None], "day": ["2024-01-01", None, "2024-01-03"]}
    )
    version = add_dataset(store, _write_csv(tmp_path / "t.csv", frame)).version
    loaded = load_dataset(store, version.short_id)
    expected = frame.assign(day=pd.to_datetime(frame["day"]))
    pd.testing.assert_frame_equal(loaded, expected, check_dtype=False)
    assert str(loaded["day"].dtype).startswith("datetime64")


def test_tampered_artifact_is_refused(store: Store, tmp_path: Path) -> None:
    version = add_dataset(store, _write_csv(tmp_path / "iris.csv", _iris())).version
    Path(store.artifacts.path_of(version.artifact)).write_bytes(b"x,label\n1,a\n")
    with pytest.raises(ArtifactCorruptError, match=f"artifact {version.short_id} .* was changed"):
        load_dataset(store, version)


def test_progress_reports_bytes_per_phase(store: Store, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "iris.csv", _iris())
    seen: dict[Phase, int] = {}

    def progress(phase: Phase, n_bytes: int) -> None:
        seen[phase] = seen.get(phase, 0) + n_bytes

    add_dataset(store, path, progress=progress)
    size = path.stat().st_size
    assert seen == {"hash": size, "read": 0, "copy": size}
    seen.clear()
    add_dataset(store, path, progress=progress)
    assert seen == {"hash": size}  # already stored: hashed, nothing read or copied


def _latin1(path: Path) -> None:
    path.write_bytes("city,label\nBogotá,1\n".encode("latin-1"))


def _garbage(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not parquet")


BAD_FILES = {
    "missing": ("nope.csv", None, "does not exist"),
    "empty": ("t.csv", lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)"),
    "header only": ("t.csv", lambda p: p.write_text("a,label\n"), "has no rows"),
    "latin-1": ("t.csv", _latin1, r"is not UTF-8 text at byte offset 16 \(line 2\)"),
    "unknown format": ("t.xlsx", lambda p: p.write_bytes(b"PK"), "unknown format"),
    "corrupt parquet": ("t.parquet", _garbage, "is not a valid Parquet file"),
    "no target": ("t.csv", lambda p: p.write_text("a,Label\n1,2\n"), "target column 'label'"),
    "single class": (
        "t.csv",
        lambda p: p.write_text("a,label\n1,yes\n2,yes\n3,\n"),
        r"holds a single value \('yes' in all 2 rows that have one\): there is nothing to learn",
    ),
    "no target value": ("t.csv", lambda p: p.write_text("a,label\n1,\n2,\n"), "has no value in any of its 2"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_input_writes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    name, write, message = BAD_FILES[case]
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(DataError, match=message):
        add_dataset(store, path, target="label")
    assert _counts(store) == (0, 0, 0, 0)


def test_copies_and_conflicting_labels_are_counted_with_examples(store: Store, tmp_path: Path) -> None:
    frame = _iris()
    copies = frame.iloc[:6]  # 6 rows again (4%)
    relabelled = frame.iloc[60:63].assign(label=9)  # 3 rows again under another label
    path = _write_csv(tmp_path / "iris.csv", pd.concat([frame, copies, relabelled]))
    result = add_dataset(store, path, target="label")
    found = result.duplicates
    assert found is not None and found.rows == 159
    # iris itself repeats one row (143 = 102), so 7 copies.
    assert found.copies == 7 and found.conflicting == 6 and found.conflicting_groups == 3
    messages = found.messages("label")
    assert messages[0].startswith("7 rows (4.4%) are exact copies of another row")
    assert "drop_duplicates" in messages[0]
    assert messages[1].startswith("6 rows (3.8%, 3 groups) share every feature with a row of another 'label'")
    pair = found.copy_examples[:2]
    assert len(pair) == 2 and {k: v for k, v in pair[0].items() if k != "row_key"} == {
        k: v for k, v in pair[1].items() if k != "row_key"
    }
    assert {row["label"] for row in found.conflict_examples} == {1, 9}
    record = store.evidence.latest([Check.DATA_VERSION])[Check.DATA_VERSION]
    assert record.details["duplicates"]["copies"] == 7
    # Clean data: nothing to say.
    clean = add_dataset(store, _write_csv(tmp_path / "clean.csv", frame.drop_duplicates()), target="label")
    assert clean.duplicates is not None and clean.duplicates.messages("label") == []


def test_missing_target_lists_columns_and_suggests_the_closest(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("sepal,lable,species\n1,0,a\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        add_dataset(store, path, target="label")
    assert str(caught.value) == (
        "target column 'label' (problem.target in taxiway.toml) is not in 't.csv'; "
        "its columns are: sepal, lable, species"
    )
    assert caught.value.hint.startswith("did you mean 'lable'?")
    path.write_text("Label\n1\n", encoding="utf-8")
    with pytest.raises(DataError) as case:
        add_dataset(store, path, target="label")
    assert case.value.hint.startswith("did you mean 'Label'?")


def test_missing_target_with_many_columns_stays_one_line(store: Store, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "wide.csv", pd.DataFrame({f"c{i}": [i] for i in range(30)}))
    with pytest.raises(DataError, match=r"c19, \.\.\. \(10 more\)$") as caught:
        add_dataset(store, path, target="label")
    assert "\n" not in str(caught.value)


def test_a_stored_copy_that_lost_bytes_fails_data_version(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"x": range(50), "label": [0, 1] * 25}).to_csv(path, index=False)
    # A blob already at the file's address (a crash, a bad disk) is kept as it is: the check measures it.
    target = Path(store.artifacts.path_of(sha256_file(path)))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes()[:40])
    version = add_dataset(store, path).version
    recorded = store.evidence.latest_about(Check.DATA_VERSION, "dataset", version.id)
    assert recorded is not None and recorded.status == "fail"
    assert recorded.value == path.stat().st_size - 40
