"""docs/checklist.md names every check, item and ML Test Score test, with what proves it, what does not count
and what would fool it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taxiway.checklist.evaluate import ITEM_STATES, SYMBOLS
from taxiway.checklist.items import ITEMS
from taxiway.checklist.ml_test_score import TESTS
from taxiway.checklist.subjects import BINDINGS
from taxiway.store.checks import Check

DOC = (Path(__file__).parents[2] / "docs" / "checklist.md").read_text(encoding="utf-8")


def _row(first_cell: str) -> list[str]:
    """The cells of the table row that starts with ``first_cell``."""
    line = next((row for row in DOC.splitlines() if row.startswith(f"| {first_cell} |")), None)
    assert line is not None, f"docs/checklist.md has no table row for {first_cell}"
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_every_check_is_documented_and_bound_to_a_subject() -> None:
    missing = [check.value for check in Check if f"`{check.value}`" not in DOC]
    assert missing == [], "document these checks in docs/checklist.md"
    assert set(BINDINGS) == set(Check), "every check needs a subject in taxiway/checklist/subjects.py"


@pytest.mark.parametrize("item_id", [i.id for i in ITEMS])
def test_every_item_says_what_proves_it_what_does_not_count_and_what_would_fool_it(item_id: str) -> None:
    cells = _row(f"`{item_id}`")
    assert len(cells) == 5 and all(cells), cells


@pytest.mark.parametrize("test_id", [t.id for t in TESTS])
def test_every_ml_test_says_what_proves_it_what_does_not_count_and_what_would_fool_it(test_id: str) -> None:
    cells = _row(test_id)
    assert len(cells) == 5 and all(cells), cells
    assert all(f"`{check.value}`" in cells[2] for check in next(t for t in TESTS if t.id == test_id).checks)


def test_every_state_and_mark_is_documented_and_what_taxiway_cannot_see() -> None:
    for state in ITEM_STATES:
        assert f"| `{state}` | {SYMBOLS[state]} |" in DOC
    assert "## What taxiway cannot see" in DOC
    assert re.search(r"A CI provider it does not run in", DOC)
