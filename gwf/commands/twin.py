"""`gwf twin [SPEC]`: does this floor make its target? Replications of the digital twin, with
confidence intervals, the bottleneck and an HTML report. `gwf plan [SPEC]`: the fewest cells of
each type that make the target with 95% confidence."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer


def _load(spec_path: Path | None, load: float | None):
    from plant import load_spec

    spec = load_spec(spec_path)
    if load is not None:
        from plant.spec import Release

        spec = spec.model_copy(update={"release": Release(mode="demand", load=load)})
    return spec


def _console():
    from rich.console import Console

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 140)


def register(app: typer.Typer) -> None:
    @app.command("twin")
    def twin_command(
        spec_path: Path | None = typer.Argument(None, metavar="[SPEC]", help="factory spec (YAML); default: the built-in 1 GW catalog"),
        schedule_path: Path | None = typer.Option(None, "--schedule", help="execute this plan (Schedule JSON) instead of a dispatch policy"),
        control: str = typer.Option("repair", "--control", help="executing a plan: blind (as written) | repair (look-ahead, move a down cell's work) | replan (repair + rolling re-plan) | rule (the --policy on the plan's units)"),
        weeks: float = typer.Option(1.0, "--weeks", help="weeks measured after the warm-up"),
        warmup: float | None = typer.Option(None, "--warmup", help="warm-up hours to delete; default: Welch's method"),
        replications: int = typer.Option(10, "--replications", help="independent replications (>= 2)"),
        seed: int = typer.Option(0, "--seed", help="random seed (same seed, same numbers, on any executor)"),
        policy: str = typer.Option("fifo", "--policy", help="dispatch policy without a plan: fifo | edd | sq"),
        load: float | None = typer.Option(None, "--load", help="offer this multiple of the weekly demand (overrides the spec's release)"),
        workers: int = typer.Option(1, "--workers", help="local processes for the replications"),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler address, e.g. tcp://HOST:8786"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        report_path: Path | None = typer.Option(None, "--report", help="write a self-contained HTML report here"),
    ) -> None:
        """Simulate the floor: deployable GW/week with a 95% CI, bottleneck, P(target)."""
        from gwf.progress import progress_bar
        from sim import Twin

        spec = _load(spec_path, load)
        schedule = None
        if schedule_path is not None:
            from scheduler.schedule import Schedule

            schedule = Schedule.from_json(schedule_path)
        twin = Twin(spec, weeks=weeks, warmup_h=warmup, replications=replications, seed=seed, policy=policy,
                    workers=workers, cluster=cluster, control=control)
        with progress_bar("twin replications", replications) as advance:
            twin.progress = lambda done, total: advance(1)
            report = twin.run(schedule)
        if report_path is not None:
            from sim.html import render_html

            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(render_html(report), encoding="utf-8")
        if as_json:
            typer.echo(json.dumps(report.to_dict(), allow_nan=False))
            return
        _print_twin(report)

    @app.command("plan")
    def plan_command(
        spec_path: Path | None = typer.Argument(None, metavar="[SPEC]", help="factory spec (YAML); default: the built-in 1 GW catalog"),
        load: float = typer.Option(1.05, "--load", help="offered load as a multiple of demand while confirming"),
        weeks: float = typer.Option(1.0, "--weeks", help="weeks measured per twin run"),
        warmup: float | None = typer.Option(None, "--warmup", help="warm-up hours; default: Welch's method"),
        replications: int = typer.Option(5, "--replications", help="replications per twin run"),
        iterations: int = typer.Option(6, "--iterations", help="most twin runs"),
        seed: int = typer.Option(0, "--seed"),
        workers: int = typer.Option(1, "--workers", help="local processes for the replications"),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler address, e.g. tcp://HOST:8786"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Fewest cells per type that reach the target with 95% confidence (bound, then twin)."""
        from sim.plan import plan_capacity

        spec = _load(spec_path, None)
        err = _stderr()
        plan = plan_capacity(spec, load=load, max_iterations=iterations, progress=lambda msg: err.print(msg),
                             weeks=weeks, warmup_h=warmup, replications=replications, seed=seed, workers=workers, cluster=cluster)
        if as_json:
            typer.echo(json.dumps(plan.to_dict()))
            return
        _print_plan(plan)


