"""`taxiway --help` lists every verb without importing its module; running a verb loads the real command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.cli.app import VERBS
from taxiway.cli.data import DATA_VERBS
from taxiway.cli.lazy import LazyGroup, Verb

# What neither `import taxiway` nor `taxiway --help` may load: the store, the data and modelling stack,
# the servers. Each of these costs tenths of a second of CPU at every start (issue 12).
HEAVY = ("sqlalchemy", "alembic", "pandas", "numpy", "sklearn", "pyarrow", "fastapi", "uvicorn", "optuna")


def _loaded_by(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stderr.split())


def test_help_loads_no_stage_and_no_heavy_library() -> None:
    loaded = _loaded_by(
        "import sys\nfrom taxiway.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}
    stages = {name for name in loaded if name.startswith("taxiway.") and not name.startswith("taxiway.cli")}
    assert stages <= {"taxiway.errors"}
    commands = {name for name in loaded if name.startswith("taxiway.cli.")}
    assert commands == {"taxiway.cli.app", "taxiway.cli.lazy"}


def test_status_and_the_registry_load_no_model_library(project_dir: Path) -> None:
    """Issue 18: `taxiway status` took 3.4 s of CPU, importing skops and scikit-learn through the registry
    to load models it never loads. It reads the store; the libraries come with a model that is loaded."""
    loaded = _loaded_by(
        "import sys\nfrom taxiway.cli import app\nimport taxiway.registry, taxiway.train.packaging\n"
        f"try:\n    app(['--project', {str(project_dir)!r}, 'status'])\nexcept SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    assert not {name for name in loaded if name.split(".")[0] in ("sklearn", "skops", "scipy", "pandas")}


@pytest.mark.parametrize(
    ("group", "verb"),
    [(app, verb) for verb in VERBS] + [(None, verb) for verb in DATA_VERBS],
    ids=lambda value: value.name if isinstance(value, Verb) else "",
)
def test_listed_help_is_the_commands_own(group: typer.Typer | None, verb: Verb) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, LazyGroup)
    owner = root if group is not None else root.load("data")
    command = owner.load(verb.name)
    assert command is not None, verb.name
    assert (command.help or "").strip().splitlines()[0] == verb.help


def test_help_lists_verbs_in_workflow_order(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = re.findall(r"^│ (\w[\w-]*) ", result.output, flags=re.MULTILINE)
    assert listed == [verb.name for verb in VERBS]


def test_a_verb_runs_and_its_own_help_shows_its_options(runner: CliRunner) -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "--tune" in result.output


def test_a_misspelt_verb_is_a_usage_error_with_the_nearest_verb(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trian"])
    assert result.exit_code == 2
    assert "No such command 'trian'" in result.output
    assert "Did you mean 'train'?" in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "taxiway 0.1.0"


HELP_INTO_HEAD = ("data", "deploy", "status", "serve")  # a group, and verbs of three modules


def test_help_into_a_closed_pipe_is_not_an_error() -> None:
    """`taxiway <verb> --help | head -1`: the reader leaves after one line, the rest of the help meets a
    closed pipe; that printed "internal error … this is a bug". The installed console script, as users run it
    (`python -m taxiway.cli` cannot run a package: this test once passed on that error message)."""
    taxiway = Path(sys.executable).with_name("taxiway")
    script = "; ".join(f"{taxiway} {verb} --help | head -1" for verb in HELP_INTO_HEAD)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.stderr == "", done.stderr
    assert len(done.stdout.splitlines()) == len(HELP_INTO_HEAD), done.stdout
