"""`taxiway test`, `taxiway ci init` and `taxiway ci run` on a real trained project, in a real git repository.

The project is the trained weather project (tests/validate/trained_model.py), copied per test. The one run of
the full-pipeline integration test (a sandbox, a real `taxiway serve` process) is inside `ci run`'s test.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from taxiway.ci.workflows import PATHS, check_structure, render
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store.checks import Check
from tests.ci.actionlint import actionlint
from tests.serve.server import cli_result
from tests.validate.trained_model import trained_copy

CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))
SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = trained_copy(tmp_path_factory, tmp_path_factory.mktemp("ci") / "weather")
    with (root / "taxiway.toml").open("a", encoding="utf-8") as charter:
        charter.write("\n[ci]\nintegration_rows = 150\n")  # a tiny sample keeps the integration test fast
    return root


def _git(root: Path, *args: str) -> None:
    command = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=CI", *args]
    subprocess.run(command, cwd=root, check=True, capture_output=True)


def _commit(root: Path) -> str:
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "first commit")
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_unit_kind_measures_feature_coverage_and_writes_junit(project: Path) -> None:
    result = cli_result(project, "test", "--only", "unit", "--junit", "out/junit.xml")
    assert result.exit_code == 0, result.output
    suites = ET.parse(project / "out" / "junit.xml").getroot()
    unit = next(s for s in suites.iter("testsuite") if s.get("name") == "unit")
    assert int(unit.get("tests", 0)) >= 2 and unit.get("failures") == "0"
    log = Project.load(project).store.evidence
    coverage = log.latest_about(Check.DATA_FEATURE_TESTS, "project", "weather")
    assert coverage is not None and coverage.status == "pass" and 0.8 <= (coverage.value or 0) <= 1.0
    assert coverage.limit_key == "ci.min_feature_coverage"


def test_a_failing_unit_test_and_untested_feature_code_fail(project: Path) -> None:
    # Feature code no test runs, and a test that fails: both must show, and exit 1.
    with (project / "pipeline.py").open("a", encoding="utf-8") as code:
        code.write(
            "\n\ndef untested(x):\n" + "".join(f"    x = x + {n}\n" for n in range(40)) + "    return x\n"
        )
    (project / "tests" / "test_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    result = cli_result(project, "test", "--only", "unit", "--format", "json")
    assert result.exit_code == 1, result.output
    assert "test_broken" in result.output and "ci.min_feature_coverage" in result.output
    log = Project.load(project).store.evidence
    unit = log.latest_about(Check.MODEL_UNIT_TESTS, "project", "weather")
    coverage = log.latest_about(Check.DATA_FEATURE_TESTS, "project", "weather")
    assert unit is not None and unit.status == "fail" and unit.value == 1.0
    assert coverage is not None and coverage.status == "fail" and (coverage.value or 1) < 0.8


def test_unknown_kind_is_refused_with_a_hint(project: Path) -> None:
    result = cli_result(project, "test", "--only", "smoke")
    assert result.exit_code == 2
    assert "unknown kind of test 'smoke'" in result.output and "hint: use one of unit" in result.output


def test_ci_run_refuses_outside_git(project: Path) -> None:
    result = cli_result(project, "ci", "run")
    assert result.exit_code == 2
    assert "not a git repository" in result.output and "git init" in result.output
    assert Project.load(project).store.evidence.latest([Check.CI_CHECK]) == {}


def test_ci_run_binds_its_evidence_to_the_commit(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = project.parent / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (project / ".gitignore").write_text(".taxiway/\n")
    commit = _commit(project)

    result = cli_result(project, "ci", "run", "--report-dir", str(project / "taxiway-ci"), "--format", "json")

    # The starter candidate does not beat its baselines by the smallest improvement: validation fails,
    # so CI fails and says so; everything else ran.
    assert result.exit_code == 1, result.output
    log = Project.load(project).store.evidence
    ci = log.latest_about(Check.CI_CHECK, "commit", commit)
    assert ci is not None and ci.origin == "ci" and ci.status == "fail"
    assert ci.details["provider"] == "github" and ci.details["run_id"] == "4242"
    assert any("beats_baseline" in failure for failure in ci.details["failures"])
    assert ci.details["dirty"] is False
    integration = log.latest([Check.PIPELINE_INTEGRATION])[Check.PIPELINE_INTEGRATION]
    assert integration.status == "pass" and integration.origin == "ci", integration.details
    assert integration.details["compared"] > 0 and integration.details["mismatches"] == 0
    assert integration.details["commit"] == commit
    junit = ET.parse(project / "taxiway-ci" / "junit.xml").getroot()
    assert {s.get("name") for s in junit.iter("testsuite")} >= {"unit", "validation", "integration"}
    checklist = (project / "taxiway-ci" / "checklist.md").read_text()
    assert "CI" in checklist and summary.read_text() == checklist + "\n"


def test_ci_init_writes_files_that_pass_the_providers_schemas(project: Path) -> None:
    result = cli_result(project, "ci", "init")
    assert result.exit_code == 0, result.output
    for provider, path in PATHS.items():
        written = project / path
        checked = subprocess.run(
            [CHECK_JSONSCHEMA, "--builtin-schema", SCHEMAS[provider], str(written)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, (provider, checked.stdout, checked.stderr)
        assert "taxiway ci run" in written.read_text()
    github = yaml.safe_load((project / PATHS["github"]).read_text())
    assert set(github["on"]) >= {"push", "pull_request", "schedule"}
    assert any("upload-artifact" in step.get("uses", "") for step in github["jobs"]["ci"]["steps"])
    gitlab = yaml.safe_load((project / PATHS["gitlab"]).read_text())
    assert gitlab["taxiway-ci"]["artifacts"]["reports"]["junit"] == "taxiway-ci/junit.xml"
    assert cli_result(project, "ci", "init").exit_code == 2  # never overwrites without --force


def test_every_github_workflow_ci_init_writes_passes_actionlint(project: Path, tmp_path: Path) -> None:
    # The two workflows ci init writes: installing taxiway itself, or the project's requirements.txt.
    assert cli_result(project, "ci", "init", "--provider", "github").exit_code == 0
    plain = tmp_path / "plain.yml"
    plain.write_text((project / PATHS["github"]).read_text())
    (project / "requirements.txt").write_text("taxiway\n")
    assert cli_result(project, "ci", "init", "--provider", "github", "--force").exit_code == 0
    pinned = project / PATHS["github"]
    assert "pip install -r requirements.txt" in pinned.read_text()
    assert actionlint(plain, pinned) == []
    # The same linter finds what a broken template would write: the check can fail.
    broken = tmp_path / "broken.yml"
    broken.write_text(plain.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    findings = actionlint(broken)
    assert {(f["kind"], f["line"]) for f in findings} >= {("syntax-check", 12)}, findings
    assert any('"runs-on" section is missing in job "ci"' in f["message"] for f in findings), findings


def test_schema_check_catches_what_a_broken_template_would_write() -> None:
    broken = render("github", Path("/nonexistent")).text.replace("'on':", "on:")
    with pytest.raises(TaxiwayError, match="read as a boolean"):
        check_structure("github", broken)
    schema = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", SCHEMAS["gitlab"], "-"],
        input="taxiway-ci:\n  stage: test\n  scripts: [taxiway ci run]\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert schema.returncode == 1, schema.stdout  # the real schema refuses a misspelt key
