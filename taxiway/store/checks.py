"""The ids of every check a stage can record as evidence: one list that stages write and the checklist reads.

Keeping the ids in one enum means a typo is an AttributeError at import time, not a checklist item that
silently never turns green.
"""

from __future__ import annotations

from enum import StrEnum


class Check(StrEnum):
    """Evidence check ids, grouped by the stage that records them."""

    # data — taxiway data add / split / check
    DATA_VERSION = "data.version"  # a dataset version was stored with its content hash
    DATA_SCHEMA = "data.schema"  # the schema was inferred, or a version validated against it (D1)
    DATA_SPLIT = "data.split"  # a leakage-safe split was made, by the strategy the charter asks for
    DATA_LEAKAGE = "data.leakage"  # duplicates, group/time overlap and target leakage checked
    DATA_SAME_DISTRIBUTION = "data.same_distribution"  # dev and test from the same distribution
    DATA_REFLECTS_PRODUCTION = "data.reflects_production"  # test set vs logged serving inputs
    DATA_DEV_POWER = "data.dev_power"  # the dev set can detect the smallest improvement that matters
    DATA_PII = "data.pii"  # personal data detected and handled (D5)
    DATA_META_REQUIREMENTS = "data.meta_requirements"  # forbidden / protected columns not used (D4)
    DATA_FEATURE_VALUE = "data.feature_value"  # each feature's contribution measured (D2)
    DATA_FEATURE_COST = "data.feature_cost"  # each feature's cost measured (D3)
    DATA_FEATURE_VELOCITY = "data.feature_velocity"  # time from a new feature to an evaluated candidate (D6)
    DATA_FEATURE_TESTS = "data.feature_tests"  # feature code unit tested (D7)
    # train / evaluate / validate — taxiway train, validate, reproduce, test
    TRAIN_BASELINES = "train.baselines"  # baselines trained and beaten by the candidate (M5)
    TRAIN_TUNED = "train.tuned"  # hyperparameters searched (M3)
    MODEL_SPEC_REVIEWED = "model.spec_reviewed"  # training code and charter committed (M1)
    MODEL_ONLINE_CORRELATION = "model.online_correlation"  # offline metric tracks online impact (M2)
    MODEL_STALENESS_IMPACT = "model.staleness_impact"  # quality lost per month of model age (M4)
    MODEL_SLICES = "model.slices"  # quality on every important slice (M6)
    MODEL_INCLUSION = "model.inclusion"  # gaps across sensitive groups within limits (M7)
    MODEL_REPRODUCED = "model.reproduced"  # retraining from lineage gives the same model (I1)
    MODEL_UNIT_TESTS = "model.unit_tests"  # the model spec's unit tests pass (I2)
    PIPELINE_INTEGRATION = (
        "pipeline.integration"  # data → train → evaluate → package → serve on a sample (I3)
    )
    MODEL_VALIDATED = "model.validated"  # validation gates passed before serving (I4)
    MODEL_DEBUGGABLE = "model.debuggable"  # step-by-step computation shown for one example (I5)
    MODEL_BEHAVIOUR = "model.behaviour"  # functionality (behaviour) tests pass
    UI_SERVED = "ui.served"  # the metrics web page was served; details.url is its address
    # delivery — CI, CD, CT and deployments
    CI_CHECK = "ci.check"  # `taxiway check` ran inside CI
    DEPLOY_CD = "deploy.cd"  # a model version was deployed by automation
    CT_RETRAIN = "ct.retrain"  # continuous training retrained and evaluated a model
    DEPLOY_BLUE_GREEN = "deploy.blue_green"  # a live switch between warm slots
    DEPLOY_SHADOW = "deploy.shadow"  # a version served in shadow with agreement measured
    DEPLOY_CANARY = "deploy.canary"  # a version served to a canary share (I6)
    DEPLOY_ROLLBACK = "deploy.rollback"  # a rollback to the previous slot (I7)
    SERVE_FALLBACK = "serve.fallback"  # failure detection and fallback answered in the request path
    # monitoring — the serving process and the monitor
    MONITOR_MEMORY = "monitor.memory"
    MONITOR_CPU = "monitor.cpu"
    MONITOR_LATENCY = "monitor.latency"
    MONITOR_DOWNTIME = "monitor.downtime"
    MONITOR_REQUESTS = "monitor.requests"
    MONITOR_CONFIDENCE = "monitor.confidence"
    MONITOR_DEPENDENCIES = "monitor.dependencies"  # serving vs training environment, upstream data (O1)
    MONITOR_INPUT_SCHEMA = "monitor.input_schema"  # schema checked on live inputs (O2)
    MONITOR_SKEW = "monitor.skew"  # training/serving skew (O3)
    MONITOR_STALENESS = "monitor.staleness"  # model age vs the charter's freshness (O4)
    MONITOR_NUMERICAL = "monitor.numerical"  # NaN / inf in training or predictions (O5)
    MONITOR_RESOURCE_REGRESSION = (
        "monitor.resource_regression"  # latency, memory, throughput regressions (O6)
    )
    MONITOR_ONLINE_QUALITY = "monitor.online_quality"  # quality on served data (O7)
    MONITOR_DRIFT = "monitor.drift"  # feature and prediction drift against the reference profile
    MONITOR_ESTIMATED_QUALITY = "monitor.estimated_quality"  # quality estimated before labels arrive
    MONITOR_ERRORS = "monitor.errors"  # share of requests answered 5xx
    MONITOR_FALLBACK = "monitor.fallback"  # share of rows the fallback answered
    MONITOR_CAPACITY = "monitor.capacity"  # requests/s a version sustains within the p99 limit (load test)
    # continuous training — taxiway ct (issue 17)
    CT_TRIGGER = "ct.trigger"  # a CT pass judged its triggers: how many fired (0 passes: nothing to do)
    CT_BUDGET = "ct.budget"  # retrains in the charter's budget period against ct.max_retrains
