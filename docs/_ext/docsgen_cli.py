"""The command tree that the CLI reference documents.

``alexnet.cli:cli`` loads each top-level command lazily from the module named in
``COMMANDS``. While the project is being assembled some of those modules may not
exist yet; sphinx-click would then fail the whole build on an ImportError. This
module builds a copy of the group that holds only the commands that import, and
remembers the others so the reference page can say which are missing.
"""

from __future__ import annotations

import importlib

import click

from alexnet.cli import COMMANDS
from alexnet.cli import cli as _real_cli


def _load(name: str) -> tuple[click.Command | None, str]:
    module, attr = COMMANDS[name]
    try:
        command = getattr(importlib.import_module(module), attr)
    except Exception as exc:  # any failure means "not documentable here"
        return None, f"{type(exc).__name__}: {exc}"
    if not isinstance(command, click.Command):
        return None, f"{module}.{attr} is not a click command"
    return command, ""


def build() -> tuple[click.Group, dict[str, str]]:
    """Return (group of importable commands, {missing command: reason})."""
    commands: dict[str, click.Command] = {}
    missing: dict[str, str] = {}
    for name in sorted(COMMANDS):
        command, reason = _load(name)
        if command is None:
            missing[name] = reason
        else:
            commands[name] = command
    group = click.Group(
        name="alexnet",
        commands=commands,
        params=list(_real_cli.params),
        help=_real_cli.help,
        context_settings=dict(_real_cli.context_settings),
    )
    return group, missing


cli, missing = build()
