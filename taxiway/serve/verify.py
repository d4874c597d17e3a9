"""Checking a version loads and answers stored rows as at training, in a scratch process, before a deploy
is recorded.

`taxiway deploy` runs ``python -m taxiway.serve.verify PROJECT VERSION [LIVE]`` when no server is running
to do the same check as it loads the version: otherwise a version that cannot serve would be recorded as
the desired state and discovered only when a server starts (every request 503). A process of its own keeps
the model's memory out of the command and ends with it. It prints one JSON line ``{"ok", "message"}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from taxiway.errors import TaxiwayError

__all__ = ["VersionRefused", "verify_in_scratch", "verify_version"]


class VersionRefused(TaxiwayError):
    """The version would be refused by every server: it does not load, or it answers differently."""

    exit_code = 1


def verify_version(project_root: Path, version: int, live: int | None = None) -> str:
    """Load ``version`` as a server would and replay its stored validation rows; returns a summary.

    ``live``: the live version a shadow or canary must take its inputs from.

    Raises:
        VersionRefused: why a server would refuse it.
    """
    from taxiway.project import Project
    from taxiway.serve.reconcile import LoadRefused, _check_inputs
    from taxiway.serve.served_model import load_served_model
    from taxiway.serve.skew import check_skew

    project = Project.load(project_root)
    store = project.store
    try:
        try:
            served = load_served_model(store, version, project.charter, root=project.root)
            skew = check_skew(store, served)
        except Exception as error:  # noqa: BLE001 - any failure to load is the answer
            raise VersionRefused(f"v{version} could not be loaded: {type(error).__name__}: {error}") from None
        if not skew.passed:
            raise VersionRefused(
                f"v{version} answers {skew.rows - skew.matching} of {skew.rows} stored validation rows "
                f"differently than at training ({skew.first_difference or 'no rows compared'}): "
                "training/serving skew"
            )
        if live is not None and live != version:
            current = load_served_model(store, live, project.charter, root=project.root)
            try:
                _check_inputs("candidate", served, current)
            except LoadRefused as refused:
                raise VersionRefused(str(refused)) from None
        return f"v{version} loads and answers {skew.matching} of {skew.rows} stored rows as at training"
    finally:
        store.close()


def verify_in_scratch(project_root: Path, version: int, live: int | None = None) -> str:
    """:func:`verify_version` in a process of its own.

    Raises:
        VersionRefused: the version would be refused (nothing should be recorded).
    """
    command = [sys.executable, "-m", "taxiway.serve.verify", str(project_root), str(version)]
    if live is not None:
        command.append(str(live))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise VersionRefused(
            f"checking v{version} failed: {done.stderr.strip()[-500:] or 'no answer'}",
            hint="run `taxiway serve` and deploy again: the server checks it as it loads it",
        )
    answer = json.loads(lines[-1])
    if not answer["ok"]:
        raise VersionRefused(
            f"{answer['message']}; nothing was changed",
            hint="deploy a version that loads; `taxiway logs` and `taxiway runs show` help find why",
        )
    return str(answer["message"])


def _main(arguments: list[str]) -> int:
    root, version = Path(arguments[0]), int(arguments[1])
    live = int(arguments[2]) if len(arguments) > 2 else None
    try:
        message = verify_version(root, version, live)
    except TaxiwayError as refused:
        print(json.dumps({"ok": False, "message": refused.message}))
        return 1
    print(json.dumps({"ok": True, "message": message}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
