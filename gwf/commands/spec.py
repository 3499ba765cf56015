"""`gwf spec schema`: the spec's JSON Schema for editors. `gwf spec check SPEC`: load a spec as
every command does (exit 2 with one line naming the field on an error) and print warnings for
what is valid but probably not meant."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    spec_app = typer.Typer(help="Write and check factory spec files (docs/spec.md).", no_args_is_help=True)

    @spec_app.command("schema")
    def schema_command() -> None:
        """Print the spec's JSON Schema (point your editor's YAML support at it)."""
        from plant.schema import spec_schema

        typer.echo(json.dumps(spec_schema(), indent=2, ensure_ascii=False))

    @spec_app.command("check")
    def check_command(
        spec_path: Path = typer.Argument(..., metavar="SPEC", help="factory spec (YAML or JSON)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object: ok, summary, warnings"),
    ) -> None:
        """Check a spec: exit 0 when it loads (warnings printed), 2 with the field path when not."""
        from plant import load_spec
        from plant.check import spec_warnings

        spec = load_spec(spec_path)  # a SpecError is a ValueError: one line, exit 2 (gwf.cli.main)
        warnings = spec_warnings(spec)
        summary = {"name": spec.name, "products": len(spec.products), "cell_types": len(spec.cell_types),
                   "cells": len(spec.all_cells), "units_per_week": sum(spec.demand.values()),
                   "target_gw": spec.target.facility_gw}
        if as_json:
            typer.echo(json.dumps({"ok": True, "spec": str(spec_path), "summary": summary, "warnings": warnings}))
            return
        typer.echo(f"{spec_path}: ok — {summary['name']}: {summary['products']} products, {summary['cell_types']} cell types, "
                   f"{summary['cells']} cells, {summary['units_per_week']:,.0f} units/week for {summary['target_gw']:g} GW/week")
        for warning in warnings:
            typer.echo(f"warning: {spec_path}: {warning}")

    app.add_typer(spec_app, name="spec")
