"""The checklist: the seed checklist and the ML Test Score as data, evaluated from charter and evidence."""

from taxiway.checklist.evaluate import (
    ChecklistReport,
    ItemResult,
    ItemState,
    evaluate_checklist,
    evaluate_item,
)
from taxiway.checklist.items import ITEMS, SECTIONS, Item, Section
from taxiway.checklist.ml_test_score import REASONABLE_SECTION_SCORE, TESTS, MLTest, MLTestScore, band, score
from taxiway.checklist.render import to_json, to_markdown, to_rich

__all__ = [
    "ITEMS",
    "REASONABLE_SECTION_SCORE",
    "SECTIONS",
    "TESTS",
    "ChecklistReport",
    "Item",
    "ItemResult",
    "ItemState",
    "MLTest",
    "MLTestScore",
    "Section",
    "band",
    "evaluate_checklist",
    "evaluate_item",
    "score",
    "to_json",
    "to_markdown",
    "to_rich",
]
