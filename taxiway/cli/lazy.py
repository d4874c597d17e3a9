"""A command group that imports a verb's module only when that verb runs, so `taxiway --help` starts fast.

Each verb's module defines its own ``app = typer.Typer()`` and its commands on it. The group knows every
verb from a table (`Verb`): its name, the module that defines it, the line `--help` shows and the panel it is
listed under. Listing the verbs builds light stand-ins from that table; running one (or asking for its own
``--help``) imports its module and hands click the real command. tests/cli/test_lazy.py holds the table's
help lines equal to the commands' own.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# Typer bundles its own click, whose classes are private to it; these methods take and give its objects, so
# they are typed as Any here rather than as the separately installed click's classes.


@dataclass(frozen=True)
class Verb:
    """One command of a group, known without importing the module that defines it.

    Example:
        >>> Verb("train", "taxiway.cli.train", "Train the baselines and the candidate.", "Train").module
        'taxiway.cli.train'
    """

    name: str
    module: str
    help: str
    panel: str


class LazyGroup(TyperGroup):
    """A Typer group whose verbs come from a table and load on first use; subclasses set ``verbs``."""

    verbs: Sequence[Verb] = ()

    def list_commands(self, ctx: Any) -> list[str]:
        # The table's order is the workflow's order; commands registered eagerly come after it.
        named = [verb.name for verb in self.verbs]
        return named + [name for name in self.commands if name not in named]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        verb = self._verb(cmd_name)
        return None if verb is None else _stand_in(verb)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and self.load(args[0]) is None:
            matches = get_close_matches(args[0], self.list_commands(ctx))
            suggestion = f" Did you mean {matches[0]!r}?" if matches else ""
            ctx.fail(f"No such command {args[0]!r}.{suggestion}")
        return super().resolve_command(ctx, args)

    def load(self, cmd_name: str) -> Any:
        """The real command for ``cmd_name``, imported on first use; None when no verb has that name."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        verb = self._verb(cmd_name)
        if verb is None:
            return None
        module = importlib.import_module(verb.module)
        command = typer.main.get_command(module.app)
        # A module with several commands (or a group) comes back as a group that holds this one.
        command = getattr(command, "commands", {}).get(cmd_name, command)
        self.commands[cmd_name] = command
        return command

    def _verb(self, cmd_name: str) -> Verb | None:
        return next((verb for verb in self.verbs if verb.name == cmd_name), None)


def _stand_in(verb: Verb) -> TyperCommand:
    """What `--help` lists for a verb not loaded yet: its name, its line and its panel."""
    return TyperCommand(verb.name, help=verb.help, short_help=verb.help, rich_help_panel=verb.panel)


def lazy_group(verbs: Sequence[Verb], **attrs: Any) -> type[LazyGroup]:
    """A `LazyGroup` class that knows ``verbs``: pass it as ``typer.Typer(cls=...)``."""
    return type("Group", (LazyGroup,), {"verbs": tuple(verbs), **attrs})
