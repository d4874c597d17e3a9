"""Reading a data file (CSV or Parquet) into pandas, with errors that name the file and the fix."""

from __future__ import annotations

import codecs
import itertools
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import fsspec
import pandas as pd
import pyarrow as pa

from taxiway.data.dialect import sniff_dialect
from taxiway.errors import DataError

DataFormat = Literal["csv", "parquet"]
Compression = Literal["gzip", "bz2", "xz", "zip"]

SUFFIXES: dict[str, tuple[DataFormat, Compression | None]] = {
    ".csv": ("csv", None),
    ".csv.gz": ("csv", "gzip"),
    ".csv.bz2": ("csv", "bz2"),
    ".csv.xz": ("csv", "xz"),
    ".csv.zip": ("csv", "zip"),
    ".parquet": ("parquet", None),
    ".pq": ("parquet", None),
}
SUPPORTED_SUFFIXES = ", ".join(SUFFIXES)
# Longest suffix first, so "train.csv.gz" is a gzipped CSV and not an unknown ".gz" file.
_BY_LENGTH = sorted(SUFFIXES.items(), key=lambda item: -len(item[0]))
_SCAN_BYTES = 1 << 20
# ISO 8601 dates and times as CSV writers (pandas, Excel, databases) put them; anything looser stays a string.
_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})"
_ISO_DATETIME = f"{_DATE}(?:{_TIME}{_OFFSET}?)?"
_ISO_DATETIME_ZONED = f"{_DATE}{_TIME}{_OFFSET}"

__all__ = [
    "SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "Compression",
    "DataFormat",
    "FileKind",
    "check_file",
    "detect_kind",
    "read_table",
]


@dataclass(frozen=True)
class FileKind:
    """What a data file's name says about its content.

    Example:
        >>> detect_kind(Path("flights.csv.gz"))
        FileKind(format='csv', compression='gzip', suffix='.csv.gz')
    """

    format: DataFormat
    compression: Compression | None
    suffix: str

    def stem(self, path: Path) -> str:
        """The file name without this kind's suffix: ``train.csv.gz`` gives ``train``."""
        return path.name[: len(path.name) - len(self.suffix)]


def detect_kind(path: Path) -> FileKind:
    """Tell the format and compression of ``path`` from its extension.

    Raises:
        DataError: the extension is not one taxiway reads.
    """
    lowered = path.name.lower()
    for suffix, (data_format, compression) in _BY_LENGTH:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return FileKind(data_format, compression, suffix)
    extension = "".join(path.suffixes[-2:]) or "(none)"
    raise DataError(
        f"data file '{path}' has an unknown format: extension {extension}",
        hint=f"taxiway reads CSV and Parquet files; name it with one of {SUPPORTED_SUFFIXES}",
    )


