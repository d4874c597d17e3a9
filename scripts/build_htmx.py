"""Put htmx into taxiway/ui/static/vendor/ at build time: from the npm registry, pinned by version and hash.

The dashboard's pages use htmx; the repository holds no minified JavaScript, so the build fetches the
package tarball, checks it against the pinned Subresource-Integrity hash npm publishes (``dist.integrity``,
sha512), and extracts ``dist/htmx.min.js``. setup.py runs this before ``build_py`` (so a built wheel carries
the file, and ``pip install -e`` puts it in the source tree); the Makefile runs it too. A file already in
place with the pinned version is kept, so offline rebuilds work.

The registry is the one npm is configured with (``NPM_CONFIG_REGISTRY``, else ``npm config get registry``).

Run by hand: ``python scripts/build_htmx.py [TARGET]``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

HTMX_VERSION = "2.0.11"
# `npm view htmx.org@2.0.11 dist.integrity`: the hash of the tarball the registry serves.
HTMX_INTEGRITY = (
    "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="
)
MEMBER = "package/dist/htmx.min.js"
TARGET = Path(__file__).resolve().parents[1] / "taxiway" / "ui" / "static" / "vendor" / "htmx.min.js"
FETCH_TIMEOUT_S = 60


class HtmxBuildError(RuntimeError):
    """The tarball could not be fetched, or it is not the one pinned."""


def verify(data: bytes, integrity: str = HTMX_INTEGRITY) -> None:
    """Refuse ``data`` unless it hashes to the Subresource-Integrity string ``integrity``.

    Example:
        >>> verify(b"x", "sha512-" + base64.b64encode(hashlib.sha512(b"x").digest()).decode())
        >>> verify(b"y", "sha512-" + base64.b64encode(hashlib.sha512(b"x").digest()).decode())
        Traceback (most recent call last):
        ...
        build_htmx.HtmxBuildError: the htmx tarball does not match its pinned sha512 integrity hash
    """
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        raise HtmxBuildError(f"unsupported integrity algorithm {algorithm!r}")
    if hashlib.new(algorithm, data).digest() != base64.b64decode(expected):
        raise HtmxBuildError(f"the htmx tarball does not match its pinned {algorithm} integrity hash")


def extract(tarball: bytes) -> bytes:
    """``dist/htmx.min.js`` out of the package tarball."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise HtmxBuildError(f"the htmx tarball has no {MEMBER}")
        return member.read()


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
    raise HtmxBuildError(
        "no npm registry configured: install npm, or set NPM_CONFIG_REGISTRY to the registry's address"
    )


def fetch_tarball(version: str = HTMX_VERSION) -> bytes:
    """The htmx.org package tarball of ``version`` from the registry."""
    url = f"{registry()}/htmx.org/-/htmx.org-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            return bytes(response.read())
    except OSError as error:
        raise HtmxBuildError(f"could not fetch {url}: {error}") from error


def is_current(target: Path, version: str = HTMX_VERSION) -> bool:
    """Whether ``target`` already holds htmx ``version`` (the minified file states its version)."""
    return target.is_file() and f'version:"{version}"' in target.read_text(encoding="utf-8", errors="replace")


def ensure_htmx(target: Path = TARGET, *, fetch: Callable[[], bytes] = fetch_tarball) -> bool:
    """Write htmx to ``target`` unless the pinned version is there; return whether it was written.

    Raises:
        HtmxBuildError: the tarball could not be fetched or does not match the pinned hash (nothing is
            written then).
    """
    if is_current(target):
        return False
    tarball = fetch()
    verify(tarball)
    script = extract(tarball)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as part:
        part.write(script)
    Path(part.name).replace(target)  # atomic: a reader never sees half a file
    return True


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else TARGET
    try:
        written = ensure_htmx(target)
    except HtmxBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{'wrote' if written else 'kept'} {target} (htmx {HTMX_VERSION})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
