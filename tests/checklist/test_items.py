"""The seed checklist as data: every item once, in its section, in the seed's wording."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taxiway.charter.questions import QUESTIONS
from taxiway.checklist.items import (
    CHECKS,
    ITEMS,
    NOT_YET,
    SECTIONS,
    Asks,
    AsksThenProves,
    Proves,
    check_info,
    item,
)
from taxiway.store.checks import Check

# The seed document's checklist, copied verbatim from shared/seed-checklist.md (from "Before modelling" on),
# so the test runs where the shared folder is absent; when it is present the copy is compared with it.
SEED = """\
Before modelling

Project
The project has a clear, codified business goal/metric. There is a person who is ultimately responsible for the success/failure of the project. We have a plan for how to reach a first deployed end product as fast as possible. We have decided on how and when to keep the team in sync (daily/weekly standups, retrospectives, planning meetings, etc)
Problem understanding
We have decided on one single metric on which to rank my models. We have clarified the costs of the different kinds of erroneous predictions. We have an understanding of how good performance is "good enough" We know the constraints in serving time w.r.t. memory usage. We know the constraints in serving time w.r.t. latency. We know the constraints in serving time w.r.t. throughput. We know if we're doing streaming- or batch prediction. We understand the current state of ML applied to the problem we're trying to solve. We have an idea of how important freshness is. How often will we need to change the model? We have domain experts who can help us understand the problem and error modes. We know where the model will be deployed (server / client, browser / on device)
Data
I have selected a dev- and test set that are reflective of the real task I'm trying to solve. My dev- and test sets are from the same distribution. My dev set is large enough, so that I can detect improvements to the desired accuracy. We understand how to split the data into train/val/test to avoid data leakage. If we need to collect data, we know how difficult and costly it will be to collect and annotate. We have a plan for how to store and version our data, dataset splits, models, and change in annotations.

Modelling

☐ I have one or several well thought out baselines in place. These are not good enough, so
there's an actual need to use ML.
There's a metrics webpage where I can compare runs and the url is
We can (approximately) reproduce a model if needed.
I get a reasonable "ML Test Score", table 2.
Deployment
Deployment
We have CI in place.
We have tests for the full training pipeline.
We have validation tests.
We have functionality tests.
We have unit tests.
We have CD in place.
We have CT in place.
Blue/green deployment in place.
We can deploy a model in shadow mode.
Monitoring in place for memory consumption.
Monitoring in place for CPU consumption.
Monitoring in place for latency.
Monitoring in place for downtime.
Monitoring in place for requests per second.
Monitoring in place for prediction confidence over time.
We have a way of detecting if a model will fail on a given datapoint, and a corresponding fallback.
I get a reasonable <u>"ML Test Score"</u> , table 3-4."""

SEED_FILE = (
    Path(__file__).parents[2] / "docs" / "reference" / "seed-checklist.md"
)  # a copy of the user's document
HEADINGS = {
    "Project": "project",
    "Problem understanding": "problem",
    "Data": "data",
    "Modelling": "modelling",
    "Deployment": "deployment",
}
ITEMS_PER_SECTION = {"project": 4, "problem": 11, "data": 6, "modelling": 4, "deployment": 17}


def _normalise(text: str) -> str:
    # Undo the seed's formatting: underline tags, an empty tick box, a space before a comma, line wraps.
    text = text.replace("<u>", "").replace("</u>", "").replace("☐", "")
    return re.sub(r"\s+", " ", text).replace(" ,", ",").strip()


def _seed_sections(text: str) -> dict[str, str]:
    """The seed's body text per section, headings removed (the seed repeats "Deployment")."""
    body = text.split("Before modelling", 1)[1].split("```", 1)[0]
    sections: dict[str, list[str]] = {}
    current = ""
    for line in (raw.strip() for raw in body.splitlines()):
        if line in HEADINGS:
            current = HEADINGS[line]
            sections.setdefault(current, [])
        elif line:
            sections[current].append(line)
    return {key: _normalise(" ".join(lines)) for key, lines in sections.items()}


def test_every_seed_item_appears_once_in_order_with_the_seeds_wording() -> None:
    expected = _seed_sections(SEED)
    assert list(expected) == [s.key for s in SECTIONS]
    for section in SECTIONS:
        texts = [i.text for i in ITEMS if i.section == section.key]
        assert " ".join(texts) == expected[section.key]
        assert len(texts) == ITEMS_PER_SECTION[section.key]
    assert len(ITEMS) == 42


def test_embedded_seed_matches_the_shared_document() -> None:
    assert _seed_sections(SEED_FILE.read_text(encoding="utf-8")) == _seed_sections(SEED)


def test_item_ids_are_unique_slugs_under_their_section() -> None:
    ids = [i.id for i in ITEMS]
    assert len(set(ids)) == len(ids)
    for entry in ITEMS:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", entry.id), entry.id
        assert entry.section in {s.key for s in SECTIONS}
    assert {
        "project.business_goal",
        "problem.costs",
        "data.dev_test_distribution",
        "modelling.baselines",
        "deployment.blue_green",
    } <= set(ids)


def test_before_modelling_questions_map_to_charter_paths() -> None:
    asked = {path for entry in ITEMS if isinstance(entry.needs, Asks) for path in entry.needs.paths}
    asked |= {entry.needs.path for entry in ITEMS if isinstance(entry.needs, AsksThenProves)}
    paths = {q.path for q in QUESTIONS}
    assert asked <= paths
    # The smallest improvement is an input of the dev-set power check, not an item of its own.
    assert paths - asked == {"problem.smallest_improvement"}
    assert item("problem.memory").needs == Asks(("serving.max_memory_mb",))
    assert item("problem.latency").needs == Asks(("serving.p99_latency_ms",))
    assert item("problem.throughput").needs == Asks(("serving.min_throughput_rps",))


@pytest.mark.parametrize(
    ("item_id", "check"),
    [
        ("data.dev_test_distribution", Check.DATA_SAME_DISTRIBUTION),
        ("data.dev_power", Check.DATA_DEV_POWER),
        ("data.leakage", Check.DATA_LEAKAGE),
        ("modelling.baselines", Check.TRAIN_BASELINES),
        ("modelling.metrics_webpage", Check.UI_SERVED),
        ("modelling.reproducible", Check.MODEL_REPRODUCED),
        ("deployment.ci", Check.CI_CHECK),
        ("deployment.blue_green", Check.DEPLOY_BLUE_GREEN),
        ("deployment.fallback", Check.SERVE_FALLBACK),
        ("deployment.monitor_confidence", Check.MONITOR_CONFIDENCE),
    ],
)
def test_evidence_items_name_their_check(item_id: str, check: Check) -> None:
    assert item(item_id).needs == Proves(check)


def test_reflective_test_set_is_answered_until_serving_inputs_prove_it() -> None:
    # A split made by the charter's strategy says nothing about production: the item is answered with a
    # reason in the charter until the test set is compared with logged serving inputs.
    assert item("data.dev_test_reflective").needs == AsksThenProves(
        "data.test_set_reflects", Check.DATA_REFLECTS_PRODUCTION
    )


def test_every_check_says_what_it_verifies_and_which_command_records_it() -> None:
    assert set(CHECKS) == set(Check)
    # a command to run, or (issue 18) the plain words that no command records it yet, never a made-up one
    assert all(
        info.what and info.command.startswith(("taxiway ", "git init", NOT_YET)) for info in CHECKS.values()
    )
    assert check_info("data.split") is CHECKS[Check.DATA_SPLIT]
    assert check_info("no.such_check") is None


def test_unknown_item_id_raises_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        item("nope")
