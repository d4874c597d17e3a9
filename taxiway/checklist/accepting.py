"""Accepting a warned or failed check: a person's decision, recorded about the subject the checklist binds.

An acceptance is about one subject (the live model, its split, ...): when the subject changes (a new model
goes live, the model trains on another split) the acceptance is about the old one and no longer counts.
"""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

from taxiway.charter import Charter
from taxiway.checklist.bound import bind_store
from taxiway.checklist.items import CHECKS, ITEMS, AsksThenProves, Proves
from taxiway.checklist.judge import judge
from taxiway.errors import TaxiwayError
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence

_GIT_TIMEOUT_S = 10


def check_of(ref: str) -> Check:
    """The check a check id or a checklist item id names.

    Raises:
        TaxiwayError: ``ref`` names neither, or an item that no check proves.

    Example:
        >>> check_of("modelling.baselines"), check_of("train.baselines")
        (<Check.TRAIN_BASELINES: 'train.baselines'>, <Check.TRAIN_BASELINES: 'train.baselines'>)
    """
    wanted = ref.strip()
    if wanted in set(Check):
        return Check(wanted)
    for candidate in ITEMS:
        if candidate.id == wanted:
            if isinstance(candidate.needs, Proves | AsksThenProves):
                return candidate.needs.check
            raise TaxiwayError(
                f"'{wanted}' is met by charter answers or the ML Test Score, not by a check to accept",
                hint="accept the check behind a warning or failure, e.g. taxiway accept data.dev_power",
            )
    raise TaxiwayError(
        f"'{ref}' is no check or checklist item",
        hint="name a check as `taxiway check` shows it (data.dev_power) or an item id (data.leakage)",
    )


def accept_check(
    store: Store, charter: Charter, root: Path | None, ref: str, *, reason: str, by: str | None = None
) -> Evidence:
    """Record that ``by`` accepts the warned or failed record of a check about the subject it must be about.

    Raises:
        TaxiwayError: nothing to accept (no record about the subject, already proven, stale) or no reason.
    """
    check = check_of(ref)
    if not reason.strip():
        raise TaxiwayError("an acceptance needs a reason", hint='say why, e.g. --reason "the slice is tiny"')
    bound = bind_store(store, charter, root)
    record = bound.records.get(check)
    command = CHECKS[check].command
    if record is None:
        note = bound.notes.get(check, f"no record of {check} yet")
        raise TaxiwayError(f"nothing to accept for {check}: {note}", hint=f"run {command} first")
    judged = judge(record, charter)
    if judged.verdict == "proven":
        raise TaxiwayError(f"{check} is proven ({judged.reason}); there is nothing to accept", hint="")
    if judged.verdict == "accepted":
        raise TaxiwayError(
            f"{check} is already accepted by {record.details.get('by')}: {record.details.get('reason')}",
            hint="",
        )
    if judged.verdict == "stale":
        raise TaxiwayError(
            f"{check}'s record is stale ({judged.reason}): an old measurement cannot be accepted",
            hint=f"measure again: {command}",
        )
    return store.evidence.accept(
        check,
        subject_kind=record.subject_kind,
        subject_id=record.subject_id,
        reason=reason,
        by=(by or "").strip() or who(root),
    )


def who(root: Path | None) -> str:
    """The person at the keyboard: git's user.name, else the login name."""
    try:
        done = subprocess.run(
            ["git", "config", "user.name"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
