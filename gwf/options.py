"""Options every command spells the same way. The spec a command works on is its first
positional argument, `[SPEC]` (default: the built-in 1 GW catalog); `--spec SPEC` is kept as a
hidden alias so older scripts still run. Commands that read a saved plan take the plan first
and use the spec the plan records; their visible `--spec` overrides that."""
from __future__ import annotations

import re
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


def target_option():
    return typer.Option(None, "--target", help="the same floor design for another weekly target, e.g. 10GW or 50MW "
                        "(demand, target MW, cell counts and AGVs scaled)")


def parse_target(text: str) -> float:
    """GW from '10GW', '500MW', '0.05' (GW); ValueError names --target."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(gw|mw)?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--target: {text!r} is not a positive power; write e.g. 10GW, 500MW or 0.05 (GW)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "mw" else value


def load_for_target(spec_path, target: str | None):
    """The spec, scaled to --target when given (sim.sizing.scaled_spec)."""
    from plant import load_spec

    spec = load_spec(spec_path)
    if target is None:
        return spec
    from sim.sizing import scaled_spec

    return scaled_spec(spec, parse_target(target))
