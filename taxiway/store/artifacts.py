"""The artifact store: content-addressed blobs on any fsspec filesystem, verified when read.

A blob's address is the SHA-256 of its bytes. It is written once (a second put of the same bytes is a
no-op) and every read re-hashes the bytes, so a file changed behind taxiway's back is refused rather
than silently used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import fsspec
from fsspec.spec import AbstractFileSystem

from taxiway.errors import ArtifactCorruptError, NotFoundError, StoreError

CHUNK_BYTES = 1 << 20
Progress = Callable[[int], None]  # called with the number of bytes just processed


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Hash a local file in chunks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


class ArtifactStore:
    """Blobs addressed by content on a local folder, S3 or any other fsspec URL.

    Example:
        >>> import tempfile
        >>> store = ArtifactStore(tempfile.mkdtemp())
        >>> digest = store.put_bytes(b"model bytes")
        >>> store.get_bytes(digest)
        b'model bytes'
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        try:
            fs, root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise StoreError(
                f"artifact store '{uri}' cannot be opened: {exc}",
                hint="use a folder path, or install the filesystem's package (s3fs for s3://)",
            ) from None
        self._fs: AbstractFileSystem = fs
        self._root = root.rstrip("/")
        self._is_local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))

    def path_of(self, digest: str) -> str:
        """Where a blob lives inside the store; two-character fan-out keeps folders small."""
        return f"{self._root}/sha256/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self._fs.exists(self.path_of(digest)))

    def size_of(self, digest: str) -> int:
        """The stored blob's size in bytes (what a check compares with the source it came from)."""
        return int(self._fs.size(self.path_of(digest)))

    def put_bytes(self, data: bytes) -> str:
        """Store bytes, return their digest."""
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):

            def write(handle: IO[bytes]) -> str:
                handle.write(data)
                return digest

            self._write(digest, write)
        return digest

    def put_file(self, path: Path, *, digest: str | None = None, progress: Progress | None = None) -> str:
        """Store a local file, return its digest (pass ``digest`` when already computed, to skip a pass).

        The bytes are hashed again as they are copied, so a file that changes in between is refused
        instead of being stored under a digest that is not its own.
        """
        digest = digest or sha256_file(path)
        if self.exists(digest):
            return digest

        def copy(handle: IO[bytes]) -> str:
            hasher = hashlib.sha256()
            with path.open("rb") as source:
                for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
                    hasher.update(chunk)
                    handle.write(chunk)
                    if progress:
                        progress(len(chunk))
            return hasher.hexdigest()

        self._write(digest, copy, source=str(path))
        return digest

    def _write(self, digest: str, write: Callable[[IO[bytes]], str], *, source: str = "bytes") -> None:
        """Write a blob at its address; ``write`` returns the digest of what it wrote."""
        target = self.path_of(digest)
        if not self._is_local:
            with self._fs.open(target, "wb") as handle:  # object stores make a put visible atomically
                written = write(handle)
            if written != digest:
                self._fs.rm(target)
                raise _changed_while_stored(source)
            return
        # Write beside the target and rename, so a crash never leaves a half-written blob at the address.
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        temporary = f"{target}.{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "wb") as handle:
                written = write(handle)
            if written != digest:
                raise _changed_while_stored(source)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def get_bytes(self, digest: str) -> bytes:
        """Read a blob and verify it still hashes to its address."""
        data = b"".join(self._chunks(digest))
        self._verify(digest, hashlib.sha256(data).hexdigest())
        return data

    def verify(self, digest: str) -> None:
        """Check a blob still hashes to its address, reading it in chunks (nothing is kept in memory).

        Raises:
            ArtifactCorruptError: it was changed. NotFoundError: it is missing.
        """
        hasher = hashlib.sha256()
        for chunk in self._chunks(digest):
            hasher.update(chunk)
        self._verify(digest, hasher.hexdigest())

    def get_file(self, digest: str, suffix: str = "") -> Path:
        """Copy a blob to a local temporary file, verifying it on the way; the caller deletes the file."""
        hasher = hashlib.sha256()
        handle, name = tempfile.mkstemp(prefix="taxiway-", suffix=suffix)
        with os.fdopen(handle, "wb") as out:
            for chunk in self._chunks(digest):
                hasher.update(chunk)
                out.write(chunk)
        try:
            self._verify(digest, hasher.hexdigest())
        except ArtifactCorruptError:
            os.unlink(name)
            raise
        return Path(name)

    def _chunks(self, digest: str) -> Iterator[bytes]:
        try:
            with self._fs.open(self.path_of(digest), "rb") as handle:
                yield from iter(lambda: handle.read(CHUNK_BYTES), b"")
        except FileNotFoundError:
            raise NotFoundError(
                f"artifact {digest[:12]} is missing from {self.uri}",
                hint="the artifact store may have been moved or pruned; point [store] artifacts at its place",
            ) from None

    def _verify(self, digest: str, actual: str) -> None:
        if actual != digest:
            raise ArtifactCorruptError(
                f"artifact {digest[:12]} at {self.path_of(digest)} was changed after it was written "
                f"(its content now hashes to {actual[:12]}); taxiway refuses to use it",
                hint="restore the file from a backup, or re-run the command that produced it",
            )

    def copy_out(self, digest: str, destination: Path) -> None:
        """Write a verified copy of a blob to ``destination``."""
        temporary = self.get_file(digest)
        shutil.move(temporary, destination)


def _changed_while_stored(source: str) -> StoreError:
    return StoreError(
        f"'{source}' changed while it was being stored; nothing was kept",
        hint="wait until the program writing it has finished, then run the command again",
    )
