"""Options every command spells the same way. The spec a command works on is its first
positional argument, `[SPEC]` (default: the built-in 1 GW catalog); `--spec SPEC` is kept as a
hidden alias so older scripts still run. Commands that read a saved plan take the plan first
and use the spec the plan records; their visible `--spec` overrides that."""
from __future__ import annotations

from pathlib import Path

import typer

SPEC_HELP = "factory spec (YAML/JSON); default: the built-in 1 GW catalog"


def spec_argument():
    return typer.Argument(None, metavar="SPEC", help=SPEC_HELP, show_default=False)


def spec_alias_option():
    return typer.Option(None, "--spec", hidden=True, help="same as the SPEC argument (kept for older scripts)")


def resolve_spec(positional: Path | str | None, alias: Path | str | None) -> Path | str | None:
    """The one spec named by SPEC or --spec; ValueError if both name different files."""
    if positional is not None and alias is not None and str(positional) != str(alias):
        raise ValueError(f"--spec: {alias} and SPEC {positional} name two specs; give one")
    return positional if positional is not None else alias
