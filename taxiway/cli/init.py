"""`taxiway init`: write the charter by asking the "Before modelling" questions, or unattended with --yes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.prompt import Prompt

from taxiway.charter import CHARTER_FILE, parse_charter, render_charter
from taxiway.charter.questions import Question, parse_answer, question, questions_for
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
        help="answer any question unattended: PATH=VALUE, e.g. serving.p99_latency_ms=50",
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
    answers = _flag_answers(answer)
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
    text = render_charter(name=name or root.name, task=chosen_task, target=target, answers=answers)
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
            f"{total - answered} questions are unanswered: edit {CHARTER_FILE} "
            "(they stay ✗ in `taxiway check`)"
        )


def _flag_answers(pairs: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for pair in pairs:
        path, sep, raw = pair.partition("=")
        if not sep:
            raise TaxiwayError(
                f"--answer '{pair}' is not PATH=VALUE", hint="e.g. --answer serving.mode=batch"
            )
        try:
            q = question(path.strip())
        except KeyError:
            known = ", ".join(q.path for q in questions_for("classification") + questions_for("regression"))
            raise TaxiwayError(
                f"--answer: '{path}' is not a charter question", hint=f"known: {known}"
            ) from None
        try:
            answers[q.path] = parse_answer(q, raw)
        except ValueError as exc:
            raise TaxiwayError(f"--answer {q.path}: '{raw}' is not valid ({exc})", hint=q.prompt) from None
    return answers


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
