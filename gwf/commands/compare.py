"""`gwf compare A.json B.json`: what plan B changes against plan A — MW per category, deployable
GW, lateness, open units, operations moved, utilisation per pool (every figure B − A)."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_command(
        plan_a: Path = typer.Argument(..., metavar="A.json", help="the plan to compare against (schedule.json)"),
        plan_b: Path = typer.Argument(..., metavar="B.json", help="the plan to compare"),
        spec: str | None = typer.Option(None, "--spec", help="spec both plans were made for (default: the one each plan records)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object {a, b, delta}"),
    ) -> None:
        """Compare two plans: every figure of B against A (B − A; a plan against itself is all zeros)."""
        from gwf.plans.compare import compare
        from gwf.plans.loaded import load_plan

        result = compare(load_plan(plan_a, spec), load_plan(plan_b, spec))
        if as_json:
            typer.echo(json.dumps(result.to_dict()))
            return
        typer.echo(f"A = {plan_a}\nB = {plan_b}")
        _print(result, "A", "B")


def _print(result, name_a: str, name_b: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from sim.units import unit_of

    a, b, d = result.a, result.b, result.delta
    table = Table("figure", name_a, name_b, "B − A", title="plan comparison")

    def row(label: str, x, y, z, fmt: str) -> None:
        table.add_row(label, format(x, fmt), format(y, fmt), format(z, "+" + fmt))

    for cat in d["mw_by_category"]:
        row(f"{cat} MW", a["mw_by_category"].get(cat, 0.0), b["mw_by_category"].get(cat, 0.0), d["mw_by_category"][cat], ",.3f")
    # At the plans' scale (sim.units), as the twin says it: a small floor's plan is not 0.0000 GW.
    unit = unit_of(max(a["deployable_gw"], b["deployable_gw"]))
    k = 1.0 if unit == "GW" else 1000.0
    row(f"deployable {unit}", a["deployable_gw"] * k, b["deployable_gw"] * k, d["deployable_gw"] * k, ",.4f" if unit == "GW" else ",.3f")
    row("units late", a["units_late"], b["units_late"], d["units_late"], "d")
    row("lateness, total h", a["lateness_h_total"], b["lateness_h_total"], d["lateness_h_total"], ",.1f")
    row("lateness, max h", a["lateness_h_max"], b["lateness_h_max"], d["lateness_h_max"], ",.1f")
    row("units open at horizon", a["units_open"], b["units_open"], d["units_open"], "d")
    row("operations", a["operations"], b["operations"], d["operations"], ",d")
    for pool in d["utilisation"]:
        row(f"utilisation {pool}", a["utilisation"].get(pool, 0.0), b["utilisation"].get(pool, 0.0), d["utilisation"][pool], ".1%")
    console = Console()
    console.print(table)
    m = d["operations_moved"]
    console.print(f"operations moved: {m['total']:,} ({m['other_cell']:,} to another cell, {m['retimed']:,} retimed on the same cell, "
                  f"{m['only_in_a']:,} only in {name_a}, {m['only_in_b']:,} only in {name_b})")
