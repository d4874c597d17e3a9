"""`taxiway init`: write the charter by asking the "Before modelling" questions, or unattended with --yes."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from rich.prompt import Prompt

from taxiway.charter import CHARTER_FILE, parse_charter, render_charter
from taxiway.charter.keys import charter_key, charter_keys, parse_value
from taxiway.charter.questions import QUESTIONS, Question, parse_answer, questions_for
from taxiway.cli.output import stderr
from taxiway.errors import CharterError, TaxiwayError
from taxiway.measure.metrics import METRICS, Task, closest_metric, metrics_for
from taxiway.scaffold.write import write_scaffold

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`


@app.command("init")
def init(
    directory: Path = typer.Argument(Path("."), help="project folder (created if missing)", file_okay=False),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="do not ask; unanswered questions keep marked defaults"
    ),
    ask: bool = typer.Option(None, "--ask/--no-ask", help="ask the questions (default: when on a terminal)"),
    name: str = typer.Option(None, help="project name (default: the folder's name)"),
    task: str = typer.Option(None, help="classification or regression"),
    target: str = typer.Option(None, help="the column to predict"),
    metric: str = typer.Option(None, help="the one ranking metric, e.g. roc_auc, rmse"),
    owner: str = typer.Option(None, help="the person responsible for the project"),
    answer: list[str] = typer.Option(
        [],
        "--answer",
        "-a",
        help="set any charter key: KEY=VALUE, e.g. serving.p99_latency_ms=50 or "
        "data.protected_columns=sex,race (lists comma-separated); repeat it",
    ),
    time_column: str = typer.Option(
        None, "--time-column", help="the column that orders rows in time (the split then follows time)"
    ),
    group_column: str = typer.Option(
        None, "--group-column", help="the column whose values must not span splits (e.g. a customer id)"
    ),
    force: bool = typer.Option(False, help=f"overwrite an existing {CHARTER_FILE}"),
) -> None:
    """Start a project: taxiway.toml (the charter), a starter pipeline.py with unit tests, and .gitignore."""
    root = directory.resolve()
    charter_path = root / CHARTER_FILE
    if charter_path.exists() and not force:
        raise CharterError(
            f"{charter_path} already exists", hint="pass --force to overwrite it, or edit it by hand"
        )
    interactive = ask if ask is not None else (not yes and sys.stdin.isatty())
    if not interactive and not yes:
        raise TaxiwayError(
            "no terminal to ask the charter questions on",
            hint="pass --yes with --target COLUMN (and --metric, --answer PATH=VALUE ...) to run unattended",
        )
    answers, settings = _flag_answers(answer)
    name = name or settings.pop("project.name", None)
    task = task or settings.pop("problem.task", None)
    target = target or settings.pop("problem.target", None)
    for flag, key in ((time_column, "data.time_column"), (group_column, "data.group_column")):
        if flag is not None:
            settings[key] = flag
    if metric is not None:
        answers["problem.ranking_metric"] = metric
    if owner is not None:
        answers["project.owner"] = owner
    if interactive:
        task = task or _ask_choice(
            "Is this a classification or a regression problem?", ("classification", "regression")
        )
        target = target or _ask_required("Which column holds the target to predict?")
    task = task or "classification"
    if target is None:
        raise TaxiwayError(
            "--target is required with --yes", hint="e.g. taxiway init DIR --yes --target churned"
        )
    if task not in ("classification", "regression"):
        raise TaxiwayError(
            f"--task '{task}' is not a task taxiway knows", hint="use classification or regression"
        )
    chosen_task: Task = task  # type: ignore[assignment]
    if interactive:
        for q in questions_for(chosen_task):
            if q.path not in answers:
                value = _ask(q, chosen_task)
                if value is not None:
                    answers[q.path] = value
    text = render_charter(
        name=name or root.name, task=chosen_task, target=target, answers=answers, settings=settings
    )
    parse_charter(text, source=str(charter_path))  # never write a charter that `charter check` would refuse
    root.mkdir(parents=True, exist_ok=True)
    charter_path.write_text(text, encoding="utf-8")
    scaffold = write_scaffold(root, name=name or root.name, task=chosen_task)
    answered = sum(1 for q in questions_for(chosen_task) if q.path in answers)
    total = len(questions_for(chosen_task))
    console = stderr()
    console.print(f"wrote {charter_path} ({answered} of {total} questions answered)")
    for path in scaffold.written:
        console.print(f"wrote {path}")
    for path in scaffold.kept:
        console.print(f"kept {path} (already there)")
    if answered < total:
        console.print(
            f"{total - answered} questions are unanswered: answer them with `taxiway init --force "
            f"--answer KEY=VALUE` or edit {CHARTER_FILE} (they stay ✗ in `taxiway check`)"
        )
    if not _in_git(root):
        console.print(
            "model.spec_reviewed (ML Test Score M1) needs the project in git: "
            "git init && git add -A && git commit -m start"
        )


def _flag_answers(pairs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--answer KEY=VALUE`` pairs, split into answers to questions and other charter settings.

    Every key of the charter is accepted (:mod:`taxiway.charter.keys`); ``attest.D6=LINK`` too.
    """
    answers: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for pair in pairs:
        path, sep, raw = pair.partition("=")
        path = path.strip()
        if not sep:
            raise TaxiwayError(
                f"--answer '{pair}' is not KEY=VALUE", hint="e.g. --answer serving.mode=batch"
            )
        if path.startswith("attest.") and len(path) > len("attest."):
            settings[path] = _attestation(path, raw)
            continue
        try:
            key = charter_key(path)
        except KeyError:
            raise TaxiwayError(
                f"--answer: '{path}' is not a charter key", hint=_known_keys_hint(path)
            ) from None
        try:
            value = parse_value(key, raw)
        except ValueError as exc:
            raise TaxiwayError(
                f"--answer {path}: '{raw}' is not valid ({exc})", hint=key.describe()
            ) from None
        if path == "attest":  # the top-level table: one setting per entry
            settings.update({f"attest.{test}": link for test, link in value.items()})
        elif any(q.path == path for q in QUESTIONS):
            answers[path] = value
        else:
            settings[path] = value
    return answers, settings


