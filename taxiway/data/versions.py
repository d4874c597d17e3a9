"""Dataset versions: a data file stored once under the SHA-256 of its bytes, with its schema and lineage."""

from __future__ import annotations

import datetime as dt
import difflib
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taxiway.data._frames import json_value
from taxiway.data.duplicates import Duplicates, count_duplicates
from taxiway.data.pii import PiiReport, assess_pii
from taxiway.data.profile import Schema, profile_frame
from taxiway.data.reading import DataFormat, FileKind, check_file, detect_kind, read_table
from taxiway.errors import DataError, NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.artifacts import sha256_file
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.store.tables import DatasetVersionRow, utcnow

Phase = Literal["hash", "read", "copy"]
# Called with (phase, bytes just processed); "read" reports 0 bytes once, when reading starts.
AddProgress = Callable[[Phase, int], None]
SHORT_ID_LENGTH = 12
MIN_PREFIX_LENGTH = 4  # 16 bits: enough to be unique among the few hundred versions a project keeps
MAX_NAME_LENGTH = 200  # dataset_versions.name is a VARCHAR(200)
_MAX_LISTED_COLUMNS = 20  # past this, an error line about a missing column stops being readable
_LIST_HINT = "run `taxiway data list` to see the stored versions"
_PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
_MEDIA_TYPES = {
    None: "text/csv",
    "gzip": "application/gzip",
    "bz2": "application/x-bzip2",
    "xz": "application/x-xz",
    "zip": "application/zip",
}

