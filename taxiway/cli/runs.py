"""`taxiway runs`: list the recorded training runs, show one."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

import typer
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, stdout
from taxiway.display import duration, when
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.train.runs import KINDS, STATUSES, Run, get_run, list_runs, run_artifacts

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

_AGE = re.compile(r"(\d+)\s*([smhdw])")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_STATUS_STYLES = {"running": "yellow", "finished": "green", "failed": "red"}
_UNBROKEN = frozenset({"run", "status", "started (UTC)", "duration"})  # never cut or folded

runs_app = typer.Typer(
    help="Training runs: list them, newest first, or show one.",
    invoke_without_command=True,
)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
def list_(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help=f"only runs of this kind: {', '.join(KINDS)}", show_default=False),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help=f"only runs with this status: {', '.join(STATUSES)}", show_default=False
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="only runs started since a UTC date or time (2026-11-01, 2026-11-01T08:00Z) or an age "
            "(30m, 12h, 7d, 2w)",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="at most N runs", show_default=False)] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="best first by this metric (e.g. roc_auc; losses lowest first); runs without it come last",
            show_default=False,
        ),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """List the recorded training runs, newest first (`taxiway runs show RUN` shows one)."""
    if ctx.invoked_subcommand is not None:
        return
    started_after = parse_since(since, dt.datetime.now(dt.UTC)) if since is not None else None
    project = Project.load()
    store = project.store
    try:
        runs = list_runs(store, kind=kind, status=status, since=started_after, limit=limit, sort=sort)
    finally:
        store.close()
    metric = sort.strip() if sort else ranking_metric(project.charter)
    if output is TableFormat.json:
        document = {"ranking_metric": ranking_metric(project.charter), "sort": metric if sort else None}
        emit_json({**document, "runs": [_document(run) for run in runs]})
        return
    if not runs:
        chosen = (("kind", kind), ("status", status), ("since", since))
        filters = [f"--{name} {value}" for name, value in chosen if value is not None]
        message = (
            f"no runs match {' '.join(filters)}"
            if filters
            else "no runs recorded yet; `taxiway train` records some, as does taxiway.start_run() in code"
        )
        stdout().print(message, highlight=False, markup=False)
        return
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("run", "left"),
        ("name", "left"),
        ("kind", "left"),
        ("status", "left"),
        (metric, "right"),
        ("started (UTC)", "left"),
        ("duration", "right"),
    )
    order = f"best {metric} first" if sort else "newest first"
    table = Table(title=f"runs ({len(runs)}, {order})")
    for header, justify in columns:
        table.add_column(header, justify=justify, no_wrap=header in _UNBROKEN)
    for run in runs:
        value = run.metrics.get(metric)
        table.add_row(
            Text(run.id),
            Text(run.name),
            Text(run.kind),
            _status(run.status),
            Text("-" if value is None else f"{value:.4g}"),
            Text(when(run.started_at)),
            Text(duration(run.duration_s)),
        )
    stdout().print(table)


@runs_app.command("show")
def show(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN", help="a run id, or a unique prefix of it (at least 4 hex digits after r-)"
        ),
    ],
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Show one run: params, metrics, lineage, resources, artifacts and, if it failed, why."""
    store = Project.load().store
    try:
        run = get_run(store, ref)
        artifacts = run_artifacts(store, run.id)
    finally:
        store.close()
    if output is TableFormat.json:
        emit_json({**_document(run), "artifacts": artifacts})
        return
    facts = Table(title=f"run {run.id}", show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    for field, value in (
        ("name", run.name),
        ("kind", run.kind),
        ("status", run.status),
        ("started (UTC)", when(run.started_at)),
        ("ended (UTC)", when(run.ended_at) if run.ended_at else "-"),
        ("duration", duration(run.duration_s)),
        ("parent", run.parent_id or "-"),
        ("dataset", run.dataset_id or "-"),
        ("split", run.split_id or "-"),
        ("model", run.model_artifact or "-"),
        ("predictions", run.predictions_artifact or "-"),
    ):
        facts.add_row(Text(field), _status(value) if field == "status" else Text(value))
    if run.error:
        facts.add_row(Text("error"), Text(run.error, style="red"))
    console = stdout()
    console.print(facts)
    for title, values in (
        ("params", run.params),
        ("metrics (latest)", run.metrics),
        ("tags", run.tags),
        ("lineage", run.lineage),
        ("resources", run.resources),
        ("artifacts", artifacts),
    ):
        if not values:
            console.print(f"{title}: none", highlight=False, markup=False)
            continue
        table = Table(title=title, show_header=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, item in values.items():
            table.add_row(Text(key), Text(_cell(item)))
        console.print(table)


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """The moment ``--since`` names: an ISO 8601 date or time (UTC unless it says otherwise), or an age.

    Example:
        >>> now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
        >>> parse_since("7d", now).isoformat(), parse_since("2026-11-01", now).isoformat()
        ('2026-11-20T12:00:00+00:00', '2026-11-01T00:00:00+00:00')
    """
    cleaned = text.strip()
    age = _AGE.fullmatch(cleaned.lower())
    if age:
        return now - dt.timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise TaxiwayError(
            f"--since '{text}' is neither a date, a time nor an age",
            hint="give a UTC date or time (2026-11-01, 2026-11-01T08:00:00Z) or an age: 30m, 12h, 7d, 2w",
        ) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def ranking_metric(charter: Charter) -> str:
    """The metric runs are ranked by: the charter's, or the default for its task."""
    chosen = charter.problem.ranking_metric
    return chosen or str(question("problem.ranking_metric").default_value(charter.problem.task))


def _document(run: Run) -> dict[str, Any]:
    """A run as `--format json` prints it; docs/cli.md lists these keys, in this order."""
    return {
        "id": run.id,
        "name": run.name,
        "kind": run.kind,
        "status": run.status,
        "parent_id": run.parent_id,
        "dataset_id": run.dataset_id,
        "split_id": run.split_id,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": run.duration_s,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
        "lineage": run.lineage,
        "resources": run.resources,
        "model_artifact": run.model_artifact,
        "predictions_artifact": run.predictions_artifact,
        "error": run.error,
    }


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLES.get(status, ""))


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