def _known_keys_hint(path: str) -> str:
    """The closest key, then every key once (with its kind), one a line."""
    paths = [key.path for key in charter_keys()]
    guess = difflib.get_close_matches(path, paths, n=1, cutoff=0.6)
    lines = "\n  ".join(key.describe() for key in charter_keys())
    start = f"did you mean '{guess[0]}'? " if guess else ""
    return f"{start}every charter key (KEY=VALUE; lists comma-separated):\n  {lines}\n  attest.D1..O7 (text)"


def _ask(q: Question, task: Task) -> Any:
    """Ask one question until the answer parses; an empty answer leaves it unanswered."""
    default = q.default_value(task)
    suffix = (
        f" [dim](Enter: leave unanswered, default in use {default})[/]"
        if default is not None
        else (" [dim](Enter: leave unanswered)[/]")
    )
    if q.kind == "metric":
        suffix += f" [dim]one of {', '.join(metrics_for(task))}[/]"
    if q.kind == "choice":
        suffix += f" [dim]{' / '.join(q.choices)}[/]"
    while True:
        text = Prompt.ask(q.prompt + suffix, default="", show_default=False, console=stderr()).strip()
        if not text:
            return None
        if q.kind == "metric":
            if text in METRICS and task in METRICS[text].tasks:
                return text
            guess = closest_metric(text)
            stderr().print(
                f"[red]'{text}' is not a {task} metric[/]" + (f"; did you mean '{guess}'?" if guess else "")
            )
            continue
        try:
            return parse_answer(q, text)
        except ValueError as exc:
            stderr().print(f"[red]not valid: {exc}[/]")


def _ask_required(prompt: str) -> str:
    while not (text := Prompt.ask(prompt, console=stderr()).strip()):
        stderr().print("[red]an answer is required[/]")
    return text


def _ask_choice(prompt: str, choices: tuple[str, ...]) -> str:
    return Prompt.ask(prompt, choices=list(choices), default=choices[0], console=stderr())


def _in_git(root: Path) -> bool:
    """Whether ``root`` is inside a git work tree (False when git itself is missing)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def _attestation(path: str, raw: str) -> dict[str, Any]:
    """``--answer attest.D6=LINK,BY,DATE`` (or a JSON object with those keys) as the charter's inline table.

    Example:
        >>> _attestation("attest.D6", "https://wiki.example.com/d6, Ana, 2027-01-31")
        {'link': 'https://wiki.example.com/d6', 'by': 'Ana', 'date': '2027-01-31'}
    """
    import json

    text = raw.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise TaxiwayError(
            f"--answer {path}: '{raw}' is not an attestation",
            hint=f"give the record's link, who did the check and when: --answer "
            f"'{path}=https://wiki.example.com/page,Ana,2027-01-31'",
        )
    return dict(zip(("link", "by", "date"), parts, strict=True))
