"""The charter model: valid files load, bad ones name the field, what was expected and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from taxiway.charter import load_charter, parse_charter, render_charter
from taxiway.charter.model import answer
from taxiway.charter.questions import QUESTIONS, questions_for
from taxiway.errors import CharterError

MINIMAL = '[project]\nname = "p"\n[problem]\ntarget = "y"\n'


def test_a_minimal_charter_leaves_every_question_unanswered() -> None:
    charter = parse_charter(MINIMAL)
    assert charter.problem.task == "classification"
    assert all(answer(charter, q.path) is None for q in questions_for("classification"))


def test_render_then_parse_keeps_every_answer() -> None:
    answers = {
        "project.owner": "Ana",
        "project.first_deployment_date": __import__("datetime").date(2027, 3, 1),
        "problem.ranking_metric": "pr_auc",
        "problem.costs.false_negative": 5.0,
        "problem.domain_experts": ["Bo", "Cy"],
        "serving.mode": "batch",
        "serving.freshness_days": 7,
    }
    charter = parse_charter(render_charter(name="p", task="classification", target="y", answers=answers))
    for path, value in answers.items():
        assert answer(charter, path) == value
    assert answer(charter, "problem.costs.false_positive") is None


def test_unanswered_questions_are_written_as_marked_defaults() -> None:
    text = render_charter(name="p", task="regression", target="price", answers={})
    assert '# ranking_metric = "rmse"  # UNANSWERED (default in use)' in text
    assert "# over_prediction = 1.0" in text
    assert "false_positive" not in text  # classification costs are not asked for a regression
    assert parse_charter(text).problem.ranking_metric is None


def test_every_question_path_exists_in_the_model() -> None:
    charter = parse_charter(MINIMAL)
    for q in QUESTIONS:
        answer(charter, q.path)  # raises AttributeError on a path the model lacks


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            MINIMAL.replace('target = "y"', 'target = "y"\nranking_metric = "roc-auc"'),
            r"problem.ranking_metric: unknown metric 'roc-auc'",
            "did you mean 'roc_auc'?",
        ),
        (
            MINIMAL.replace('target = "y"', 'target = "y"\nranking_metrc = "roc_auc"'),
            r"problem.ranking_metrc: unknown key 'ranking_metrc' in \[problem\]",
            "did you mean 'ranking_metric'?",
        ),
        (
            MINIMAL + '[servng]\nmode = "online"\n',
            r"servng: unknown key 'servng' in the top level",
            "serving",
        ),
        (
            MINIMAL.replace('target = "y"', 'target = "y"\ntask = "regression"\nranking_metric = "roc_auc"'),
            r"ranking_metric 'roc_auc' does not fit task 'regression'",
            "rmse",
        ),
        (
            MINIMAL + '[serving]\nmode = "streaming"\n',
            r"serving.mode: .*'online' or 'batch'.*got 'streaming'",
            "",
        ),
        (MINIMAL + "[serving]\np99_latency_ms = -5\n", r"serving.p99_latency_ms: .*greater than 0", ""),
        ('[project]\nname = "p"\n', r"problem: is required but missing", "add problem"),
        (MINIMAL + '[attest]\nZ9 = "x"\n', r"'Z9' is not an ML Test Score id", "D1..D7"),
        ('[project\nname = "p"', r"is not valid TOML", "fix the syntax"),
        (
            MINIMAL + "[ct]\nwindow_days = 30\n",
            r"ct.window_days: a 30-day window needs data.time_column, which is not set",
            "set data.time_column to the column that orders rows in time, or remove ct.window_days",
        ),
        (
            MINIMAL + '[data]\ntime_column = "t"\n[split]\nstrategy = "group"\n[ct]\nwindow_days = 30\n',
            r"ct.window_days: a 30-day window keeps the newest rows .* split.strategy is 'group'",
            'set split.strategy = "time"',
        ),
        (
            MINIMAL + '[data]\ntime_column = "t"\n[ct]\nwindow_days = 0\n',
            r"ct.window_days: .*greater than 0",
            "",
        ),
    ],
)
def test_bad_charters_name_the_field_and_the_fix(text: str, message: str, hint: str) -> None:
    with pytest.raises(CharterError, match=message) as caught:
        parse_charter(text, source="taxiway.toml")
    assert hint in caught.value.hint


def test_a_ct_window_with_a_time_column_loads() -> None:
    charter = parse_charter(MINIMAL + '[data]\ntime_column = "t"\n[ct]\nwindow_days = 90\n')
    assert charter.ct.window_days == 90.0 and parse_charter(MINIMAL).ct.window_days is None


def test_several_problems_are_reported_together() -> None:
    text = MINIMAL.replace('target = "y"', 'target = "y"\nranking_metric = "nope"\ngood_enuf = 1')
    with pytest.raises(CharterError, match="2 problems") as caught:
        parse_charter(text)
    assert "ranking_metric" in caught.value.message and "good_enuf" in caught.value.message


def test_a_missing_or_binary_charter_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(CharterError, match="no charter at"):
        load_charter(tmp_path / "taxiway.toml")
    (tmp_path / "taxiway.toml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CharterError, match="is not UTF-8"):
        load_charter(tmp_path / "taxiway.toml")


def test_the_charter_docs_list_every_question() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "charter.md").read_text(encoding="utf-8")
    missing = [q.path for q in QUESTIONS if f"`{q.path}`" not in docs]
    assert missing == [], "document these in docs/charter.md"
