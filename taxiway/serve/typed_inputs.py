"""The prediction log's typed copy of each row's inputs: one Parquet struct column beside the JSON text.

The log keeps every row's inputs as the JSON text the client's values became (``inputs``): exact, and what
``taxiway logs`` shows. Monitoring reads the same inputs for every feature of a million rows, and parsing that
text was most of a report's CPU time (benchmarks/monitoring.py). So each flush also writes
``typed_inputs``, the texts parsed once by Arrow's JSON reader into a struct with one typed child per input
(numbers, booleans, text), which DuckDB reads column by column without parsing anything.

The typed copy is a view, never the record: a flush whose inputs do not make one struct (an input that is a
number in one row and text in another, or rows that are not JSON objects) writes the text alone, and
readers parse it as before. Values that are lists or objects stay in the text only. Within a file, the
column is there for every row or not at all (compaction keeps it so: :mod:`taxiway.serve.log_compaction`).
"""

from __future__ import annotations

from collections.abc import Sequence

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
        >>> typed_inputs(['{"age": 41}', '{"age": "forty"}']) is None  # no one type for "age"
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
        return None
    if table.num_rows != len(texts):  # a text spread over several lines: the rows would not line up
        return None
    kept = [name for name, kind in zip(table.column_names, table.schema.types, strict=True) if _scalar(kind)]
    if not kept:
        return None
    columns = [table.column(name).combine_chunks() for name in kept]
    return pa.StructArray.from_arrays(columns, names=kept)


def _scalar(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_string(kind)
    )
