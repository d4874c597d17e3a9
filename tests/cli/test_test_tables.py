"""The `taxiway test unit` and `test behaviour` tables: each header sits over its own value."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from taxiway.cli.test import render_behaviour, render_unit_tests


def _rows(render: Any, document: dict[str, Any]) -> list[list[str]]:
    console = Console(record=True, width=160, color_system=None)
    render(document, console)
    lines = console.export_text().splitlines()
    return [
        [cell.strip() for cell in line.strip("│┃").split("│" if "│" in line else "┃")]
        for line in lines
        if line.startswith(("│", "┃"))
    ]


def test_the_unit_test_table_has_one_header_per_value() -> None:
    document = {
        "path": "tests",
        "duration_s": 1.5,
        "tests": 7,
        "passed_count": 5,
        "failed": 1,
        "errors": 1,
        "skipped": 0,
        "failures": [],
        "passed": False,
    }
    header, values = _rows(render_unit_tests, document)
    assert header == ["tests", "passed", "failed", "errors", "skipped"]
    assert values == ["7", "5", "1", "1", "0"]


def test_the_behaviour_table_names_its_columns() -> None:
    document = {
        "run_id": "r-1",
        "run_name": "candidate",
        "file": "tests/behaviour.yaml",
        "passed": True,
        "tests": [
            {
                "name": "warmer is later",
                "kind": "directional",
                "examples": 20,
                "failed": 0,
                "passed": True,
                "failures": [],
            }
        ],
    }
    header, row = _rows(render_behaviour, document)
    assert header == ["test", "kind", "examples", "failed", "result"]
    assert row == ["warmer is later", "directional", "20", "0", "pass"]
