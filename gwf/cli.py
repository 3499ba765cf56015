"""The `gwf` command line: one Typer app; each command lives in its own module under
gwf/commands and registers itself here. Errors from outside input print one line, exit 2."""
from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="gwf",
    help="gwfactory: plan, prove and drive a floor that adds 1 GW of AI data-center capacity a week.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """gwfactory: plan, prove and drive a floor that adds 1 GW of AI data-center capacity a week."""


# Each module defines `register(app)`; kept as a list so a new command is one new module.
COMMAND_MODULES = [
    "gwf.commands.schedule",
    "gwf.commands.fjsp",
    "gwf.commands.twin",
    "gwf.commands.dispatch",
    "gwf.commands.serve",
    "gwf.commands.demo",
    "gwf.commands.export",
    "gwf.commands.compare",
    "gwf.commands.why",
    "gwf.commands.plan",
    "gwf.commands.sensitivity",
    "gwf.commands.spec",
    "gwf.commands.token",
    "gwf.commands.opcua",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print one line on stderr and return the Exit to raise (2 = bad input, 1 = failure)."""
    typer.echo(f"gwf: error: {message}", err=True)
    return typer.Exit(code)


def _flags_without_type(command) -> None:
    """Show on/off flags as `--json`, not `--json <bool>` (typer 0.2x prints a flag's type): an
    empty metavar hides it, for every command's flags and for --help."""
    for sub in [command, *getattr(command, "commands", {}).values()]:
        for param in sub.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        original = sub.get_help_option

        def help_option(ctx, _original=original):
            option = _original(ctx)
            if option is not None:
                option.metavar = ""
            return option

        sub.get_help_option = help_option


def command():
    """The click command behind `gwf`, as the entry point runs it."""
    built = typer.main.get_command(app)
    _flags_without_type(built)
    return built


def main() -> None:
    try:
        command()(prog_name="gwf")
    except ValueError as exc:  # outside input: one line, exit 2, never a traceback
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"gwf: error: {first}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("gwf: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