def read_table(path: Path, kind: FileKind | None = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet file, refusing files that are missing, empty or unreadable.

    CSV text must be UTF-8; its delimiter (``,``, ``;``, tab, ``|``) and decimal mark are read from its
    first lines (:mod:`taxiway.data.dialect`). Columns of ISO 8601 dates or times (``2024-05-01``,
    ``2024-05-01T10:30:00Z``) become datetime columns, so a CSV and a Parquet file of the same data give
    the same kinds.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "t.csv"; _ = p.write_text("a,day\\n1,2024-05-01\\n")
        >>> read_table(p).dtypes.astype(str).tolist()
        ['int64', 'datetime64[us]']

    Raises:
        DataError: the file is missing, empty, not UTF-8, not valid CSV or Parquet, or of an unknown format.
    """
    kind = kind or detect_kind(path)
    check_file(path)
    frame = _read_csv(path, kind) if kind.format == "csv" else _read_parquet(path)
    if len(frame) == 0:
        raise DataError(
            f"data file '{path}' has no rows (columns: {', '.join(map(str, frame.columns))})",
            hint="a dataset version needs at least one row; check that the export wrote its rows",
        )
    return frame


def check_file(path: Path) -> None:
    """Refuse a path that is missing, is a folder, or holds 0 bytes, before any work is spent on it.

    Raises:
        DataError: naming the path and what is wrong with it.
    """
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist", hint="check the path and the working folder")
    if not path.is_file():
        raise DataError(f"data file '{path}' is not a file", hint="give the path of a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"data file '{path}' is empty (0 bytes)", hint="give a file with a header and rows")


def _read_csv(path: Path, kind: FileKind) -> pd.DataFrame:
    try:
        # low_memory=False: type each column from all its rows, not chunk by chunk (which warns on mixed
        # types, an error under pytest's -W error and noise for users).
        dialect = sniff_dialect(path, kind.compression)
        frame = pd.read_csv(
            path,
            sep=dialect.delimiter,
            decimal=dialect.decimal,
            encoding=dialect.encoding,
            compression=kind.compression,
            low_memory=False,
        )
    except UnicodeDecodeError:
        raise _not_utf8(path, kind) from None
    except pd.errors.EmptyDataError:
        raise DataError(
            f"data file '{path}' is empty: no header and no rows", hint="give a file with a header and rows"
        ) from None
    except pd.errors.ParserError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(
            f"data file '{path}' is not valid CSV: {reason}",
            hint="check the line shown: every row needs as many fields as the header, quotes must be closed",
        ) from None
    except ValueError as exc:  # e.g. a .csv.zip holding several files, or none
        reason = str(exc).strip().splitlines()[0]
        raise DataError(
            f"data file '{path}' cannot be read as CSV: {reason}",
            hint="a .csv.zip must hold exactly one CSV file"
            if kind.compression == "zip"
            else "check that the file is CSV text with a header row",
        ) from None
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"data file '{path}' cannot be decompressed as {kind.compression or 'plain text'}: {exc}",
            hint=f"check that the file is complete and its extension ({kind.suffix}) matches its content",
        ) from None
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column].dtype):
            frame[column] = _parse_iso_datetimes(frame[column])
    return frame


def _not_utf8(path: Path, kind: FileKind) -> DataError:
    """Find the first byte that is not UTF-8 (pandas reports a position inside its buffer, not the file)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    where = "somewhere in the file"
    bad = ""
    with fsspec.open(str(path), "rb", compression=kind.compression) as handle:
        # A last empty chunk flushes the decoder, so a character cut off at the end of the file is reported.
        for chunk in itertools.chain(iter(lambda: handle.read(_SCAN_BYTES), b""), [b""]):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                line += data[: exc.start].count(b"\n")
                where = f"at byte offset {offset - len(pending) + exc.start} (line {line})"
                bad = f": byte 0x{data[exc.start]:02x}" if exc.start < len(data) else ": truncated character"
                break
            line += chunk.count(b"\n")
            offset += len(chunk)
    decompressed = " of the decompressed content" if kind.compression else ""
    return DataError(
        f"data file '{path}' is not UTF-8 text {where}{decompressed}{bad}",
        hint=f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 '{path.name}' > "
        f"'{kind.stem(path)}.utf8.csv'",
    )


def _parse_iso_datetimes(column: pd.Series) -> pd.Series:
    """Turn a text column into datetimes when every value is an ISO 8601 date or time; else keep it."""
    present = column.dropna()
    # The first value rules out most text columns before a regex runs over every row.
    if present.empty or not re.fullmatch(_ISO_DATETIME, str(present.iloc[0])):
        return column
    if not present.str.fullmatch(_ISO_DATETIME).all():
        return column
    with_offset = present.str.fullmatch(_ISO_DATETIME_ZONED)
    if with_offset.any() and not with_offset.all():
        return column  # naive and zoned times mixed: no conversion would be faithful to both
    try:
        # Offsets may differ across rows (daylight saving): store the instants in UTC.
        parsed = pd.to_datetime(column, format="ISO8601", utc=bool(with_offset.all()))
    except (ValueError, OverflowError):
        return column  # e.g. 2024-02-30: looks like a date, is not one
    return parsed


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        # date_as_object=False: Parquet dates become datetime columns, as ISO dates in a CSV do.
        return pd.read_parquet(path, engine="pyarrow", to_pandas_kwargs={"date_as_object": False})
    except (pa.ArrowException, OSError, ValueError) as exc:
        # pyarrow repeats the path ("Could not open Parquet input source '<path>': ..."): keep the reason.
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(exc).strip()).split(". ")[0]
        reason = reason or type(exc).__name__
        raise DataError(
            f"data file '{path}' is not a valid Parquet file: {reason}",
            hint="the file may be truncated or not Parquet at all; export it again "
            "(e.g. DataFrame.to_parquet)",
        ) from None
