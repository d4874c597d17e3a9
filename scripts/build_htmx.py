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

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # setup.py loads this file by its path
from npm_tarball import NpmTarballError, fetch, member, verify, write_atomically

HTMX_VERSION = "2.0.11"
# `npm view htmx.org@2.0.11 dist.integrity`: the hash of the tarball the registry serves.
HTMX_INTEGRITY = (
    "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="
)
MEMBER = "package/dist/htmx.min.js"
TARGET = Path(__file__).resolve().parents[1] / "taxiway" / "ui" / "static" / "vendor" / "htmx.min.js"

HtmxBuildError = NpmTarballError  # the name the wheel test and earlier callers know

__all__ = ["HTMX_VERSION", "HtmxBuildError", "ensure_htmx", "verify"]


def fetch_tarball(version: str = HTMX_VERSION) -> bytes:
    """The htmx.org package tarball of ``version`` from the registry (checked when it is the pinned one)."""
    return fetch("htmx.org", version, HTMX_INTEGRITY)


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
    verify(tarball, HTMX_INTEGRITY, what="the htmx tarball")  # a fetch passed in is checked too
    write_atomically(target, member(tarball, MEMBER))
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
