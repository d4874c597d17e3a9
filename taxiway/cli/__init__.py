"""The command-line interface; `main` is the console script."""

import os
import sys

from taxiway.cli.app import app


def main() -> None:
    """Run the `taxiway` command."""
    try:
        app()
    except BrokenPipeError:
        # The reader went away (`taxiway --help | head`): not an error of ours. Point stdout at /dev/null so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


__all__ = ["app", "main"]
