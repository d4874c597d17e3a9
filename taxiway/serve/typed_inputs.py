"""The prediction log's typed copy of each row's inputs: one Parquet struct column beside the JSON text.

The log keeps every row's inputs as the JSON text the client's values became (``inputs``): exact, and what
``taxiway logs`` shows. Monitoring reads the same inputs for every feature of a million rows, and parsing that
text was most of a report's CPU time (benchmarks/monitoring.py). So each flush also writes
``typed_inputs``, the texts parsed once by Arrow's JSON reader into a struct with one typed child per input
(numbers, booleans, text), which DuckDB reads column by column without parsing anything.

The typed copy is a view, never the record. An input sent as a number by one client and as text by another
(``42`` and ``"42"``) becomes text in that flush's copy, spelt as a reader of the JSON would read it (``42``,
``"forty"``), so readers get the same values from either; rows that are not JSON objects leave the flush
with the text alone, which readers parse as before. Values that are lists or objects stay in the text only.
Within a file, the column is there for every row or not at all (compaction keeps it so:
:mod:`taxiway.serve.log_compaction`).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

__all__ = ["TYPED_INPUTS", "typed_inputs"]

TYPED_INPUTS = "typed_inputs"


def typed_inputs(texts: Sequence[str]) -> pa.StructArray | None:
    """The JSON objects ``texts`` parsed into one typed struct array, or None when they do not make one.

    Text that looks like a date stays text (Arrow would read it as a timestamp, and a category must keep
    the spelling the client sent); inputs that are null in every row, lists or objects are left out.

    Example:
        >>> typed_inputs(['{"age": 41, "city": "Lyon"}', '{"age": 7.5, "city": null}']).type
        StructType(struct<age: double, city: string>)
        >>> typed_inputs(['{"day": "2013-01-01"}']).type
        StructType(struct<day: string>)
        >>> typed_inputs(['{"age": 41}', '{"age": "forty"}']).to_pylist()  # no one type for "age": text
        [{'age': '41'}, {'age': 'forty'}]
        >>> typed_inputs(['{"age": 41}', '[41]']) is None  # not an object
        True
    """
    if not texts:
        return None
    data = "\n".join(texts).encode()
    # One block and one thread: the flush runs beside the request handlers and must not take every core.
    read = pa_json.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
    try:
        table = pa_json.read_json(pa.py_buffer(data), read_options=read)
        dates = [f for f in table.schema if pa.types.is_temporal(f.type)]
        if dates:
            schema = pa.schema([f.with_type(pa.string()) if f in dates else f for f in table.schema])
            parse = pa_json.ParseOptions(explicit_schema=schema)
            table = pa_json.read_json(pa.py_buffer(data), read_options=read, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _one_by_one(texts)
    if table.num_rows != len(texts):  # a text spread over several lines: the rows would not line up
        return _one_by_one(texts)
    return _struct({name: table.column(name).combine_chunks() for name in table.column_names})


def _one_by_one(texts: Sequence[str]) -> pa.StructArray | None:
    """The slow way, for the flushes Arrow's reader refuses: each text parsed in Python, and an input with
    values of several types kept as text (a string as it is, anything else as its JSON)."""
    try:
        rows = [orjson.loads(text) for text in texts]
    except orjson.JSONDecodeError:
        return None
    if not all(isinstance(row, dict) for row in rows):
        return None
    columns: dict[str, pa.Array] = {}
    for name in dict.fromkeys(key for row in rows for key in row):
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)  # Python's str never becomes a timestamp here
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([_as_text(value) for value in values], pa.string())
    return _struct(columns)


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _struct(columns: dict[str, pa.Array]) -> pa.StructArray | None:
    """The scalar columns as one struct (None when there is none)."""
    kept = {name: column for name, column in columns.items() if _scalar(column.type)}
    if not kept:
        return None
    return pa.StructArray.from_arrays(list(kept.values()), names=list(kept))


def _scalar(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_string(kind)
    )
