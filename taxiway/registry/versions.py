"""The model registry: numbered versions (v1, v2, ...) of validated runs, and aliases that point at them.

A version pins one run's packaged model by its content hash, with the blessing that let it in and the
run's lineage. Only a blessed run is registered unless the caller forces it with a reason, which is kept.
Aliases (``production``, ``candidate``, ...) move between versions; every move is kept in their history,
so a rollback knows where ``production`` pointed before. Loading a version re-hashes its artifact.

Version numbers come from the database: two ``register`` calls at once never get the same number (the
version is the primary key; SQLite serialises writers, and a PostgreSQL writer that loses the race
retries with the next number).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taxiway.errors import NotFoundError, StoreError, TaxiwayError
from taxiway.registry.blessing import latest_blessing
from taxiway.store import Store
from taxiway.store.locks import serialise
from taxiway.store.tables import AliasHistoryRow, ModelAliasRow, ModelVersionRow, utcnow
from taxiway.train.runs import get_run

ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,49}")
_VERSION = re.compile(r"v?(\d+)")
# The versions column is a 32-bit INTEGER: a larger number names no version, and PostgreSQL would refuse to
# even compare it (SQLite overflows past 64 bits).
_LARGEST_VERSION = 2**31 - 1
_ATTEMPTS = 5  # a PostgreSQL writer that lost the race for a number tries the next one
_LIST_HINT = "run `taxiway models` to list the versions and aliases"

__all__ = [
    "AliasChange",
    "ModelVersion",
    "NotBlessedError",
    "alias_history",
    "get_version",
    "list_versions",
    "load_model_version",
    "move_alias",
    "register",
    "set_alias",
]


class NotBlessedError(TaxiwayError):
    """Raised when a run that did not pass validation is registered without ``force``; exit code 1."""

    exit_code = 1


@dataclass(frozen=True)
class ModelVersion:
    """One registered model.

    Example:
        >>> v = ModelVersion(3, "r-3f2a9c01b7de", 7, "ab" * 32, "skops", [], {}, False, None,
        ...                  dt.datetime(2026, 11, 27, tzinfo=dt.UTC), ("production",))
        >>> v.name, v.is_blessed
        ('v3', True)
    """

    version: int
    run_id: str
    blessing_id: int | None
    artifact: str
    model_format: str
    trusted_types: list[str]
    lineage: dict[str, Any]
    forced: bool  # registered without a passing blessing, with ``reason`` recorded
    reason: str | None
    created_at: dt.datetime
    aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"v{self.version}"

    @property
    def is_blessed(self) -> bool:
        return not self.forced

    @classmethod
    def _from_row(cls, row: ModelVersionRow, aliases: tuple[str, ...] = ()) -> ModelVersion:
        return cls(
            version=row.version,
            run_id=row.run_id,
            blessing_id=row.blessing_id,
            artifact=row.artifact,
            model_format=row.model_format,
            trusted_types=list(row.trusted_types or []),
            lineage=dict(row.lineage or {}),
            forced=bool(row.forced),
            reason=row.reason,
            created_at=row.created_at,
            aliases=aliases,
        )


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias; ``previous_version`` is None when the alias was created."""

    alias: str
    version: int
    previous_version: int | None
    changed_at: dt.datetime
    reason: str | None


def register(
    store: Store,
    run_ref: str,
    *,
    force: bool = False,
    reason: str | None = None,
    alias: str | None = None,
) -> tuple[ModelVersion, bool]:
    """Register a run's packaged model as the next version; return it and whether it is new.

    A run registered before is not registered again: its version is returned (and ``alias`` moved to it).

    Raises:
        NotBlessedError: the run's newest blessing did not pass (or it was never validated) and ``force``
            is not set.
        TaxiwayError: ``force`` without a ``reason``, a run that did not finish or has no model, or a bad
            alias name.
        ArtifactCorruptError: the run's model artifact no longer matches its hash.
    """
    reason = reason.strip() if reason else None
    if force and not reason:
        raise TaxiwayError(
            "--force needs --reason: registering an unvalidated model must say why",
            hint='e.g. taxiway register RUN --force --reason "hotfix: gate X is known to be wrong"',
        )
    if alias is not None:
        _check_alias(alias)
    run = get_run(store, run_ref)
    hint = "register a finished run that stored a model, e.g. the best candidate of `taxiway train`"
    if run.model_artifact is None:
        raise TaxiwayError(f"run {run.id} ({run.name}) stored no packaged model", hint=hint)
    if run.status != "finished":
        raise TaxiwayError(f"run {run.id} ({run.name}) is {run.status}, not finished", hint=hint)
    blessing = latest_blessing(store, run.id)
    blessed = blessing is not None and blessing.passed
    if not blessed and not force:
        why = "it was never validated" if blessing is None else f"gates failed: {', '.join(blessing.failed)}"
        raise NotBlessedError(
            f"run {run.id} ({run.name}) is not blessed: {why}",
            hint=f"fix what the gates found and run `taxiway validate {run.id}`; or register it anyway with "
            '--force --reason "why"',
        )
    store.artifacts.get_bytes(run.model_artifact)  # refuse an artifact changed since training
    lineage = {**run.lineage, "run_id": run.id, "run_name": run.name, "run_kind": run.kind}
    for _ in range(_ATTEMPTS):
        try:
            with store.write_session() as session, session.begin():
                serialise(session, "registry.version")
                existing = session.scalars(
                    select(ModelVersionRow).where(ModelVersionRow.run_id == run.id)
                ).first()
                is_new = existing is None
                if existing is None:
                    number = int(session.scalar(select(func.max(ModelVersionRow.version))) or 0) + 1
                    existing = ModelVersionRow(
                        version=number,
                        name=f"v{number}",
                        run_id=run.id,
                        blessing_id=blessing.id if blessing is not None else None,
                        artifact=run.model_artifact,
                        model_format=str(run.tags.get("model_format", "skops")),
                        trusted_types=list(run.tags.get("trusted_types", [])),
                        lineage=lineage,
                        forced=not blessed,
                        reason=reason,
                        created_at=utcnow(),
                    )
                    session.add(existing)
                    session.flush()
                if alias is not None:
                    move_alias(session, alias, existing.version, reason)
                number = existing.version
        except IntegrityError:
            continue  # another writer took the number (or registered this run) first
        return get_version(store, str(number)), is_new
    raise StoreError(
        f"could not register run {run.id}: {_ATTEMPTS} attempts lost the race for a version number",
        hint="many registrations are running at once; try again",
    )


