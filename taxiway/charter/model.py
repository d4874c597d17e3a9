"""Charter: the pydantic v2 model of taxiway.toml.

Every question of the seed checklist's "Before modelling" part is a field. A field that is ``None`` was
not answered: the checklist shows it as missing, and the stage that needs a value uses the clearly marked
default from :mod:`taxiway.charter.questions` instead.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from taxiway.measure.metrics import METRICS, Task, closest_metric, metrics_for

if TYPE_CHECKING:
    from taxiway.measure.cost import ErrorCosts

ServingMode = Literal["online", "batch"]
FallbackKind = Literal["baseline", "constant", "abstain"]
DeploymentTarget = Literal["server", "client", "browser", "device"]


class _Section(BaseModel):
    # Unknown keys are errors: a typo must not silently drop an answer.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectSection(_Section):
    """Who the project is for and who answers for it."""

    name: str = Field(min_length=1, description="short name of the project")
    business_goal: str | None = Field(None, description="what the business wants to achieve")
    business_metric: str | None = Field(None, description="the business number that shows the goal is met")
    owner: str | None = Field(None, description="the person ultimately responsible for success or failure")
    first_deployment_plan: str | None = Field(None, description="how to reach a first deployed product fast")
    first_deployment_date: dt.date | None = Field(None, description="target date of the first deployment")
    team_sync: str | None = Field(None, description="how and when the team keeps in sync")


class Costs(_Section):
    """What each kind of wrong prediction costs, in any one unit (money, minutes, ...)."""

    false_positive: float | None = Field(None, ge=0)
    false_negative: float | None = Field(None, ge=0)
    over_prediction: float | None = Field(None, ge=0, description="cost per unit predicted too high")
    under_prediction: float | None = Field(None, ge=0, description="cost per unit predicted too low")


class ProblemSection(_Section):
    """The learning problem and how models are ranked."""

    task: Task = Field("classification", description="classification or regression")
    target: str = Field(min_length=1, description="the column to predict")
    ranking_metric: str | None = Field(None, description="the one metric models are ranked by")
    costs: Costs | None = None
    good_enough: float | None = Field(None, description="value of the ranking metric that is good enough")
    smallest_improvement: float | None = Field(
        None, gt=0, description="the smallest gain in the ranking metric that matters"
    )
    state_of_the_art: str | None = Field(
        None,
        description="what ML achieves on this problem elsewhere, with the figure in the ranking metric "
        "(e.g. 'ROC AUC 0.65-0.75 in published work'); validation fails a model far beyond it",
    )
    state_of_the_art_score: float | None = Field(
        None,
        description="the best value of the ranking metric achieved elsewhere, when the text of "
        "state_of_the_art gives none in the ranking metric's range",
    )
    event: str | None = Field(
        None,
        description="the event the target records and when its outcome is known (e.g. 'the flight arrives "
        "15+ minutes late; known at arrival'): the data checks then look for columns known only after it",
    )
    domain_experts: list[str] | None = Field(
        None, description="people who know the problem and its error modes"
    )

    @field_validator("ranking_metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is None or value in METRICS:
            return value
        guess = closest_metric(value)
        suggestion = f"did you mean '{guess}'? " if guess else ""
        raise ValueError(f"unknown metric '{value}'; {suggestion}known metrics: {', '.join(METRICS)}")

    @model_validator(mode="after")
    def _fits_task(self) -> ProblemSection:
        if self.ranking_metric is not None and self.task not in METRICS[self.ranking_metric].tasks:
            raise ValueError(
                f"ranking_metric '{self.ranking_metric}' does not fit task '{self.task}'; "
                f"choose one of {', '.join(metrics_for(self.task))}"
            )
        if self.costs is not None:
            wrong = (
                ("over_prediction", "under_prediction")
                if self.task == "classification"
                else ("false_positive", "false_negative")
            )
            given = [name for name in wrong if getattr(self.costs, name) is not None]
            if given:
                raise ValueError(
                    f"costs.{given[0]} does not apply to task '{self.task}'; "
                    + (
                        "use false_positive and false_negative"
                        if self.task == "classification"
                        else "use over_prediction and under_prediction"
                    )
                )
        return self


class ServingSection(_Section):
    """Constraints the served model must meet."""

    mode: ServingMode | None = Field(None, description="online (streaming) or batch prediction")
    target: DeploymentTarget | None = Field(None, description="where the model runs")
    max_memory_mb: float | None = Field(None, gt=0, description="memory a serving process may use")
    p99_latency_ms: float | None = Field(None, gt=0, description="99th percentile latency of one prediction")
    min_throughput_rps: float | None = Field(None, gt=0, description="requests per second to sustain")
    freshness_days: int | None = Field(None, gt=0, description="retrain at least every N days")
    fallback: FallbackKind | None = Field(
        None,
        description="what answers a row the model is likely to get wrong: baseline (the best baseline "
        "model), constant (the majority class or the mean), or abstain (no prediction); default baseline",
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="a classification whose top probability is below this falls back"
    )
    range_margin: float = Field(
        0.1,
        ge=0,
        description="how far past the training range a number may go, as a share of the range's width, "
        "before its row falls back",
    )


class DataSection(_Section):
    """How data is collected, stored and split, and which columns may reach the model."""

    storage_plan: str | None = Field(None, description="how data, splits, models and annotations are stored")
    annotation_cost: str | None = Field(None, description="how hard and costly collecting and labelling is")
    key_column: str | None = Field(
        None, description="column that identifies a row (default: a hash of the row)"
    )
    time_column: str | None = Field(None, description="column that orders rows in time (time split)")
    group_column: str | None = Field(None, description="column whose values must not span splits")
    drop_columns: list[str] = Field(default_factory=list, description="columns never used as model inputs")
    protected_columns: list[str] = Field(
        default_factory=list,
        description="forbidden or protected attributes: kept for the fairness checks, never model inputs",
    )
    allowed_pii: list[str] = Field(
        default_factory=list, description="columns flagged as personal data that the team allows, with care"
    )
    slice_columns: list[str] = Field(
        default_factory=list, description="columns whose values are important slices"
    )


SplitStrategy = Literal["random", "group", "time"]


class SplitSection(_Section):
    """How rows are assigned to train, validation and test."""

    strategy: SplitStrategy | None = Field(
        None,
        description="random (stratified), group or time; default: time with a time column, else group "
        "with a group column, else random",
    )
    valid_fraction: float = Field(0.15, gt=0, lt=1, description="share of rows for validation (the dev set)")
    test_fraction: float = Field(0.15, gt=0, lt=1, description="share of rows for the held-out test set")
    gap_days: float = Field(
        0, ge=0, description="time split: days left out between train and validation/test"
    )
    seed: int = Field(0, description="salt of the row hash that assigns random and group splits")

    @model_validator(mode="after")
    def _leaves_rows_to_train(self) -> SplitSection:
        if self.valid_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"valid_fraction + test_fraction is {self.valid_fraction + self.test_fraction:g}, leaving "
                "too little to train on; keep their sum below 0.9 (e.g. 0.15 and 0.15)"
            )
        return self


class TrainSection(_Section):
    """The candidate model, when pipeline.py does not define model(params)."""

    estimator: str | None = Field(
        None,
        description="module:Class of a scikit-learn-API estimator, "
        "e.g. sklearn.ensemble:HistGradientBoostingClassifier",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="parameters passed to model(params) or the estimator"
    )
    seed: int = Field(0, description="random seed for training")
    threads: int = Field(
        1,
        ge=1,
        description="threads per model fit (OpenMP/BLAS); more than the free cores slows tree models badly",
    )


class ValidationSection(_Section):
    """Thresholds of the validation gates that bless a run before it may be registered and served."""

    slice_tolerance: float = Field(
        0.05,
        ge=0,
        description="how much worse, in the ranking metric, any slice may be than the production model's "
        "(else the best baseline's) on that slice",
    )
    min_slice_rows: int = Field(
        30, ge=1, description="slices and groups with fewer validation rows are reported but not gated"
    )
    max_inclusion_gap: float = Field(
        0.1,
        ge=0,
        description="largest equalised-odds difference (classification) or ranking-metric gap "
        "(regression) allowed between groups of a protected column",
    )
    require_calibration: bool = Field(
        False, description="gate on the expected calibration error (classification)"
    )
    max_calibration_error: float = Field(
        0.05, gt=0, le=1, description="largest expected calibration error when calibration is required"
    )
    bootstrap_resamples: int = Field(
        1000, ge=10, description="bootstrap resamples behind every interval and the baseline comparison"
    )
    significance: float = Field(
        0.05, gt=0, lt=1, description="the baseline gate's improvement must be significant at this level"
    )


class StoreSection(_Section):
    """Where taxiway keeps its records; environment variables override these."""

    uri: str | None = Field(None, description="metadata database, e.g. postgresql+psycopg://host/db")
    artifacts: str | None = Field(None, description="artifact store, a folder or e.g. s3://bucket/prefix")


class Charter(_Section):
    """The whole taxiway.toml.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "churn"}, "problem": {"target": "churned"}})
        >>> c.problem.task, c.problem.ranking_metric is None
        ('classification', True)
    """

    project: ProjectSection
    problem: ProblemSection
    serving: ServingSection = ServingSection()
    data: DataSection = DataSection()
    split: SplitSection = SplitSection()
    train: TrainSection = TrainSection()
    validation: ValidationSection = ValidationSection()
    store: StoreSection = StoreSection()
    attest: dict[str, str] = Field(
        default_factory=dict,
        description="ML Test Score id -> link to a record of a check done by hand (0.5 points at most)",
    )

    @field_validator("attest")
    @classmethod
    def _known_tests(cls, value: dict[str, str]) -> dict[str, str]:
        valid = {f"{t}{n}" for t in "DMIO" for n in range(1, 8)}
        for key, link in value.items():
            if key not in valid:
                raise ValueError(f"'{key}' is not an ML Test Score id; use D1..D7, M1..M7, I1..I7 or O1..O7")
            if not link.strip():
                raise ValueError(f"attest.{key} needs a link to the written record")
        return value

    def error_costs(self) -> ErrorCosts:
        """The cost of each kind of error; unanswered questions fall back to their marked defaults.

        Example:
            >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y",
            ...                             "costs": {"false_negative": 5}}})
            >>> c.error_costs().false_negative, c.error_costs().false_positive
            (5.0, 1.0)
        """
        from taxiway.charter.questions import question  # questions are a sibling table of this model
        from taxiway.measure.cost import ErrorCosts  # numpy and pandas: not for every charter read

        costs = self.problem.costs
        values = {}
        for key in ("false_positive", "false_negative", "over_prediction", "under_prediction"):
            answered = getattr(costs, key) if costs is not None else None
            values[key] = answered if answered is not None else question(f"problem.costs.{key}").default
        return ErrorCosts(**values)


def answer(charter: Charter, path: str) -> object | None:
    """Read a dotted charter path such as ``"problem.costs.false_positive"``; None when unanswered.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x", "owner": "Ana"}, "problem": {"target": "y"}})
        >>> answer(c, "project.owner"), answer(c, "problem.costs.false_positive")
        ('Ana', None)
    """
    node: object | None = charter
    for part in path.split("."):
        if node is None:
            return None
        node = getattr(node, part)
    return node
