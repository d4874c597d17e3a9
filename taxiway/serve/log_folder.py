"""Where prediction logs live and how their files are written, listed and told apart.

Layout: ``<root>/date=YYYY-MM-DD/<replica>-<start>-<seq>.parquet`` (UTC day of the rows), with ``<root>`` the
artifact store's URI + ``/prediction-logs`` unless given. Files are written under a temporary name that
starts with a dot and renamed when complete (object stores make a put visible only once it is whole), so a
process killed with ``kill -9`` loses what it had not flushed and never leaves a half file under a readable
name. Readers ignore names that start with ``.`` or ``_``, and any file a compacted file covers
(:class:`Coverage`, kept in the compacted file's Parquet metadata).
"""

from __future__ import annotations

import bisect
import json
import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import fsspec
import pyarrow.parquet as pq
from fsspec.spec import AbstractFileSystem

from taxiway.errors import StoreError

if TYPE_CHECKING:
    from taxiway.store import Store

__all__ = ["COVERS_KEY", "LOG_FOLDER", "Coverage", "LogFolder", "log_root", "readable_files"]

LOG_FOLDER = "prediction-logs"
COVERS_KEY = b"taxiway.covers"  # Parquet key-value metadata of a compacted file: the files it holds
_LOG_NAME = re.compile(r"^(?P<stem>.+-\d{8}T\d{12}Z)-(?P<seq>\d+)\.parquet$")
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}  # a put appears whole or not


def log_root(store_or_uri: Store | str) -> str:
    """Where prediction logs live: a URI as given, or the store's artifact root + ``/prediction-logs``.

    Example:
        >>> log_root("s3://bucket/logs/")
        's3://bucket/logs'
    """
    if isinstance(store_or_uri, str):
        return store_or_uri.rstrip("/")
    return f"{store_or_uri.artifacts.uri.rstrip('/')}/{LOG_FOLDER}"


class LogFolder:
    """The log root on its filesystem: listing, atomic writes, metadata reads."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs: AbstractFileSystem
        try:
            self.fs, root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise StoreError(
                f"prediction log folder '{uri}' cannot be opened: {exc}",
                hint="use a folder path, or install the filesystem's package (s3fs for s3://)",
            ) from None
        self.root = root.rstrip("/")
        protocols = set(self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.is_local = "file" in protocols
        self.is_object_store = bool(protocols & _OBJECT_STORES)

    def day_path(self, day: str) -> str:
        return f"{self.root}/date={day}"

    def days(self) -> list[str]:
        self.fs.invalidate_cache(self.root)  # object-store listings are cached; new files must show
        if not self.fs.exists(self.root):
            return []
        names = (entry.rstrip("/").rsplit("/", 1)[-1] for entry in self.fs.ls(self.root, detail=False))
        return sorted(n.removeprefix("date=") for n in names if n.startswith("date="))

    def names(self, day: str) -> list[str]:
        """Readable file names of one day, sorted; temporary and hidden names left out."""
        path = self.day_path(day)
        # Object-store listings are cached per folder, and invalidating the root leaves its day folders'
        # listings in place: without this, files other processes write after the first read never show.
        self.fs.invalidate_cache(path)
        if not self.fs.exists(path):
            return []
        names = (entry.rsplit("/", 1)[-1] for entry in self.fs.ls(path, detail=False))
        return sorted(n for n in names if n.endswith(".parquet") and not n.startswith((".", "_")))

    def write(self, path: str, write: Callable[[str | IO[bytes]], None]) -> None:
        """Write ``path`` so that it appears whole or not at all."""
        if self.is_object_store:
            with self.fs.open(path, "wb") as handle:  # an object store shows a put only once it is complete
                write(handle)
            return
        folder, name = path.rsplit("/", 1)
        temporary = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        if not self.is_local:  # another remote filesystem (sftp, hdfs, ...): write beside, then move
            self.fs.makedirs(folder, exist_ok=True)
            with self.fs.open(temporary, "wb") as handle:
                write(handle)
            self.fs.mv(temporary, path)
            return
        os.makedirs(folder, exist_ok=True)
        try:
            # No fsync: the goal is surviving kill -9 (the page cache survives it), not a power cut.
            write(temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def covers(self, day: str, name: str) -> Coverage:
        with self.fs.open(f"{self.day_path(day)}/{name}", "rb") as handle:
            metadata = pq.read_metadata(handle).metadata or {}
        return Coverage.from_json(metadata.get(COVERS_KEY, b"{}"))

    def for_duckdb(self, path: str) -> str:
        return path if self.is_local else str(self.fs.unstrip_protocol(path))


@dataclass
class Coverage:
    """The log files a compacted file holds: sequence ranges per writer stem, plus other names."""

    runs: dict[str, list[list[int]]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def add(self, names: Sequence[str]) -> None:
        seqs: dict[str, list[int]] = {}
        for name in names:
            match = _LOG_NAME.match(name)
            if match:
                seqs.setdefault(match["stem"], []).append(int(match["seq"]))
            else:
                self.names.add(name)
        for stem, values in seqs.items():
            self.runs[stem] = _ranges(self.runs.get(stem, []), values)

    def merge(self, other: Coverage) -> None:
        self.names |= other.names
        for stem, ranges in other.runs.items():
            self.runs[stem] = _ranges(self.runs.get(stem, []) + ranges, [])

    def covers(self, name: str) -> bool:
        match = _LOG_NAME.match(name)
        if not match:
            return name in self.names
        ranges = self.runs.get(match["stem"], [])
        seq = int(match["seq"])
        at = bisect.bisect_right([lo for lo, _ in ranges], seq) - 1
        return at >= 0 and ranges[at][1] >= seq

    def to_json(self) -> str:
        return json.dumps({"runs": dict(sorted(self.runs.items())), "names": sorted(self.names)})

    @classmethod
    def from_json(cls, text: bytes | str) -> Coverage:
        data = json.loads(text)
        return cls(runs=data.get("runs", {}), names=set(data.get("names", [])))


def _ranges(ranges: list[list[int]], values: list[int]) -> list[list[int]]:
    """Merge ranges and single values into sorted, disjoint, non-adjacent [lo, hi] ranges."""
    merged: list[list[int]] = []
    for lo, hi in sorted([*([r[0], r[1]] for r in ranges), *([v, v] for v in values)]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def readable_files(folder: LogFolder, days: list[str]) -> list[tuple[str, str]]:
    """(day, name) of every file to read: the ones no compacted file of its day covers."""
    chosen: list[tuple[str, str]] = []
    for day in days:
        names = folder.names(day)
        covered = Coverage()
        for name in names:
            if name.startswith("compacted-"):
                covered.merge(folder.covers(day, name))
        chosen += [(day, name) for name in names if not covered.covers(name)]
    return chosen
