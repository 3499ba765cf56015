"""`gwf plan [SPEC]`: the cheapest floor (cell counts per type) that makes the weekly target with
at least 95% probability in the twin, the cost against P(target) trade-off, and the resized
spec written out (`--write`). `--target 10GW` sizes the same design for another target."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from gwf.options import load_for_target, resolve_spec, spec_alias_option, spec_argument, target_option


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_command(
        spec_path: Path | None = spec_argument(),
        spec_alias: Path | None = spec_alias_option(),
        target: str | None = target_option(),
        p_required: float = typer.Option(0.95, "--p", help="required probability that a week meets the target"),
        load: float = typer.Option(1.05, "--load", help="offered load as a multiple of demand while sizing"),
        policy: str = typer.Option("fifo", "--policy", help="dispatch policy: fifo | edd | sq (sq spreads an operation over every type that can do it)"),
        weeks: float = typer.Option(1.0, "--weeks", help="weeks measured per twin run"),
        warmup: float | None = typer.Option(None, "--warmup", help="warm-up hours; default: Welch's method"),
        replications: int = typer.Option(5, "--replications", help="replications per twin run"),
        runs: int = typer.Option(16, "--runs", help="most twin runs while sizing (plus up to 3 to confirm on fresh random numbers)"),
        seed: int = typer.Option(0, "--seed", help="random seed of the sizing runs"),
        workers: int = typer.Option(1, "--workers", help="local processes for the replications"),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler address, e.g. tcp://HOST:8786"),
        write: Path | None = typer.Option(None, "--write", help="write the chosen floor as a spec (YAML) here"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Cheapest floor that meets the target with >= 95% probability; cost vs P(target); writes the spec."""
        from sim.sizing import cheapest_floor, spec_yaml

        spec = load_for_target(resolve_spec(spec_path, spec_alias), target)
        from gwf.progress import line_printer

        sizing = cheapest_floor(spec, load=load, p_required=p_required, max_runs=runs, seed=seed, progress=line_printer(),
                                weeks=weeks, warmup_h=warmup, replications=replications, policy=policy, workers=workers, cluster=cluster)
        if write is not None and sizing.chosen is not None:
            write.parent.mkdir(parents=True, exist_ok=True)
            c = sizing.chosen
            write.write_text(spec_yaml(sizing.written_spec(), f"gwf plan: cheapest floor meeting {spec.target.facility_gw:g} GW/week "
                                       f"with P >= {p_required:g} (confirmed: {c.gw['mean']:.4g} GW/week, P {c.p_normal:.1%}, "
                                       f"cost {c.cost:,.0f})"), encoding="utf-8")
        if as_json:
            out = sizing.to_dict()
            out["written"] = str(write) if write is not None and sizing.chosen is not None else None
            typer.echo(json.dumps(out))
        else:
            _print(sizing, write)
        if sizing.chosen is None:
            raise typer.Exit(1)


def _money(value: float, costed: bool) -> str:
    if not costed:
        return f"{value:,.0f} cells"
    return f"${value / 1e6:,.1f}M" if value >= 1e6 else f"${value:,.0f}"


def _print(sizing, write: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from sim.sizing import floor_cost
    from sim.units import interval_numbers, power, power_interval, unit_of

    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 140)
    ref = sizing.target_gw
    c = sizing.chosen
    costed = sizing.costed
    if not costed:
        console.print("no cost for every cell type in the spec (cell_types[].cost): each cell counts 1, so cheapest = fewest cells")
    if c is None:
        console.print(f"[red]no floor confirmed[/red] to meet {power(ref, ref)} with P >= {sizing.p_required:g} within the runs; "
                      "raise --runs, or check the demand and target")
    else:
        gw = c.gw
        now_cost = floor_cost(sizing.spec, sizing.cells_now)[0]
        console.print(f"cheapest floor meeting {power(ref, ref)} with P >= {sizing.p_required:.0%} at {sizing.load:g}x demand offered: "
                      f"{sum(c.counts.values())} cells, {_money(c.cost, costed)} (the spec's floor: {sum(sizing.cells_now.values())} cells, "
                      f"{_money(now_cost, costed)}); confirmed on fresh random numbers: {power_interval(gw['mean'], gw['ci_low'], gw['ci_high'], ref)}, "
                      f"P(target) {c.p_share:.0%} of replications, {c.p_normal:.1%} normal fit"
                      + (f"; {c.footprint_m2:,.0f} m², {c.power_kw / 1000:,.1f} MW drawn" if c.footprint_m2 else ""))
        table = Table("type", "cells now", "analytic bound", "chosen", "cost/cell", "utilisation")
        types = sizing.spec.cell_type_index
        for t, n in c.counts.items():
            cost = types[t].cost
            table.add_row(t, str(sizing.cells_now[t]), str(sizing.cells_bound[t]), str(n),
                          _money(cost, True) if cost is not None else "-", f"{c.utilisation.get(t, 0):.1%}")
        console.print(table)
    trade = Table("cells", "cost", f"{unit_of(ref)}/week (95% CI)", "P(target)", "feasible", "stage",
                  title="cost against P(target): each floor no cheaper one beats")
    for t in sizing.tradeoff():
        trade.add_row(str(sum(t.counts.values())), _money(t.cost, costed), interval_numbers(t.gw["mean"], t.gw["ci_low"], t.gw["ci_high"], ref),
                      f"{t.p_normal:.1%}", "yes" if t.feasible else "no", t.stage)
    console.print(trade)
    if write is not None and c is not None:
        console.print(f"wrote {write}")
