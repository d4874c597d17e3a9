"""The artifact store: content addressed, written once, verified on every read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from taxiway.errors import ArtifactCorruptError, NotFoundError, StoreError
from taxiway.store import ArtifactStore


def test_bytes_round_trip_under_their_sha256(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    digest = store.put_bytes(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert Path(store.path_of(digest)).is_file()
    assert store.get_bytes(digest) == b"hello"


def test_an_artifact_is_written_once(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    digest = store.put_bytes(b"same")
    first_write = Path(store.path_of(digest)).stat().st_mtime_ns
    assert store.put_bytes(b"same") == digest
    assert Path(store.path_of(digest)).stat().st_mtime_ns == first_write
    assert not list(tmp_path.rglob("*.tmp")), "no temporary files are left behind"


def test_files_are_copied_in_and_out_verified(tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(bytes(range(256)) * 10_000)
    store = ArtifactStore(str(tmp_path / "artifacts"))
    seen: list[int] = []
    digest = store.put_file(source, progress=seen.append)
    assert sum(seen) == source.stat().st_size
    copy = store.get_file(digest)
    assert copy.read_bytes() == source.read_bytes()
    copy.unlink()


def test_a_tampered_artifact_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    digest = store.put_bytes(b"the real model")
    Path(store.path_of(digest)).write_bytes(b"a swapped model")
    with pytest.raises(ArtifactCorruptError, match="was changed after it was written") as caught:
        store.get_bytes(digest)
    assert "restore" in caught.value.hint
    with pytest.raises(ArtifactCorruptError):
        store.get_file(digest)


def test_a_missing_artifact_is_named(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(NotFoundError, match="is missing from"):
        store.get_bytes("0" * 64)


def test_other_fsspec_filesystems_work_by_uri() -> None:
    store = ArtifactStore("memory://taxiway-test")
    digest = store.put_bytes(b"in memory")
    assert store.get_bytes(digest) == b"in memory"


def test_a_file_that_does_not_match_its_given_digest_is_not_stored(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    stale_digest = hashlib.sha256(b"what the file held when it was hashed").hexdigest()
    store = ArtifactStore(str(tmp_path / "artifacts"))
    with pytest.raises(StoreError, match="changed while it was being stored"):
        store.put_file(source, digest=stale_digest)
    assert not store.exists(stale_digest)
    assert not list((tmp_path / "artifacts").rglob("*.tmp"))