def set_alias(store: Store, alias: str, ref: str, *, reason: str | None = None) -> AliasChange:
    """Point ``alias`` at a version (``v3``, ``3`` or another alias's version) and record the move.

    Raises:
        TaxiwayError: a bad alias name.
        NotFoundError: no such version.
    """
    _check_alias(alias)
    for _ in range(_ATTEMPTS):
        try:
            with store.write_session() as session, session.begin():
                version = _resolve(session, ref)
                return move_alias(session, alias, version, reason.strip() if reason else None)
        except IntegrityError:
            continue  # another writer created the alias at the same moment: move it from there
    raise StoreError(f"could not move alias '{alias}': the database kept refusing", hint="try again")


def get_version(store: Store, ref: str) -> ModelVersion:
    """A version by name (``v3``), number (``3``) or alias (``production``).

    Raises:
        NotFoundError: nothing is registered under ``ref``.
    """
    with store.session() as session:
        number = _resolve(session, ref)
        row = session.get(ModelVersionRow, number)
        assert row is not None  # _resolve found it
        return ModelVersion._from_row(row, _aliases_of(session).get(number, ()))


def list_versions(store: Store) -> list[ModelVersion]:
    """Every registered version, newest first, with the aliases that point at each."""
    with store.session() as session:
        aliases = _aliases_of(session)
        rows = session.scalars(select(ModelVersionRow).order_by(ModelVersionRow.version.desc()))
        return [ModelVersion._from_row(row, aliases.get(row.version, ())) for row in rows]


def alias_history(store: Store, alias: str | None = None, *, limit: int = 100) -> list[AliasChange]:
    """Moves of one alias (or of all), newest first."""
    query = select(AliasHistoryRow).order_by(AliasHistoryRow.id.desc()).limit(limit)
    if alias is not None:
        query = query.where(AliasHistoryRow.alias == alias)
    with store.session() as session:
        return [
            AliasChange(row.alias, row.version, row.previous_version, row.changed_at, row.reason)
            for row in session.scalars(query)
        ]


def load_model_version(store: Store, ref: str, *, root: Path | None = None) -> Any:
    """Load a registered model, after checking its artifact still hashes to the registered digest.

    ``root`` is the project folder, whose ``pipeline.py`` defines any custom classes in the model.

    Raises:
        ArtifactCorruptError: the artifact was changed after it was registered.
        NotFoundError: nothing is registered under ``ref``.
    """
    version = get_version(store, ref)
    from taxiway.train.packaged import load_packaged  # skops and scikit-learn: only to load a model

    return load_packaged(
        store,
        artifact=version.artifact,
        model_format=version.model_format,
        trusted_types=version.trusted_types,
        root=root,
    )


def _check_alias(alias: str) -> None:
    if not ALIAS.fullmatch(alias) or _VERSION.fullmatch(alias):
        raise TaxiwayError(
            f"alias '{alias}' is not a valid name",
            hint="use lower-case letters, digits, '-' and '_', starting with a letter and not like a "
            "version (v3), e.g. production or candidate",
        )


def _resolve(session: Session, ref: str) -> int:
    text = ref.strip().lower()
    matched = _VERSION.fullmatch(text)
    if matched:
        number = int(matched.group(1))
        if number > _LARGEST_VERSION or session.get(ModelVersionRow, number) is None:
            raise NotFoundError(f"no model version v{number}", hint=_LIST_HINT)
        return number
    row = session.get(ModelAliasRow, text)
    if row is None:
        raise NotFoundError(f"no model version or alias '{ref}'", hint=_LIST_HINT)
    return row.version


def move_alias(session: Session, alias: str, version: int, reason: str | None) -> AliasChange:
    """Point ``alias`` at ``version`` inside the caller's transaction, and keep the move in its history.

    For changes that must commit together with the move (a deployment making a version live); on its
    own, use :func:`set_alias`.
    """
    row = session.get(ModelAliasRow, alias, with_for_update=True)
    previous = row.version if row is not None else None
    now = utcnow()
    if previous == version:
        return AliasChange(alias, version, previous, now, reason)
    if row is None:
        session.add(ModelAliasRow(alias=alias, version=version, updated_at=now))
    else:
        row.version, row.updated_at = version, now
    session.add(
        AliasHistoryRow(
            alias=alias, version=version, previous_version=previous, changed_at=now, reason=reason
        )
    )
    session.flush()
    return AliasChange(alias, version, previous, now, reason)


def _aliases_of(session: Session) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for row in session.scalars(select(ModelAliasRow).order_by(ModelAliasRow.alias)):
        found.setdefault(row.version, []).append(row.alias)
    return {version: tuple(names) for version, names in found.items()}
