"""The typed copy of the logged inputs: what becomes a typed child, what stays in the text alone."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxiway.serve.prediction_log import SCHEMA, PredictionLog, PredictionRecord, read_prediction_logs
from taxiway.serve.service import json_text
from taxiway.serve.typed_inputs import TYPED_INPUTS, typed_inputs


def test_numbers_booleans_and_text_get_their_types_and_nulls_stay_null() -> None:
    rows = [
        {"age": 41, "income": 52_000.5, "city": "Lyon", "member": True},
        {"age": 7.5, "income": None, "city": None, "member": False},
        {"city": "Nantes"},  # inputs a row did not send are null
    ]
    typed = typed_inputs([json_text(row) for row in rows])
    assert typed is not None
    assert typed.type == pa.struct(
        [("age", pa.float64()), ("income", pa.float64()), ("city", pa.string()), ("member", pa.bool_())]
    )
    assert typed.to_pylist() == [
        {"age": 41.0, "income": 52_000.5, "city": "Lyon", "member": True},
        {"age": 7.5, "income": None, "city": None, "member": False},
        {"age": None, "income": None, "city": "Nantes", "member": None},
    ]


def test_text_that_looks_like_a_date_keeps_the_spelling_the_client_sent() -> None:
    typed = typed_inputs([json_text({"day": "2013-01-01", "at": "2013-01-01T05:00:00", "n": 1})])
    assert typed is not None
    assert typed.to_pylist() == [{"day": "2013-01-01", "at": "2013-01-01T05:00:00", "n": 1}]


def test_lists_objects_and_inputs_null_in_every_row_stay_in_the_text_only() -> None:
    typed = typed_inputs(['{"x": 1, "tags": ["a"], "where": {"lat": 1.5}, "note": null}'])
    assert typed is not None and typed.type.names == ["x"]
    assert typed_inputs(['{"tags": ["a"]}']) is None  # nothing typed is left


def test_an_input_of_several_types_becomes_text_spelt_as_the_json_reads() -> None:
    texts = ['{"x": 1, "y": 2}', '{"x": "one", "y": 2.5}', '{"x": 2.5, "y": null}', '{"x": true, "z": [1]}']
    typed = typed_inputs(texts)
    assert typed is not None
    assert typed.type == pa.struct([("x", pa.string()), ("y", pa.float64())])  # z: a list, text only
    assert typed.to_pylist() == [
        {"x": "1", "y": 2.0},
        {"x": "one", "y": 2.5},
        {"x": "2.5", "y": None},
        {"x": "true", "y": None},
    ]
    typed = typed_inputs(['{"x": true}', '{"x": 1}'])
    assert typed is not None and typed.to_pylist() == [{"x": "true"}, {"x": "1"}]


def test_rows_that_do_not_make_one_struct_give_none() -> None:
    assert typed_inputs([]) is None
    assert typed_inputs(['{"x": 1}', "[1, 2]"]) is None  # not an object
    assert typed_inputs(['{"x": 1}', "not json"]) is None
    assert typed_inputs(['{"x": 1}\n{"x": 2}']) is None  # one text holding two rows: they would not line up


def test_json_spread_over_lines_still_lines_up_with_its_rows() -> None:
    typed = typed_inputs(['{"x": 1}', '{\n  "x": 2\n}', '{"x": 3}'])
    assert typed is not None and typed.to_pylist() == [{"x": 1}, {"x": 2}, {"x": 3}]


def test_a_flush_writes_the_typed_copy_beside_the_text_and_readers_of_the_log_see_the_text(
    tmp_path: Path,
) -> None:
    log = PredictionLog(str(tmp_path), "host:8000:1")
    now = time.time()
    log.append(
        [
            PredictionRecord(f"r{i}", now, "v1", "blue", "live", json_text({"x": i}), "1", 0.9, None, 1.0)
            for i in range(3)
        ]
    )
    log.flush()
    log.append(
        [
            PredictionRecord("q", now, "v1", "blue", "live", '{"x": "three"}', "1", 0.9, None, 1.0),
            PredictionRecord("p", now, "v1", "blue", "live", "[3]", "1", 0.9, None, 1.0),  # not an object
        ]
    )
    log.flush()
    schemas = [pq.read_schema(path) for path in sorted(tmp_path.rglob("*.parquet"))]
    assert [TYPED_INPUTS in schema.names for schema in schemas] == [True, False]
    table = pq.read_table(min(tmp_path.rglob("*.parquet")))
    assert table.column(TYPED_INPUTS).to_pylist() == [{"x": 0}, {"x": 1}, {"x": 2}]
    frame = read_prediction_logs(str(tmp_path))
    assert TYPED_INPUTS not in frame.columns  # it repeats the text: not shown twice
    assert set(SCHEMA.names) <= set(frame.columns)
    assert sorted(frame["inputs"]) == sorted(['{"x":0}', '{"x":1}', '{"x":2}', '{"x": "three"}', "[3]"])