def _stderr():
    from rich.console import Console

    return Console(file=sys.stderr)


def _print_twin(report) -> None:
    from rich.table import Table

    r = report
    console = _console()
    gw = r.gw_per_week
    console.print(f"[b]{r.spec_name}[/b]: {gw.mean:.3f} GW/week deployable, 95% CI [{gw.ci_low:.3f}, {gw.ci_high:.3f}] "
                  f"against {r.target_gw:g} GW; P(week >= target) {r.p_meets_target:.0%} of replications "
                  f"(normal approx. {r.p_meets_target_normal:.0%}); offered {r.offered_gw_per_week:.3f} GW/week; "
                  f"analytic best case {r.capacity_bound_gw_per_week:.3f} GW/week")
    console.print(f"bottleneck: [b]{r.bottleneck['type']}[/b] ({r.bottleneck['method']}, share {r.bottleneck['share']:.0%}); "
                  f"warm-up {r.warmup_h:.1f} h ({r.warmup_method}); WIP {r.wip.mean:.0f}; {r.seconds_per_replication:.1f} s/replication")
    table = Table("cell type", "cells", "busy", "setup", "blocked", "starved", "idle", "down", "off", "util. of avail.")
    for name, shares in r.time_shares.items():
        table.add_row(name, str(r.slots[name]), *[f"{shares[s]:.1%}" for s in ("busy", "setup", "blocked", "starved", "idle", "down", "off")],
                      f"{r.bottleneck['utilisation_of_available_time'][name]:.1%}")
    console.print(table)
    if r.execution:
        _print_execution(console, r.execution)
    for warning in r.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _print_execution(console, x: dict) -> None:
    from rich.table import Table

    d, p = x["delivered_gw_per_week"], x["planned_gw_per_week"]
    console.print(f"plan executed with control [b]{x['control']}[/b] over its {x['horizon_h']:g} h horizon: delivered "
                  f"{x['delivered_gw_horizon']['mean']:.4f} GW ({d['mean']:.3f} GW/week [{d['ci_low']:.3f}, {d['ci_high']:.3f}]) "
                  f"against {x['planned_gw_horizon']:.4f} GW planned ({p:.3f} GW/week); delivered/planned MW "
                  f"{x['delivered_over_planned']['mean']:.1%}")
    table = Table("category", "planned MW", "delivered MW", "95% CI")
    for cat, mw in x["planned_mw_by_category"].items():
        ci = x["delivered_mw_by_category_ci"][cat]
        table.add_row(cat, f"{mw:.1f}", f"{x['delivered_mw_by_category'][cat]:.1f}", f"[{ci['ci_low']:.1f}, {ci['ci_high']:.1f}]")
    console.print(table)
    if "decisions_per_replication" in x:
        console.print(f"on planned cell {x['share_on_planned_cell']['mean']:.1%}; decisions per replication "
                      f"{x['decisions_per_replication']}; re-plans {x['replans_per_replication']:g} "
                      f"({x['replan_cpu_s_per_replication']:.2f} CPU s); decision time p95 {x['decision_ms']['p95']} ms")


def _print_plan(plan) -> None:
    from rich.table import Table

    console = _console()
    gw = plan.gw_per_week
    state = "confirmed" if plan.confirmed else "NOT confirmed within the iterations"
    console.print(f"target {plan.target_gw:g} GW/week at {plan.load:g}x demand offered: {gw['mean']:.3f} GW/week "
                  f"[{gw['ci_low']:.3f}, {gw['ci_high']:.3f}] — {state}; bottleneck {plan.bottleneck}")
    table = Table("type", "cells now", "analytic bound", "cells needed", "utilisation")
    for row in plan.rows:
        table.add_row(row.cell_type, str(row.cells_now), str(row.cells_bound), str(row.cells_needed), f"{row.utilisation:.1%}")
    console.print(table)
