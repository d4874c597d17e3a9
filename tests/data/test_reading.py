"""Reading CSV and Parquet files: formats, compression, dates, and the errors for bad files."""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from taxiway.data.reading import FileKind, detect_kind, read_table
from taxiway.errors import DataError

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("train.csv", FileKind("csv", None, ".csv")),
        ("train.CSV", FileKind("csv", None, ".csv")),
        ("train.csv.gz", FileKind("csv", "gzip", ".csv.gz")),
        ("train.csv.bz2", FileKind("csv", "bz2", ".csv.bz2")),
        ("train.csv.xz", FileKind("csv", "xz", ".csv.xz")),
        ("train.csv.zip", FileKind("csv", "zip", ".csv.zip")),
        ("train.parquet", FileKind("parquet", None, ".parquet")),
        ("train.pq", FileKind("parquet", None, ".pq")),
    ],
)
def test_detect_kind_from_the_extension(name: str, kind: FileKind) -> None:
    assert detect_kind(Path(name)) == kind
    assert kind.stem(Path(name)) == "train"


def test_stem_keeps_dots_that_are_not_the_extension() -> None:
    assert detect_kind(Path("sales.2024.csv.gz")).stem(Path("sales.2024.csv.gz")) == "sales.2024"


@pytest.mark.parametrize("name", ["data.xlsx", "data.gz", "data", "data.json", ".csv"])
def test_unknown_format_lists_the_supported_extensions(name: str) -> None:
    with pytest.raises(DataError, match="unknown format") as caught:
        detect_kind(Path(name))
    assert ".csv.gz" in caught.value.hint and ".parquet" in caught.value.hint and ".pq" in caught.value.hint


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip"])
def test_csv_plain_and_compressed_read_the_same(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "city": ["Lyon", "Zürich", "Oslo"], "label": [0.5, 1.5, None]})
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame, check_dtype=False)
    assert read_table(path)["x"].dtype == "int64"


def test_parquet_round_trips_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "flag": [True, False, True],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "color": pd.Categorical(["red", "blue", "red"]),
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), frame)


def test_parquet_dates_become_datetimes(tmp_path: Path) -> None:
    pd.DataFrame({"day": [dt.date(2024, 5, 1), None]}).to_parquet(tmp_path / "d.parquet")
    assert pd.api.types.is_datetime64_any_dtype(read_table(tmp_path / "d.parquet")["day"])


def test_iso_dates_in_csv_become_datetimes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "day,at,zoned,mixed,bad,partly,number\n"
        "2024-05-01,2024-05-01T10:30:00,2024-03-30T10:00:00+01:00,2024-05-01T10:00:00Z,2024-02-30,2024-05-01,20240501\n"
        "2024-05-02,2024-05-01 11:00,2024-04-01T10:00:00+02:00,2024-05-01T10:00:00,2024-02-28,soon,20240502\n"
        ",,,,,,\n",
        encoding="utf-8",
    )
    frame = read_table(path)
    assert str(frame["day"].dtype).startswith("datetime64")
    assert frame["day"].isna().sum() == 1
    assert frame["at"].iloc[1] == pd.Timestamp("2024-05-01 11:00")
    # Offsets that differ (daylight saving) become one UTC column.
    assert str(frame["zoned"].dt.tz) == "UTC"
    assert frame["zoned"].iloc[1] == pd.Timestamp("2024-04-01T08:00:00Z")
    # Naive mixed with zoned, impossible dates and free text stay text; numbers stay numbers.
    for column in ("mixed", "bad", "partly"):
        assert pd.api.types.is_string_dtype(frame[column].dtype), column
    assert pd.api.types.is_float_dtype(frame["number"].dtype)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data file '.*nope\.csv' does not exist"):
        read_table(tmp_path / "nope.csv")


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match="is not a file"):
        read_table(tmp_path / "dir.csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"a,label\n", r"has no rows \(columns: a, label\)"),
        (b"\n\n\n", "is empty: no header and no rows"),
    ],
)
def test_empty_csv(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_table(path)


def test_parquet_without_rows(tmp_path: Path) -> None:
    pd.DataFrame({"a": pd.Series([], dtype="int64")}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match="has no rows"):
        read_table(tmp_path / "t.parquet")


def test_latin1_csv_names_the_byte_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes("city,label\nOslo,1\nBogotá,0\n".encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert str(caught.value) == f"data file '{path}' is not UTF-8 text at byte offset 23 (line 3): byte 0xe1"
    assert "iconv -f latin1 -t utf-8 'cities.csv' > 'cities.utf8.csv'" in caught.value.hint


def test_utf8_offset_is_exact_past_the_first_megabyte(tmp_path: Path) -> None:
    # A valid two-byte character straddles the 1 MiB read boundary; the bad byte comes later.
    head = b"text\n" + b"a" * ((1 << 20) - 6) + "é".encode() + b"\n"
    assert head[(1 << 20) - 1 : (1 << 20) + 1] == "é".encode()
    path = tmp_path / "big.csv"
    path.write_bytes(head + b"ok\nbad \xff here\n")
    with pytest.raises(DataError, match=rf"at byte offset {len(head) + 7} \(line 4\): byte 0xff"):
        read_table(path)


def test_gzipped_latin1_offset_is_in_the_decompressed_content(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress("a\ncafé\n".encode("latin-1")))
    expected = r"at byte offset 5 \(line 2\) of the decompressed content: byte 0xe9"
    with pytest.raises(DataError, match=expected):
        read_table(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="cannot be decompressed as gzip") as caught:
        read_table(path)
    assert ".csv.gz" in caught.value.hint


@pytest.mark.parametrize("members", [["a.csv", "b.csv"], []])
def test_zip_must_hold_one_file(tmp_path: Path, members: list[str]) -> None:
    path = tmp_path / "t.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.writestr(member, "a\n1\n")
    with pytest.raises(DataError, match="cannot be read as CSV: .* files found in ZIP file") as caught:
        read_table(path)
    assert caught.value.hint == "a .csv.zip must hold exactly one CSV file"


@pytest.mark.parametrize("suffix", [".csv.bz2", ".csv.xz", ".csv.zip"])
def test_corrupt_compressed_csv(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_bytes(b"garbage, not compressed")
    with pytest.raises(DataError, match=f"cannot be decompressed as {suffix.rsplit('.', 1)[1]}"):
        read_table(path)


def test_malformed_csv(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n", encoding="utf-8")
    with pytest.raises(DataError, match="is not valid CSV: .*line 3"):
        read_table(path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_parquet(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": range(100)}).to_parquet(path)
    path.write_bytes(b"PAR1 not really" if damage == "garbage" else path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"is not a valid Parquet file: \S") as caught:
        read_table(path)
    assert str(path) not in str(caught.value).split(": ", 1)[1]  # the path is named once, not twice


def test_a_semicolon_file_with_decimal_commas_is_read_as_columns(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("hotel;price;day\nA;120,5;2024-05-01\nB;99,25;2024-05-02\n", encoding="utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["hotel", "price", "day"]
    assert frame["price"].tolist() == [120.5, 99.25]
    assert str(frame["day"].dtype).startswith("datetime64")


def test_a_tab_separated_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\xef\xbb\xbfa\tb\n1\t2.5\n3\t4.0\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b"] and frame["b"].tolist() == [2.5, 4.0]
