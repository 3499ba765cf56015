"""`gwf twin [SPEC]`: does this floor make its target? Replications of the digital twin, with
confidence intervals, the bottleneck and an HTML report. (`gwf plan` lives in gwf/commands/plan.py.)"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from gwf.options import load_for_target, resolve_spec, spec_alias_option, spec_argument, target_option
from scheduler.problem import recorded_downtime


def _load(spec_path: Path | None, load: float | None, target: str | None = None):
    spec = load_for_target(spec_path, target)
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
        spec_path: Path | None = spec_argument(),
        spec_alias: Path | None = spec_alias_option(),
        target: str | None = target_option(),
        schedule_path: Path | None = typer.Option(None, "--schedule", help="execute this plan (schedule.json) instead of a dispatch policy, on the spec the plan records unless SPEC is given"),
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
        capacity: bool = typer.Option(True, "--capacity/--no-capacity", help="also run the floor offered more than it can take, to tell capacity from demand (not with --schedule)"),
    ) -> None:
        """Simulate the floor: deployable output with a 95% CI, what it can make against what it is offered, bottleneck, P(target)."""
        from gwf.progress import progress_bar
        from sim import Twin

        spec_path = resolve_spec(spec_path, spec_alias)
        schedule = None
        if schedule_path is not None:
            from gwf.plans.loaded import recorded_spec_path
            from scheduler.schedule import Schedule

            schedule = Schedule.from_json(schedule_path)
            if spec_path is None:  # a plan brings its own spec, as for every other command that reads one
                spec_path = recorded_spec_path(schedule_path, schedule)
        spec = _load(spec_path, load, target)
        twin = Twin(spec, weeks=weeks, warmup_h=warmup, replications=replications, seed=seed, policy=policy,
                    workers=workers, cluster=cluster, control=control)
        with progress_bar("twin replications", replications) as advance:
            twin.progress = lambda done, total: advance(1)
            report = twin.run(schedule)
        limits = None
        if schedule is None:
            from sim.limits import assess, capacity_run

            full = None
            if capacity:
                with progress_bar("capacity run (offered more than it can take)", replications) as advance:
                    full = capacity_run(spec, progress=lambda done, total: advance(1), weeks=weeks, warmup_h=warmup,
                                        replications=replications, seed=seed, policy=policy, workers=workers, cluster=cluster)
            limits = assess(spec, report, full)
        if report_path is not None:
            from sim.html import render_html

            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(render_html(report, limits=limits), encoding="utf-8")
        # A repaired plan's recorded downtime: the replications take those cells down then (sim.replication).
        downtime = recorded_downtime(schedule.kpis) if schedule is not None else {}
        if as_json:
            out = report.to_dict()
            if limits is not None:
                out["limits"] = limits.to_dict()
            if downtime:
                out["downtime"] = {cell: [list(w) for w in windows] for cell, windows in downtime.items()}
            typer.echo(json.dumps(out, allow_nan=False))
            return
        _print_twin(report, limits)
        for cell, windows in sorted(downtime.items()):
            spans = ", ".join(f"{s / 3600:.2f} h..{e / 3600:.2f} h" for s, e in windows)
            typer.echo(f"downtime: {cell} down {spans} of plan time (the repair's kpis.down): taken down in every replication")


def _print_twin(report, limits=None) -> None:
    from rich.table import Table

    from sim.units import power, power_interval

    r = report
    console = _console()
    gw = r.gw_per_week
    ref = r.target_gw  # figures at the scale of the floor: MW below 1 GW
    console.print(f"[b]{r.spec_name}[/b]: {power_interval(gw.mean, gw.ci_low, gw.ci_high, ref)} deployable (95% CI) "
                  f"against a target of {power(r.target_gw, ref)}; P(week >= target) {r.p_meets_target:.0%} of replications "
                  f"(normal approx. {r.p_meets_target_normal:.0%}); offered {power(r.offered_gw_per_week, ref)}; "
                  f"analytic best case {power(r.capacity_bound_gw_per_week, ref)}")
    for sentence in (limits.sentences() if limits is not None else []):
        console.print(f"  {sentence}")
    console.print(f"bottleneck: [b]{r.bottleneck['type']}[/b] ({r.bottleneck['method']}, share {r.bottleneck['share']:.0%}); "
                  f"warm-up {r.warmup_h:.1f} h ({r.warmup_method}); WIP {r.wip.mean:.0f}; {r.seconds_per_replication:.1f} s/replication")
    # Places, not cells: a burn-in bay holding 8 units is 8 places (the report's `slots`).
    table = Table("cell type", "places", "busy", "setup", "blocked", "starved", "idle", "down", "off", "util. of avail.")
    for name, shares in r.time_shares.items():
        table.add_row(name, str(r.slots[name]), *[f"{shares[s]:.1%}" for s in ("busy", "setup", "blocked", "starved", "idle", "down", "off")],
                      f"{r.bottleneck['utilisation_of_available_time'][name]:.1%}")
    console.print(table)
    if r.execution:
        _print_execution(console, r.execution, ref)
    for warning in r.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _print_execution(console, x: dict, ref: float) -> None:
    from rich.table import Table

    from sim.units import interval_numbers, power, power_interval

    # At the floor's scale (sim.units), like the headline: a small floor's plan is not 0.000 GW.
    d, p, h = x["delivered_gw_per_week"], x["planned_gw_per_week"], x["delivered_gw_horizon"]
    console.print(f"plan executed with control [b]{x['control']}[/b] over its {x['horizon_h']:g} h horizon: delivered "
                  f"{power(h['mean'], ref, per_week=False)} ({power_interval(d['mean'], d['ci_low'], d['ci_high'], ref)}) "
                  f"against {power(x['planned_gw_horizon'], ref, per_week=False)} planned ({power(p, ref)}); delivered/planned MW "
                  f"{x['delivered_over_planned']['mean']:.1%}")
    table = Table("category", "planned MW", "delivered MW (95% CI)")
    for cat, mw in x["planned_mw_by_category"].items():
        ci = x["delivered_mw_by_category_ci"][cat]
        table.add_row(cat, interval_numbers(mw / 1000, mw / 1000, mw / 1000, 0).split(" [")[0],
                      interval_numbers(x["delivered_mw_by_category"][cat] / 1000, ci["ci_low"] / 1000, ci["ci_high"] / 1000, 0))
    console.print(table)
    if "decisions_per_replication" in x:
        console.print(f"on planned cell {x['share_on_planned_cell']['mean']:.1%}; decisions per replication "
                      f"{x['decisions_per_replication']}; re-plans {x['replans_per_replication']:g} "
                      f"({x['replan_cpu_s_per_replication']:.2f} CPU s); decision time p95 {x['decision_ms']['p95']} ms")
    if x.get("deadlocks_resolved_per_replication"):
        console.print(f"blocking deadlocks broken by parking a unit off the floor: "
                      f"{x['deadlocks_resolved_per_replication']:g} per replication")

