"""The dialect of a CSV file: its field delimiter, its decimal mark and its encoding, read from its start.

Spreadsheets in much of Europe export ``a;b;c`` with decimal commas (``1,5``); read as comma-separated,
such a file is one column named ``a;b;c``. The first lines tell the delimiter: the candidate that splits
every line into the same number (above one) of fields, most fields winning. A decimal comma is only
possible when the delimiter is not a comma, and is taken when some field is a number written with one.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import fsspec

__all__ = ["CsvDialect", "sniff_dialect"]

_CANDIDATES = (",", ";", "\t", "|")
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_LINES = 50
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written.

    Example:
        >>> str(CsvDialect(";", ",", "utf-8"))
        "delimiter ';', decimal ',', encoding utf-8"
    """

    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"

    def __str__(self) -> str:
        shown = "\\t" if self.delimiter == "\t" else self.delimiter
        return f"delimiter '{shown}', decimal '{self.decimal}', encoding {self.encoding}"


def sniff_dialect(path: Path, compression: str | None = None) -> CsvDialect:
    """Read the first lines of ``path`` and tell its delimiter, decimal mark and encoding.

    A file that cannot be opened or decompressed gets the default dialect: reading it then fails with
    the reader's own message. The encoding is UTF-8, with or without a byte-order mark (``utf-8-sig``);
    other encodings are refused by the reader with a hint to convert.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("age;income;city\\n31;1200,5;Lyon\\n47;980,25;Oslo\\n")
        >>> sniff_dialect(p)
        CsvDialect(delimiter=';', decimal=',', encoding='utf-8')
        >>> _ = p.write_text("a,b\\n1,2.5\\n")
        >>> sniff_dialect(p).delimiter
        ','
    """
    try:
        with fsspec.open(str(path), "rb", compression=compression) as handle:
            head = handle.read(_SAMPLE_BYTES)
    except Exception:  # noqa: BLE001 - a file that cannot be opened: the reader reports why, with a hint
        return CsvDialect()
    encoding = "utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-8"
    text = head.decode(encoding, errors="replace")
    lines = text.splitlines()
    if len(head) == _SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off mid-row
    sample = "\n".join(lines[:_SAMPLE_LINES])
    delimiter = _delimiter(sample)
    decimal = "," if delimiter != "," and _has_decimal_commas(sample, delimiter) else "."
    return CsvDialect(delimiter, decimal, encoding)


def _delimiter(sample: str) -> str:
    best, best_fields = ",", 1
    for candidate in _CANDIDATES:
        counts = {len(row) for row in csv.reader(io.StringIO(sample), delimiter=candidate) if row}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = candidate, fields
    return best


def _has_decimal_commas(sample: str, delimiter: str) -> bool:
    rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))[1:]
    return any(_DECIMAL_COMMA.fullmatch(field.strip()) for row in rows for field in row)
