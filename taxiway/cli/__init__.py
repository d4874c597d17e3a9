"""The command-line interface; `main` is the console script."""

from taxiway.cli.app import app


def main() -> None:
    """Run the `taxiway` command."""
    app()


__all__ = ["app", "main"]
