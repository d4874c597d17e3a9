"""Reading, validating and writing taxiway.toml, with errors that name the field and the fix."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from taxiway.charter.model import Charter, CrossFieldError
from taxiway.charter.questions import questions_for
from taxiway.errors import CharterError
from taxiway.measure.metrics import Task

CHARTER_FILE = "taxiway.toml"
_STORE_COMMENTS = [
    "",
    "[store]",
    '# uri = "sqlite:///.taxiway/taxiway.db"  # or postgresql+psycopg://user@host/db; TAXIWAY_STORE_URI',
    '# artifacts = ".taxiway/artifacts"        # or s3://bucket/prefix; env TAXIWAY_ARTIFACTS_URI',
]


def load_charter(path: Path) -> Charter:
    """Load and validate a charter file.

    Raises:
        CharterError: the file is missing, is not TOML, or fails validation.
    """
    if not path.is_file():
        raise CharterError(
            f"no charter at {path}", hint="run 'taxiway init' to write one, or pass --project DIR"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CharterError(f"{path} is not UTF-8 text ({exc.reason})", hint="save it as UTF-8") from None
    charter = parse_charter(text, source=str(path))
    _check_attested_files(charter, path.parent, str(path))
    return charter


def _check_attested_files(charter: Charter, root: Path, source: str) -> None:
    """An attestation that links a file must name one that exists in the project: a link to nothing is
    free text by another name."""
    for test_id, attested in charter.attest.items():
        if attested.is_url:
            continue
        if not (root / attested.link).resolve().is_file():
            raise CharterError(
                f"{source}: attest.{test_id} links {attested.link!r}, which is no file in {root}",
                hint="commit the written record there and link its path, or link an http(s) URL",
            )


def parse_charter(text: str, *, source: str = CHARTER_FILE) -> Charter:
    """Validate charter TOML text.

    Example:
        >>> parse_charter('[project]\\nname = "x"\\n[problem]\\ntarget = "y"\\n').problem.target
        'y'
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CharterError(
            f"{source} is not valid TOML: {exc}", hint="fix the syntax at the line shown"
        ) from None
    try:
        return Charter.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        message = f"{source} has {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n" + "\n".join(
            f"  {path}: {what}" for path, what, _ in problems
        )
        hints = [hint for _, _, hint in problems if hint]
        raise CharterError(message, hint=hints[0] if hints else "see docs/charter.md for every key") from None


def _describe(error: Any) -> tuple[str, str, str]:
    """Turn one pydantic error into (field path, what is wrong, hint)."""
    loc = tuple(str(part) for part in error["loc"])
    path = ".".join(loc) or "(top level)"
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, CrossFieldError):  # a whole-charter check: shown at the key it is about
        path = cause.path
    kind = error["type"]
    if kind == "extra_forbidden":
        section, key = loc[:-1], loc[-1]
        known = _known_keys(section)
        guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        where = f"[{'.'.join(section)}]" if section else "the top level"
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        return path, f"unknown key '{key}' in {where}", f"{hint}known keys there: {', '.join(known)}"
    if kind == "missing":
        return path, "is required but missing", f"add {loc[-1]} = ... under [{'.'.join(loc[:-1])}]"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    expected = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
    hint = message.split("; ", 1)[1] if "; " in message else ""
    return path, message.split("; ", 1)[0] + expected, hint


def _known_keys(section: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Charter
    for part in section:
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next(c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))
    return list(model.model_fields)


def render_charter(
    *, name: str, task: Task, target: str, answers: dict[str, Any], settings: dict[str, Any] | None = None
) -> str:
    """Write charter TOML: answered questions as keys, unanswered ones commented out with their default.

    An unanswered question is written as a comment so that the file shows every question and the value
    taxiway falls back to, while the checklist still counts it as unanswered.

    Example:
        >>> answers = {"project.owner": "Ana"}
        >>> text = render_charter(name="x", task="classification", target="y", answers=answers)
        >>> 'owner = "Ana"' in text and "# team_sync" in text
        True
    """
    lines = [
        "# taxiway project charter: answers to the checklist's 'Before modelling' questions.",
        "# Commented-out keys are unanswered: taxiway uses the default shown, `taxiway check` marks them ✗.",
        "",
        "[project]",
        _line("name", name),
    ]
    sections: dict[str, list[str]] = {"project": lines, "problem": [], "serving": [], "data": []}
    sections["problem"] += ["", "[problem]", _line("task", task), _line("target", target)]
    sections["serving"] += ["", "[serving]"]
    sections["data"] += ["", "[data]"]
    costs: list[str] = []
    for q in questions_for(task):
        value = answers.get(q.path)
        bucket = costs if q.key.startswith("costs.") else sections[q.section]
        key = q.key.removeprefix("costs.")
        if value is not None:
            bucket.append(_line(key, value))
        else:
            default = q.default_value(task)
            fixed = default is not None and not q.is_derived
            shown = _line(key, default) if fixed else f"{key} = ..."
            note = (
                "default in use"
                if fixed
                else f"default in use: {default}"
                if default is not None
                else "no default"
            )
            bucket.append(f"# {shown}  # UNANSWERED ({note}): {q.prompt}")
    for path, value in (settings or {}).items():
        section, key = path.split(".", 1)
        sections.setdefault(section, ["", f"[{section}]"]).append(_line(key, value))
    out = sections["project"] + sections["problem"] + ["", "[problem.costs]", *costs]
    out += sections["serving"] + sections["data"]
    for extra in sorted(sections.keys() - {"project", "problem", "serving", "data", "store", "attest"}):
        out += sections[extra]
    out += sections.get("store", _STORE_COMMENTS)
    out += [
        "",
        "[attest]",
        "# ML Test Score checks done by hand: the written record (an http(s) URL or a file in this folder),",
        "# who did it and when; 0.5 points each, e.g.",
        '# D6 = { link = "https://wiki.example.com/feature-onboarding-time", by = "Ana", date = 2027-01-31 }',
        *sections.get("attest", [])[2:],
        "",
    ]
    return "\n".join(out)


def _line(key: str, value: Any) -> str:
    if isinstance(value, dict):  # an inline table, so it stays under its section's header
        inner = ", ".join(_line(k, v) for k, v in value.items())
        return f"{_line(key, '')[:-2]}{{{inner}}}"
    return tomli_w.dumps({key: value}).strip()