__all__ = [
    "AddProgress",
    "AddResult",
    "DatasetVersion",
    "Phase",
    "add_dataset",
    "get_dataset",
    "latest_dataset",
    "list_datasets",
    "load_dataset",
]


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset; ``id`` is the SHA-256 of the file's bytes.

    ``schema`` is the inferred :class:`taxiway.data.profile.Schema`; ``parent_id`` is the version of the
    same name that was the newest when this one was added (None for the first).
    """

    id: str
    name: str
    format: DataFormat
    source: str
    n_rows: int
    n_columns: int
    size_bytes: int
    artifact: str
    schema: Schema
    parent_id: str | None
    created_at: dt.datetime

    @property
    def short_id(self) -> str:
        """The first 12 characters of the id, as shown to people."""
        return self.id[:SHORT_ID_LENGTH]

    @classmethod
    def _from_row(cls, row: DatasetVersionRow) -> DatasetVersion:
        created = row.created_at
        return cls(
            id=row.id,
            name=row.name,
            format=cast(DataFormat, row.format),
            source=row.source,
            n_rows=row.n_rows,
            n_columns=row.n_columns,
            size_bytes=row.size_bytes,
            artifact=row.artifact,
            schema=cast(Schema, dict(row.schema)),
            parent_id=row.parent_id,
            created_at=created,
        )


@dataclass(frozen=True)
class AddResult:
    """What :func:`add_dataset` did: the version, and whether this call stored it (False: it was there).

    ``pii`` is what the personal-data screen found in a new version, ``duplicates`` the exact copies and
    conflicting labels it holds (both None when nothing was stored).
    """

    version: DatasetVersion
    is_new: bool
    pii: PiiReport | None = None
    duplicates: Duplicates | None = None


def add_dataset(
    store: Store,
    path: Path | str,
    *,
    name: str | None = None,
    target: str | None = None,
    progress: AddProgress | None = None,
    allowed_pii: Iterable[str] = (),
    drop_columns: Iterable[str] = (),
) -> AddResult:
    """Store a CSV or Parquet file as a dataset version, with its inferred schema and evidence.

    The file is checked completely (read, profiled, ``target`` looked up) before anything is written;
    then the blob, the version row and the ``data.version`` / ``data.schema`` / ``data.pii`` evidence
    commit together.
    Adding content that is already stored writes nothing and returns the stored version.

    Args:
        name: the dataset's name; defaults to the file name without its extensions (``train.csv.gz``: train).
        target: a column the file must have (the charter's ``problem.target``).
        progress: called as bytes are hashed and copied, for a progress bar.
        allowed_pii, drop_columns: the charter's ``data.allowed_pii`` and ``data.drop_columns``: columns
            flagged as personal data pass the ``data.pii`` check only when listed in one of them.

    Example:
        >>> import tempfile, pathlib
        >>> from taxiway.store import StoreLocation
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", str(root / "artifacts")))
        >>> _ = (root / "iris.csv").write_text("petal,label\\n1.4,setosa\\n4.7,versicolor\\n")
        >>> result = add_dataset(store, root / "iris.csv", target="label")
        >>> result.is_new, result.version.name, result.version.n_rows, result.version.parent_id
        (True, 'iris', 2, None)
        >>> add_dataset(store, root / "iris.csv").is_new
        False
        >>> store.close()

    Raises:
        DataError: the file is missing, empty, unreadable, of an unknown format, lacks ``target``, or its
            ``target`` holds fewer than two distinct values (nothing to learn).
    """
    source = Path(path).expanduser().absolute()
    kind = detect_kind(source)
    check_file(source)
    name = _valid_name(kind.stem(source) if name is None else name)
    before = source.stat()
    digest = sha256_file(source, _in_phase(progress, "hash"))
    stored = _find(store, digest)
    if stored is not None:
        return AddResult(stored, is_new=False)

    if progress:
        progress("read", 0)
    frame = read_table(source, kind)
    schema = profile_frame(frame)
    if target is not None:
        _check_target(source, target, [str(column) for column in frame.columns])
        _check_target_values(source, target, frame[target])
    pii = assess_pii(frame, allowed_pii=allowed_pii, drop_columns=drop_columns)
    duplicates = count_duplicates(frame, target=target)
    del frame  # the copy below may be large; do not hold the table meanwhile
    after = source.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise DataError(
            f"data file '{source}' changed while it was being added",
            hint="wait until the program writing it has finished, then add it again",
        )

    try:
        with store.write_session() as session, session.begin():
            version = _insert(
                store,
                session,
                source,
                kind,
                name=name,
                digest=digest,
                schema=schema,
                size_bytes=after.st_size,
                progress=progress,
                pii=pii,
                duplicates=duplicates,
            )
    except IntegrityError:
        # Another process stored the same content between our lookup and our commit: theirs stands.
        stored = _find(store, digest)
        if stored is None:
            raise
        return AddResult(stored, is_new=False)
    return AddResult(version, is_new=True, pii=pii, duplicates=duplicates)


def _insert(
    store: Store,
    session: Session,
    source: Path,
    kind: FileKind,
    *,
    name: str,
    digest: str,
    schema: Schema,
    size_bytes: int,
    progress: AddProgress | None,
    pii: PiiReport,
    duplicates: Duplicates,
) -> DatasetVersion:
    parent = session.scalars(_newest(name).limit(1)).first()
    media_type = _PARQUET_MEDIA_TYPE if kind.format == "parquet" else _MEDIA_TYPES[kind.compression]
    store.save_file(
        source, session=session, media_type=media_type, digest=digest, progress=_in_phase(progress, "copy")
    )
    row = DatasetVersionRow(
        id=digest,
        name=name,
        format=kind.format,
        source=str(source),
        n_rows=schema["n_rows"],
        n_columns=schema["n_columns"],
        size_bytes=size_bytes,
        artifact=digest,
        schema=dict(schema),
        parent_id=parent.id if parent is not None else None,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    # The stored copy was hashed again as it was written (the digest is the version id); what is left to
    # measure is that every byte of the source arrived: stored size minus source size, none missing.
    stored_bytes = store.artifacts.size_of(digest)
    store.evidence.record(
        Check.DATA_VERSION,
        subject_kind="dataset",
        subject_id=digest,
        value=float(abs(stored_bytes - size_bytes)),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=schema["n_rows"], method="stored bytes vs source bytes, SHA-256"),
        details={
            "name": name,
            "n_rows": schema["n_rows"],
            "n_columns": schema["n_columns"],
            "stored_bytes": stored_bytes,
            "source_bytes": size_bytes,
            "duplicates": duplicates.document(),
        },
        session=session,
    )
    # No data.schema record here: a schema inferred from these very rows cannot fail against them. D1 is
    # proven by `taxiway data validate` against the team's schema.yaml.
    store.evidence.record(
        Check.DATA_PII,
        subject_kind="dataset",
        subject_id=digest,
        value=float(len(pii.unhandled)),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=schema["n_rows"], method="personal-data screen of every column"),
        details=pii.details(),
        session=session,
    )
    return DatasetVersion._from_row(row)


def list_datasets(store: Store, name: str | None = None) -> list[DatasetVersion]:
    """Every stored version (of one dataset when ``name`` is given), newest first.

    Example:
        >>> import tempfile, pathlib
        >>> from taxiway.store import StoreLocation
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", str(root / "artifacts")))
        >>> list_datasets(store)
        []
        >>> store.close()
    """
    with store.session() as session:
        return [DatasetVersion._from_row(row) for row in session.scalars(_newest(name))]


def latest_dataset(store: Store, name: str | None = None) -> DatasetVersion | None:
    """The current version: the one added last (of dataset ``name`` when given); None when there is none."""
    with store.session() as session:
        row = session.scalars(_newest(name).limit(1)).first()
        return DatasetVersion._from_row(row) if row is not None else None


def get_dataset(store: Store, ref: str) -> DatasetVersion:
    """Look a version up by its full id or a unique prefix of at least 4 characters.

    Raises:
        NotFoundError: no version id starts with ``ref``.
        TaxiwayError: ``ref`` is shorter than 4 characters, or more than one version id starts with it.
    """
    prefix = ref.strip().lower()
    if len(prefix) < MIN_PREFIX_LENGTH:
        raise TaxiwayError(
            f"dataset version '{ref}' is too short: give at least {MIN_PREFIX_LENGTH} characters of its id",
            hint=_LIST_HINT,
        )
    if not set(prefix) <= set(string.hexdigits.lower()):
        raise NotFoundError(
            f"no dataset version '{ref}': version ids are hexadecimal (0-9, a-f)", hint=_LIST_HINT
        )
    query = select(DatasetVersionRow).where(DatasetVersionRow.id.startswith(prefix, autoescape=True))
    with store.session() as session:
        rows = list(session.scalars(query.order_by(DatasetVersionRow.id).limit(5)))
    if not rows:
        raise NotFoundError(f"no dataset version starts with '{prefix}'", hint=_LIST_HINT)
    if len(rows) > 1:
        matches = ", ".join(row.id[:SHORT_ID_LENGTH] for row in rows[:4]) + (", ..." if len(rows) > 4 else "")
        raise TaxiwayError(
            f"dataset version '{prefix}' is ambiguous: it matches versions {matches}",
            hint="give more characters of the id; " + _LIST_HINT,
        )
    return DatasetVersion._from_row(rows[0])


def load_dataset(store: Store, version: DatasetVersion | str) -> pd.DataFrame:
    """Read a stored version back as a DataFrame, after checking its bytes still match its id.

    Example:
        >>> import tempfile, pathlib
        >>> from taxiway.store import StoreLocation
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", str(root / "artifacts")))
        >>> _ = (root / "t.csv").write_text("x,label\\n1,a\\n2,b\\n")
        >>> added = add_dataset(store, root / "t.csv").version
        >>> load_dataset(store, added.short_id)["x"].tolist()
        [1, 2]
        >>> store.close()

    Raises:
        ArtifactCorruptError: the stored file was changed after it was added.
        NotFoundError: the version, or its file in the artifact store, does not exist.
    """
    if isinstance(version, str):
        version = get_dataset(store, version)
    kind = detect_kind(Path(version.source))
    local = store.artifacts.get_file(version.artifact, suffix=kind.suffix)
    try:
        return read_table(local, kind)
    finally:
        local.unlink(missing_ok=True)


def _find(store: Store, digest: str) -> DatasetVersion | None:
    with store.session() as session:
        row = session.get(DatasetVersionRow, digest)
        return DatasetVersion._from_row(row) if row is not None else None


def _newest(name: str | None) -> Select[DatasetVersionRow]:
    query = select(DatasetVersionRow).order_by(DatasetVersionRow.created_at.desc(), DatasetVersionRow.id)
    return query.where(DatasetVersionRow.name == name) if name is not None else query


def _in_phase(progress: AddProgress | None, phase: Phase) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda n_bytes: progress(phase, n_bytes)


def _valid_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH or not cleaned.isprintable():
        raise DataError(
            f"dataset name '{name}' is not usable: it must be 1 to {MAX_NAME_LENGTH} printable characters",
            hint="pass --name NAME with a short name such as 'flights'",
        )
    return cleaned


def _check_target(source: Path, target: str, columns: Iterable[str]) -> None:
    names = list(columns)
    if target in names:
        return
    same_but_case = [column for column in names if column.lower() == target.lower()]
    guess = same_but_case or difflib.get_close_matches(target, names, n=1, cutoff=0.6)
    shown = ", ".join(names[:_MAX_LISTED_COLUMNS])
    if len(names) > _MAX_LISTED_COLUMNS:
        shown += f", ... ({len(names) - _MAX_LISTED_COLUMNS} more)"
    suggestion = f"did you mean '{guess[0]}'? " if guess else ""
    raise DataError(
        f"target column '{target}' (problem.target in taxiway.toml) is not in '{source.name}'; "
        f"its columns are: {shown}",
        hint=f"{suggestion}rename the column in the file, or set problem.target in taxiway.toml",
    )


def _check_target_values(source: Path, target: str, values: pd.Series) -> None:
    """Refuse a target with fewer than two distinct values: no model can learn from it."""
    present = values.dropna()
    distinct = present.unique()
    if len(distinct) >= 2:
        return
    where = f"target column '{target}' (problem.target in taxiway.toml) in '{source.name}'"
    if len(distinct) == 0:
        raise DataError(
            f"{where} has no value in any of its {len(values):,} rows",
            hint="fill in the target, or set problem.target to the column that holds it",
        )
    raise DataError(
        f"{where} holds a single value ({json_value(distinct[0])!r} in all {len(present):,} rows that have "
        "one): there is nothing to learn",
        hint="a classifier needs rows of at least two classes and a regressor varying values: add the rows "
        "of the other outcomes, or set problem.target to another column",
    )
