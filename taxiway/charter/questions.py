"""The "Before modelling" questions of the seed checklist, as data.

`taxiway init` asks them one by one and writes the answers into taxiway.toml; the checklist reads the
same list to know which charter field answers which item. A question left unanswered keeps its
``default`` as the value taxiway works with, but stays unanswered (✗) in the checklist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from taxiway.measure.metrics import Task

Kind = Literal["text", "float", "int", "date", "choice", "list", "metric"]
# The default of a question whose value taxiway measures from the data (taxiway.data.improvement).
DERIVED_FROM_DEV_SET = "derived from the dev set"


@dataclass(frozen=True)
class Question:
    """One question a charter answers.

    Example:
        >>> q = question("serving.freshness_days")
        >>> q.kind, q.default
        ('int', 30)
    """

    path: str
    prompt: str
    kind: Kind
    default: Any = None
    choices: tuple[str, ...] = ()
    task: Task | None = None  # asked only for this task; None: for every task
    default_for: dict[str, Any] | None = None  # per-task default, overrides ``default``

    @property
    def section(self) -> str:
        return self.path.split(".")[0]

    @property
    def key(self) -> str:
        return self.path.split(".", 1)[1]

    @property
    def is_derived(self) -> bool:
        """Whether the default is measured from the data, not a fixed value."""
        return bool(self.default == DERIVED_FROM_DEV_SET)

    def default_value(self, task: Task) -> Any:
        """The value taxiway uses when this question is unanswered (a sentence when it is measured)."""
        if self.default_for is not None:
            return self.default_for.get(task)
        return self.default


QUESTIONS: tuple[Question, ...] = (
    Question("project.business_goal", "What is the business goal of the project?", "text"),
    Question("project.business_metric", "Which business metric shows that the goal is met?", "text"),
    Question("project.owner", "Who is ultimately responsible for the project's success or failure?", "text"),
    Question(
        "project.first_deployment_plan", "What is the plan to reach a first deployed product fast?", "text"
    ),
    Question(
        "project.first_deployment_date",
        "By which date (YYYY-MM-DD) should the first deployment be live?",
        "date",
    ),
    Question(
        "project.team_sync", "How and when does the team keep in sync (standups, retros, planning)?", "text"
    ),
    Question(
        "problem.ranking_metric",
        "Which single metric ranks the models?",
        "metric",
        default_for={"classification": "roc_auc", "regression": "rmse"},
    ),
    Question(
        "problem.costs.false_positive",
        "What does one false positive cost (any unit)?",
        "float",
        default=1.0,
        task="classification",
    ),
    Question(
        "problem.costs.false_negative",
        "What does one false negative cost (same unit)?",
        "float",
        default=1.0,
        task="classification",
    ),
    Question(
        "problem.costs.over_prediction",
        "What does predicting one unit too high cost?",
        "float",
        default=1.0,
        task="regression",
    ),
    Question(
        "problem.costs.under_prediction",
        "What does predicting one unit too low cost?",
        "float",
        default=1.0,
        task="regression",
    ),
    Question("problem.good_enough", "Which value of the ranking metric is good enough to ship?", "float"),
    Question(
        "problem.smallest_improvement",
        "What is the smallest gain in the ranking metric that matters?",
        "float",
        default=DERIVED_FROM_DEV_SET,
    ),
    Question(
        "serving.max_memory_mb", "How much memory (MB) may a serving process use?", "float", default=1024.0
    ),
    Question(
        "serving.p99_latency_ms", "What p99 latency (ms) must one prediction meet?", "float", default=100.0
    ),
    Question(
        "serving.min_throughput_rps",
        "How many requests per second must the service sustain?",
        "float",
        default=10.0,
    ),
    Question(
        "serving.mode",
        "Online (streaming) or batch prediction?",
        "choice",
        default="online",
        choices=("online", "batch"),
    ),
    Question(
        "problem.state_of_the_art",
        "What does ML achieve on this problem elsewhere (papers, products)?",
        "text",
    ),
    Question(
        "serving.freshness_days",
        "How often must the model be retrained, at least every N days?",
        "int",
        default=30,
    ),
    Question(
        "problem.domain_experts",
        "Which domain experts help with the problem and its error modes (comma-separated)?",
        "list",
    ),
    Question(
        "serving.target",
        "Where will the model be deployed?",
        "choice",
        default="server",
        choices=("server", "client", "browser", "device"),
    ),
    Question(
        "data.storage_plan",
        "How will data, splits, models and annotation changes be stored and versioned?",
        "text",
        default="taxiway: content-hashed dataset versions, versioned splits and a model registry",
    ),
    Question(
        "data.annotation_cost", "If data must be collected or labelled, how hard and costly is it?", "text"
    ),
    Question(
        "data.test_set_reflects",
        "Why do the dev and test sets reflect the rows the model will see in production?",
        "text",
    ),
)


def question(path: str) -> Question:
    """Look up a question by its charter path.

    Example:
        >>> question("project.owner").prompt
        "Who is ultimately responsible for the project's success or failure?"
    """
    for q in QUESTIONS:
        if q.path == path:
            return q
    raise KeyError(path)


def questions_for(task: Task) -> list[Question]:
    """The questions that apply to a task, in the order `taxiway init` asks them."""
    return [q for q in QUESTIONS if q.task in (None, task)]


def parse_answer(q: Question, text: str) -> Any:
    """Turn a typed answer into the value stored in the charter; raise ValueError with a reason.

    Example:
        >>> parse_answer(question("problem.domain_experts"), "Ana, Bo")
        ['Ana', 'Bo']
    """
    text = text.strip()
    if q.kind == "float":
        return float(text)
    if q.kind == "int":
        return int(text)
    if q.kind == "date":
        return dt.date.fromisoformat(text)
    if q.kind == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    if q.kind == "choice" and text not in q.choices:
        raise ValueError(f"choose one of {', '.join(q.choices)}")
    return text
