"""The seed checklist's items, in its sections and wording, each with what would make it true."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from taxiway.store.checks import Check

Part = Literal["Before modelling", "Modelling", "Deployment"]
ScoreSection = Literal["D", "M", "I", "O"]


@dataclass(frozen=True)
class Asks:
    """The item is met by answers in the charter: every applicable path must be answered.

    A path whose question only applies to another task (regression costs on a classifier) is skipped.
    """

    paths: tuple[str, ...]


@dataclass(frozen=True)
class Proves:
    """The item is met by the latest record of one evidence check having passed."""

    check: Check


@dataclass(frozen=True)
class AsksThenProves:
    """A charter answer is the plan; evidence that the plan was carried out turns it into proof."""

    path: str
    check: Check


@dataclass(frozen=True)
class Scores:
    """The item is met when each named ML Test Score section reaches a reasonable score."""

    sections: tuple[ScoreSection, ...]


Needs = Asks | Proves | AsksThenProves | Scores


@dataclass(frozen=True)
class Section:
    """A heading of the seed checklist.

    Example:
        >>> SECTIONS[0].part, SECTIONS[0].name
        ('Before modelling', 'Project')
    """

    key: str
    part: Part
    name: str


@dataclass(frozen=True)
class Item:
    """One line of the seed checklist, with the seed's exact wording and what it needs.

    Example:
        >>> item("problem.costs").needs.paths[:2]
        ('problem.costs.false_positive', 'problem.costs.false_negative')
    """

    id: str
    text: str
    needs: Needs

    @property
    def section(self) -> str:
        """The key of the seed section the item sits in: its id up to the dot."""
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class CheckInfo:
    """What an evidence check verifies, and the command that records it."""

    what: str
    command: str


SECTIONS: tuple[Section, ...] = (
    Section("project", "Before modelling", "Project"),
    Section("problem", "Before modelling", "Problem understanding"),
    Section("data", "Before modelling", "Data"),
    Section("modelling", "Modelling", "Modelling"),
    Section("deployment", "Deployment", "Deployment"),
)

_COSTS = (
    "problem.costs.false_positive",
    "problem.costs.false_negative",
    "problem.costs.over_prediction",
    "problem.costs.under_prediction",
)
_CONSTRAINT = "We know the constraints in serving time w.r.t."

ITEMS: tuple[Item, ...] = (
    Item(
        "project.business_goal",
        "The project has a clear, codified business goal/metric.",
        Asks(("project.business_goal", "project.business_metric")),
    ),
    Item(
        "project.owner",
        "There is a person who is ultimately responsible for the success/failure of the project.",
        Asks(("project.owner",)),
    ),
    Item(
        "project.first_deployment",
        "We have a plan for how to reach a first deployed end product as fast as possible.",
        Asks(("project.first_deployment_plan", "project.first_deployment_date")),
    ),
    Item(
        "project.team_sync",
        "We have decided on how and when to keep the team in sync "
        "(daily/weekly standups, retrospectives, planning meetings, etc)",
        Asks(("project.team_sync",)),
    ),
    Item(
        "problem.ranking_metric",
        "We have decided on one single metric on which to rank my models.",
        Asks(("problem.ranking_metric",)),
    ),
    Item(
        "problem.costs",
        "We have clarified the costs of the different kinds of erroneous predictions.",
        Asks(_COSTS),
    ),
    Item(
        "problem.good_enough",
        'We have an understanding of how good performance is "good enough"',
        Asks(("problem.good_enough",)),
    ),
    Item("problem.memory", f"{_CONSTRAINT} memory usage.", Asks(("serving.max_memory_mb",))),
    Item("problem.latency", f"{_CONSTRAINT} latency.", Asks(("serving.p99_latency_ms",))),
    Item("problem.throughput", f"{_CONSTRAINT} throughput.", Asks(("serving.min_throughput_rps",))),
    Item(
        "problem.serving_mode",
        "We know if we're doing streaming- or batch prediction.",
        Asks(("serving.mode",)),
    ),
    Item(
        "problem.state_of_the_art",
        "We understand the current state of ML applied to the problem we're trying to solve.",
        Asks(("problem.state_of_the_art",)),
    ),
    Item(
        "problem.freshness",
        "We have an idea of how important freshness is. How often will we need to change the model?",
        Asks(("serving.freshness_days",)),
    ),
    Item(
        "problem.domain_experts",
        "We have domain experts who can help us understand the problem and error modes.",
        Asks(("problem.domain_experts",)),
    ),
    Item(
        "problem.deployment_target",
        "We know where the model will be deployed (server / client, browser / on device)",
        Asks(("serving.target",)),
    ),
    Item(
        "data.dev_test_reflective",
        "I have selected a dev- and test set that are reflective of the real task I'm trying to solve.",
        AsksThenProves("data.test_set_reflects", Check.DATA_REFLECTS_PRODUCTION),
    ),
    Item(
        "data.dev_test_distribution",
        "My dev- and test sets are from the same distribution.",
        Proves(Check.DATA_SAME_DISTRIBUTION),
    ),
    Item(
        "data.dev_power",
        "My dev set is large enough, so that I can detect improvements to the desired accuracy.",
        Proves(Check.DATA_DEV_POWER),
    ),
    Item(
        "data.leakage",
        "We understand how to split the data into train/val/test to avoid data leakage.",
        Proves(Check.DATA_LEAKAGE),
    ),
    Item(
        "data.annotation_cost",
        "If we need to collect data, we know how difficult and costly it will be to collect and annotate.",
        Asks(("data.annotation_cost",)),
    ),
    Item(
        "data.storage_plan",
        "We have a plan for how to store and version our data, dataset splits, models, "
        "and change in annotations.",
        AsksThenProves("data.storage_plan", Check.DATA_VERSION),
    ),
    Item(
        "modelling.baselines",
        "I have one or several well thought out baselines in place. These are not good enough, "
        "so there's an actual need to use ML.",
        Proves(Check.TRAIN_BASELINES),
    ),
    Item(
        "modelling.metrics_webpage",
        "There's a metrics webpage where I can compare runs and the url is",
        Proves(Check.UI_SERVED),
    ),
    Item(
        "modelling.reproducible",
        "We can (approximately) reproduce a model if needed.",
        Proves(Check.MODEL_REPRODUCED),
    ),
    Item("modelling.ml_test_score", 'I get a reasonable "ML Test Score", table 2.', Scores(("M",))),
    Item("deployment.ci", "We have CI in place.", Proves(Check.CI_CHECK)),
    Item(
        "deployment.pipeline_tests",
        "We have tests for the full training pipeline.",
        Proves(Check.PIPELINE_INTEGRATION),
    ),
    Item("deployment.validation_tests", "We have validation tests.", Proves(Check.MODEL_VALIDATED)),
    Item("deployment.functionality_tests", "We have functionality tests.", Proves(Check.MODEL_BEHAVIOUR)),
    Item("deployment.unit_tests", "We have unit tests.", Proves(Check.MODEL_UNIT_TESTS)),
    Item("deployment.cd", "We have CD in place.", Proves(Check.DEPLOY_CD)),
    Item("deployment.ct", "We have CT in place.", Proves(Check.CT_RETRAIN)),
    Item("deployment.blue_green", "Blue/green deployment in place.", Proves(Check.DEPLOY_BLUE_GREEN)),
    Item("deployment.shadow", "We can deploy a model in shadow mode.", Proves(Check.DEPLOY_SHADOW)),
    Item(
        "deployment.monitor_memory",
        "Monitoring in place for memory consumption.",
        Proves(Check.MONITOR_MEMORY),
    ),
    Item("deployment.monitor_cpu", "Monitoring in place for CPU consumption.", Proves(Check.MONITOR_CPU)),
    Item("deployment.monitor_latency", "Monitoring in place for latency.", Proves(Check.MONITOR_LATENCY)),
    Item("deployment.monitor_downtime", "Monitoring in place for downtime.", Proves(Check.MONITOR_DOWNTIME)),
    Item(
        "deployment.monitor_requests",
        "Monitoring in place for requests per second.",
        Proves(Check.MONITOR_REQUESTS),
    ),
    Item(
        "deployment.monitor_confidence",
        "Monitoring in place for prediction confidence over time.",
        Proves(Check.MONITOR_CONFIDENCE),
    ),
    Item(
        "deployment.fallback",
        "We have a way of detecting if a model will fail on a given datapoint, and a corresponding fallback.",
        Proves(Check.SERVE_FALLBACK),
    ),
    Item("deployment.ml_test_score", 'I get a reasonable "ML Test Score", table 3-4.', Scores(("I", "O"))),
)

# The commands name the stage that records each check. A check no command records yet says so in words
# (never a command that does not exist): `taxiway next` and the checklist print these hints as they are.
NOT_YET = "no command records this yet"
_DATA_CHECK = "taxiway data check"
_FEATURES = "taxiway validate RUN"
_TRAIN = "taxiway train"
_TEST = "taxiway test unit"
_MONITOR = "taxiway monitor (one pass over the live window; --watch repeats it)"
_SERVING = "taxiway serve (its monitor records this while it runs)"
CHECKS: Mapping[Check, CheckInfo] = {
    Check.DATA_VERSION: CheckInfo("dataset version stored with its content hash", "taxiway data add FILE"),
    Check.DATA_SCHEMA: CheckInfo(
        "feature schema inferred or validated", "taxiway data add FILE, then taxiway data validate"
    ),
    Check.DATA_SPLIT: CheckInfo("leakage-safe train/dev/test split made", "taxiway data split"),
    Check.DATA_LEAKAGE: CheckInfo("duplicates, group/time overlap and target leakage checked", _DATA_CHECK),
    Check.DATA_SAME_DISTRIBUTION: CheckInfo("dev and test sets compared for distribution shift", _DATA_CHECK),
    Check.DATA_REFLECTS_PRODUCTION: CheckInfo(
        "test set compared with logged serving inputs (adversarial validation)", _MONITOR
    ),
    Check.DATA_DEV_POWER: CheckInfo("dev set size vs the smallest improvement that matters", _DATA_CHECK),
    Check.DATA_PII: CheckInfo(
        "personal data detected and handled", "taxiway data add FILE (or taxiway data pii)"
    ),
    Check.DATA_META_REQUIREMENTS: CheckInfo(
        "forbidden / protected columns not used as inputs", "taxiway train (leaves protected columns out)"
    ),
    Check.DATA_FEATURE_VALUE: CheckInfo("each feature's contribution measured", _FEATURES),
    Check.DATA_FEATURE_COST: CheckInfo("each feature's serving cost measured", _FEATURES),
    Check.DATA_FEATURE_VELOCITY: CheckInfo("time from a new feature to an evaluated candidate", _TRAIN),
    Check.DATA_FEATURE_TESTS: CheckInfo("feature code unit tests", _TEST),
    Check.DATA_REFLECTS_PRODUCTION: CheckInfo(
        "served inputs indistinguishable from the test set (adversarial validation)", _MONITOR
    ),
    Check.TRAIN_BASELINES: CheckInfo("baselines trained and beaten by the candidate", _TRAIN),
    Check.TRAIN_TUNED: CheckInfo("hyperparameter search recorded", "taxiway train --tune"),
    Check.MODEL_SPEC_REVIEWED: CheckInfo(
        "training code and charter committed in git, clean tree (needs the project in git)",
        "git init; git add -A; git commit -m start, then taxiway train",
    ),
    Check.MODEL_ONLINE_CORRELATION: CheckInfo("offline metric vs online impact", _MONITOR),
    Check.MODEL_STALENESS_IMPACT: CheckInfo(
        "quality of an older model on newer data", "taxiway validate RUN"
    ),
    Check.MODEL_SLICES: CheckInfo("quality on every important slice", "taxiway validate"),
    Check.MODEL_INCLUSION: CheckInfo("quality gaps across sensitive groups", "taxiway validate"),
    Check.MODEL_REPRODUCED: CheckInfo(
        "retrained from lineage, same result within tolerance", "taxiway reproduce RUN"
    ),
    Check.MODEL_UNIT_TESTS: CheckInfo("model spec unit tests", "taxiway test unit"),
    Check.PIPELINE_INTEGRATION: CheckInfo(
        "data → train → evaluate → package → serve on a sample", "taxiway test --only integration"
    ),
    Check.MODEL_VALIDATED: CheckInfo("validation gates passed before serving", "taxiway validate"),
    Check.MODEL_DEBUGGABLE: CheckInfo(
        "step-by-step computation shown for one example", "taxiway explain RUN --row JSON"
    ),
    Check.MODEL_BEHAVIOUR: CheckInfo("functionality (behaviour) tests", "taxiway test behaviour"),
    Check.UI_SERVED: CheckInfo("metrics web page served", "taxiway ui"),
    Check.CI_CHECK: CheckInfo("tests, data checks and score passed in CI, about a commit", "taxiway ci run"),
    Check.DEPLOY_CD: CheckInfo("version advanced or refused by the delivery policy", "taxiway cd run"),
    Check.CT_RETRAIN: CheckInfo("continuous training retrained and evaluated a model", "taxiway ct run"),
    Check.CT_TRIGGER: CheckInfo("CT triggers judged (none left to act on)", "taxiway ct run"),
    Check.CT_BUDGET: CheckInfo("CT retrains within the budget", "taxiway ct run"),
    Check.DEPLOY_BLUE_GREEN: CheckInfo("live switch between warm slots", "taxiway deploy"),
    Check.DEPLOY_SHADOW: CheckInfo("version in shadow, agreement measured", "taxiway deploy vN --as shadow"),
    Check.DEPLOY_CANARY: CheckInfo("version served to a canary share", "taxiway deploy vN --as canary"),
    Check.DEPLOY_ROLLBACK: CheckInfo("rollback to the previous slot", "taxiway rollback"),
    Check.SERVE_FALLBACK: CheckInfo("failure detected and fallback answered", "taxiway serve"),
    Check.MONITOR_MEMORY: CheckInfo("serving memory monitored", _SERVING),
    Check.MONITOR_CPU: CheckInfo("serving CPU monitored", _SERVING),
    Check.MONITOR_LATENCY: CheckInfo("serving latency monitored", _SERVING),
    Check.MONITOR_DOWNTIME: CheckInfo("downtime monitored by an uptime probe", _MONITOR),
    Check.MONITOR_REQUESTS: CheckInfo("requests per second monitored", _SERVING),
    Check.MONITOR_CONFIDENCE: CheckInfo("prediction confidence monitored over time", _MONITOR),
    Check.MONITOR_DEPENDENCIES: CheckInfo("serving vs training environment, upstream data", _MONITOR),
    Check.MONITOR_INPUT_SCHEMA: CheckInfo("schema checked on live inputs", _SERVING),
    Check.MONITOR_SKEW: CheckInfo("training/serving skew", _MONITOR),
    Check.MONITOR_STALENESS: CheckInfo("model age vs the charter's freshness", _MONITOR),
    Check.MONITOR_NUMERICAL: CheckInfo("NaN / infinity in training or predictions", "taxiway validate RUN"),
    Check.MONITOR_RESOURCE_REGRESSION: CheckInfo("latency, memory, throughput regressions", _MONITOR),
    Check.MONITOR_ONLINE_QUALITY: CheckInfo("quality on served data", _MONITOR),
    Check.MONITOR_DRIFT: CheckInfo("feature and prediction drift vs the reference profile", _MONITOR),
    Check.MONITOR_ESTIMATED_QUALITY: CheckInfo("quality estimated from calibrated confidence", _MONITOR),
    Check.MONITOR_ERRORS: CheckInfo("share of requests that failed", _SERVING),
    Check.MONITOR_FALLBACK: CheckInfo("share of rows the fallback answered", _SERVING),
    Check.MONITOR_CAPACITY: CheckInfo("capacity measured by a load test", "taxiway monitor capacity"),
}


def item(item_id: str) -> Item:
    """Look up an item by its id.

    Example:
        >>> item("deployment.ci").text
        'We have CI in place.'
    """
    for candidate in ITEMS:
        if candidate.id == item_id:
            return candidate
    raise KeyError(item_id)


def check_info(check_id: str) -> CheckInfo | None:
    """What a recorded check id stands for; None for an id this version of taxiway does not know.

    Example:
        >>> check_info("data.split").command
        'taxiway data split'
    """
    try:
        return CHECKS[Check(check_id)]
    except ValueError:
        return None
