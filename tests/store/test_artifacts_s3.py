"""The artifact store on S3: a real S3 API server (moto's server mode), reached through s3fs by URI."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
import s3fs

from taxiway.errors import ArtifactCorruptError, NotFoundError
from taxiway.store.artifacts import ArtifactStore
from tests.s3 import S3Server

# No metadata database is involved: the SQLite pass covers these.
pytestmark = pytest.mark.one_backend


def _objects(server: S3Server, prefix: str) -> list[str]:
    fs = s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=server.url)
    return sorted(fs.find(prefix.removeprefix("s3://")))


def test_blobs_round_trip_under_their_sha256_as_s3_objects(s3_bucket: str, s3_server: S3Server) -> None:
    store = ArtifactStore(f"{s3_bucket}/team/artifacts")
    digest = store.put_bytes(b"model bytes")
    assert digest == hashlib.sha256(b"model bytes").hexdigest()
    assert store.get_bytes(digest) == b"model bytes"
    assert store.put_bytes(b"model bytes") == digest  # the same bytes again: one object
    key = f"{s3_bucket.removeprefix('s3://')}/team/artifacts/sha256/{digest[:2]}/{digest}"
    assert _objects(server=s3_server, prefix=s3_bucket) == [key]


def test_files_go_in_and_come_out_verified(s3_bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "model.skops"
    source.write_bytes(bytes(range(256)) * 5000)  # past one 1 MB chunk
    store = ArtifactStore(s3_bucket)
    digest = store.put_file(source)
    out = tmp_path / "copy.skops"
    store.copy_out(digest, out)
    assert out.read_bytes() == source.read_bytes()


def test_an_object_changed_in_the_bucket_is_refused(
    s3_bucket: str, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(s3_bucket)
    digest = store.put_bytes(b"the model as trained")
    fs = s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=s3_server.url)
    fs.pipe(store.path_of(digest), b"the model as someone else left it")  # behind taxiway's back

    with pytest.raises(ArtifactCorruptError, match="was changed after it was written") as caught:
        store.get_bytes(digest)
    assert "restore the file" in caught.value.hint
    local = tmp_path / "tmp"
    local.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(local))  # where get_file makes its local copy
    with pytest.raises(ArtifactCorruptError):
        store.get_file(digest)
    assert list(local.iterdir()) == [], "no local copy of the refused object is left behind"


def test_a_missing_object_is_named(s3_bucket: str) -> None:
    store = ArtifactStore(f"{s3_bucket}/artifacts")
    with pytest.raises(NotFoundError, match=f"artifact 000000000000 is missing from {s3_bucket}/artifacts"):
        store.get_bytes("0" * 64)
