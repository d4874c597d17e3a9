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


class CrossFieldError(ValueError):
    """A key whose value conflicts with another section's: ``path`` names the key the error is shown at.

    pydantic places the errors of a whole-charter check at the top level; charter/io.py shows them at
    ``path`` instead. The text follows the other validators': what is wrong, then ``; `` and the fix.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


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

    def latency_budget_ms(self) -> float:
        """The p99 latency one prediction must meet: the answer, else the question's default.

        Example:
            >>> ServingSection().latency_budget_ms(), ServingSection(p99_latency_ms=20).latency_budget_ms()
            (100.0, 20.0)
        """
        if self.p99_latency_ms is not None:
            return self.p99_latency_ms
        from taxiway.charter.questions import question  # a sibling table of this model

        return float(question("serving.p99_latency_ms").default)


class MonitoringSection(_Section):
    """How `taxiway monitor` and the server judge live traffic; every limit has a stated default."""

    window_minutes: float = Field(60, gt=0, description="the stretch of traffic one monitor pass judges")
    min_rows: int = Field(
        500, ge=1, description="fewer logged rows than this in a window are too few to judge (said so)"
    )
    chunk_rows: int = Field(
        5000, ge=100, description="rows per chunk: drift thresholds and estimated quality are per chunk"
    )
    drift_min_effect: float = Field(
        0.005,
        gt=0,
        description="smallest drift effect (population stability index) worth an alert, however many rows",
    )
    drift_false_alarm_rate: float = Field(
        0.001, gt=0, lt=0.5, description="share of drift-free windows a feature may be flagged in"
    )
    max_error_rate: float = Field(0.01, ge=0, le=1, description="share of requests answered 5xx")
    max_fallback_rate: float = Field(0.2, ge=0, le=1, description="share of rows the fallback answered")
    max_resource_growth: float = Field(
        1.5,
        gt=1,
        description="how many times its first live window's p99 latency or memory (or the throughput of the "
        "version before) the live version may reach before monitor.resource_regression (O6) fails",
    )
    max_input_violation_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="share of requests refused for bad input, or of rows outside what training saw (O2)",
    )
    max_cpu_percent: float = Field(
        90.0, gt=0, description="CPU of one serving process, percent of one core, over the live window"
    )
    min_uptime: float = Field(0.99, ge=0, le=1, description="share of the window the service was up")
    max_quality_drop: float = Field(
        0.05, ge=0, description="realised or estimated quality may fall this far below validation's"
    )
    min_online_correlation: float = Field(
        0.5,
        ge=-1,
        le=1,
        description="Spearman correlation of offline and realised quality over versions (M2)",
    )
    max_domain_auc: float = Field(
        0.6,
        gt=0.5,
        le=1,
        description="ROC AUC of a classifier telling served inputs from test rows (data.reflects_production)",
    )
    min_production_rows: int = Field(
        1000, ge=50, description="served rows needed before data.reflects_production is judged"
    )
    live_window_minutes: float = Field(
        5, gt=0, description="the recent stretch of serving snapshots the live limits are judged over"
    )
    alert_for_minutes: float = Field(
        5, ge=0, description="a breached limit must last this long before its alert fires (pending until)"
    )
    webhook_url: str | None = Field(None, description="alerts are POSTed here as JSON (Slack-compatible)")
    silenced: list[str] = Field(
        default_factory=list, description="alert rules never raised, e.g. monitor.cpu"
    )


class DataSection(_Section):
    """How data is collected, stored and split, and which columns may reach the model."""

    storage_plan: str | None = Field(None, description="how data, splits, models and annotations are stored")
    annotation_cost: str | None = Field(None, description="how hard and costly collecting and labelling is")
    test_set_reflects: str | None = Field(
        None,
        description="why the dev and test sets reflect what the model will see in production; the checklist "
        "shows it answered until logged serving inputs prove it (data.reflects_production)",
    )
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
TimeHoldout = Literal["shuffled", "sequential"]


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
    time_holdout: TimeHoldout = Field(
        "shuffled",
        description="time split: shuffled (train on the older period; validation and test drawn at random "
        "from the same recent period) or sequential (validation, then test, in time order)",
    )
    max_adversarial_auc: float = Field(
        0.6,
        gt=0.5,
        le=1,
        description="largest ROC AUC a classifier may reach telling validation rows from test rows",
    )

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
    min_trials_per_parameter: int = Field(
        10,
        ge=1,
        description="tuning trials per searched hyperparameter before the search counts as done",
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


class Attestation(_Section):
    """A check of the ML Test Score done by hand: where it is written down, who did it, when.

    Example:
        >>> a = Attestation.model_validate({"link": "https://wiki.example.com/d6", "by": "Ana",
        ...                                 "date": "2027-01-31"})
        >>> a.is_url, a.describe()
        (True, 'https://wiki.example.com/d6, by Ana on 2027-01-31')
    """

    link: str = Field(min_length=1, description="an http(s) URL or a path of a file in the repository")
    by: str = Field(min_length=1, description="who did the check")
    date: dt.date = Field(description="when it was done (YYYY-MM-DD)")

    @field_validator("link")
    @classmethod
    def _a_link(cls, value: str) -> str:
        link = value.strip()
        scheme = link.split("://", 1)[0].lower() if "://" in link else None
        if scheme is not None and scheme not in ("http", "https"):
            raise ValueError(f"'{link}' is a {scheme} link; use an http(s) URL or a file in the repository")
        if scheme is None and (" " in link or "\n" in link):
            raise ValueError(
                f"'{link}' is neither an http(s) URL nor a file path; link the written record, "
                "e.g. https://wiki.example.com/page or docs/review.md"
            )
        return link

    @property
    def is_url(self) -> bool:
        return self.link.lower().startswith(("http://", "https://"))

    def describe(self) -> str:
        """One line: the link, who, when."""
        return f"{self.link}, by {self.by} on {self.date.isoformat()}"


class StoreSection(_Section):
    """Where taxiway keeps its records; environment variables override these."""

    uri: str | None = Field(None, description="metadata database, e.g. postgresql+psycopg://host/db")
    artifacts: str | None = Field(None, description="artifact store, a folder or e.g. s3://bucket/prefix")


class CiSection(_Section):
    """What `taxiway ci run` requires of a commit (issue 17)."""

    require_score: float | None = Field(
        None, ge=0, le=7, description="fail CI when the final ML Test Score is below this (0 to 7)"
    )
    min_feature_coverage: float = Field(
        0.8, ge=0, le=1, description="share of pipeline.py's lines the unit tests must run (D7)"
    )
    integration_rows: int = Field(
        400, ge=50, description="rows of the current dataset version the full-pipeline integration test uses"
    )


class DeployPolicy(_Section):
    """How `taxiway cd run` takes a blessed version to live: shadow, then canary, then live, then bake."""

    shadow_rows: int = Field(
        200, ge=1, description="rows a shadow must have answered beside live before it may go canary"
    )
    shadow_agreement: float = Field(
        0.8, gt=0, le=1, description="share of rows where the shadow must answer as live does"
    )
    canary_weight: float = Field(0.1, gt=0, lt=1, description="share of live traffic the canary answers")
    canary_requests: int = Field(
        100, ge=1, description="requests the canary must answer before the sequential test may decide"
    )
    max_canary_requests: int = Field(
        5000, ge=1, description="the sequential test decides by this many requests (else: not better, stop)"
    )
    canary_labels: int = Field(
        30,
        ge=1,
        description="labelled canary rows (/feedback, joined by request id) before its realised quality is "
        "judged; fewer: quality is not judged",
    )
    worse_by: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="the sequential tests' alternative: the canary's rate of bad answers (server errors, "
        "fallbacks, requests over the latency budget, wrong labelled answers) is live's plus this",
    )
    alpha: float = Field(0.01, gt=0, lt=0.5, description="risk of rolling back a canary as good as live")
    beta: float = Field(
        0.05, gt=0, lt=0.5, description="risk of promoting a canary that is worse by worse_by"
    )
    bake_minutes: float = Field(
        10, ge=0, description="after going live, an alert within this many minutes rolls back"
    )

    @model_validator(mode="after")
    def _reachable(self) -> DeployPolicy:
        if self.max_canary_requests < self.canary_requests:
            raise ValueError(
                f"max_canary_requests ({self.max_canary_requests}) is below canary_requests "
                f"({self.canary_requests}): the canary could never be judged; raise max_canary_requests"
            )
        return self


class DeploySection(_Section):
    """Continuous delivery (`taxiway cd run`)."""

    policy: DeployPolicy = DeployPolicy()


class CtSection(_Section):
    """Continuous training (`taxiway ct run`): when to retrain, and the guard rails (issue 17)."""

    on_new_data: bool = Field(
        True, description="retrain when a dataset version newer than the live model's appears"
    )
    on_drift: bool = Field(True, description="retrain when a drift check of live inputs fails (monitor.skew)")
    on_quality_drop: bool = Field(
        True, description="retrain when online quality evidence fails (monitor.online_quality)"
    )
    schedule_days: float | None = Field(
        None, gt=0, description="retrain at least every N days, whatever else"
    )
    min_new_rows: int = Field(
        1, ge=1, description="a new dataset version triggers only with at least this many more rows"
    )
    max_retrains: int = Field(4, ge=1, description="at most this many retrains per budget period")
    budget_days: float = Field(30, gt=0, description="the budget period, in days")
    window_days: float | None = Field(
        None,
        gt=0,
        description="a CT retrain trains only on the rows less than this many days older than the newest "
        "time in data.time_column (counted back from the data, not today), split by time; none: every row",
    )


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
    monitoring: MonitoringSection = MonitoringSection()
    ci: CiSection = CiSection()
    deploy: DeploySection = DeploySection()
    ct: CtSection = CtSection()
    attest: dict[str, Attestation] = Field(
        default_factory=dict,
        description="ML Test Score id -> { link, by, date }: a check done by hand, the link to its written "
        "record (an http(s) URL or a file in the repository); 0.5 points each",
    )

    @field_validator("attest", mode="before")
    @classmethod
    def _known_tests(cls, value: Any) -> Any:
        valid = {f"{t}{n}" for t in "DMIO" for n in range(1, 8)}
        for key, given in (value or {}).items():
            if key not in valid:
                raise ValueError(f"'{key}' is not an ML Test Score id; use D1..D7, M1..M7, I1..I7 or O1..O7")
            if not isinstance(given, dict):
                # pydantic reports ValueError (not TypeError) raised in a validator as a field error
                raise ValueError(  # noqa: TRY004
                    f"{key} = {given!r} is free text, not an attestation; an attestation names its written "
                    "record, who did the check and when; "
                    f'write {key} = {{ link = "https://wiki.example.com/page", by = "Ana", '
                    "date = 2027-01-31 }"
                )
        return value

    @model_validator(mode="after")
    def _window_needs_time(self) -> Charter:
        window = self.ct.window_days
        if window is None:
            return self
        if self.data.time_column is None:
            raise CrossFieldError(
                "ct.window_days",
                f"a {window:g}-day window needs data.time_column, which is not set: the window is counted "
                "back from the newest time in that column; set data.time_column to the column that orders "
                "rows in time, or remove ct.window_days to retrain on every row",
            )
        if self.split.strategy not in (None, "time"):
            raise CrossFieldError(
                "ct.window_days",
                f"a {window:g}-day window keeps the newest rows and splits them by time, but "
                f"split.strategy is '{self.split.strategy}'; set split.strategy = \"time\" (or remove it: "
                "data.time_column implies time), or remove ct.window_days",
            )
        return self

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
