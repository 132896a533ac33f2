"""Every command and command group of `aisc` says what it does in `--help`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from aisc.cli.main import app


def commands(command: Any, path: str = "aisc") -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from commands(sub, f"{path} {name}")


def test_every_command_and_group_has_help():
    everything = list(commands(typer.main.get_command(app)))
    assert len(everything) > 100  # the walk reached the commands inside the groups
    silent = [path for path, c in everything if not (c.help or c.short_help or "").strip()]
    assert not silent, "commands and groups without help text:\n" + "\n".join(silent)
