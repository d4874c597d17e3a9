"""The project charter: the "Before modelling" answers, kept in taxiway.toml next to the code."""

from taxiway.charter.io import CHARTER_FILE, load_charter, parse_charter, render_charter
from taxiway.charter.model import Charter
from taxiway.charter.questions import QUESTIONS, Question

__all__ = [
    "CHARTER_FILE",
    "QUESTIONS",
    "Charter",
    "Question",
    "load_charter",
    "parse_charter",
    "render_charter",
]
