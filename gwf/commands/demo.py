"""`gwf demo`: the whole product on the built-in 1 GW floor in under two minutes — plan,
prove with the twin, dispatch a shift to mock robots — ending in one verdict table."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gwf.options import resolve_spec, spec_alias_option, spec_argument
from gwf.progress import fraction_bar
from plant import FactorySpec, deployable_gw, load_spec, orders_for
from plant.demand import WEEK_S
from robots import Dispatcher, Fleet, Journal
from scheduler.planning import Limits, plan
from scheduler.delivery import mw_finished_between
from scheduler.problem import build_problem
from scheduler.schedule import Schedule

PLAN_WEEKS = 2  # week 1 fills an empty floor; week 2 is the steady state we measure
# The demo's planning budget: the front door stops sooner when the plan meets its bound or
# stops improving; the twin and dispatch need the rest of the demo's two minutes.
PLAN_SECONDS = 15.0
SHIFT_S = 8 * 3600


@dataclass
class DemoResult:
    planned_gw: float
    planned_mw: dict[str, float]
    plan_operations: int
    plan_seconds: float
    twin_gw: float
    twin_ci: tuple[float, float]
    p_meets_target: float
    bottleneck: str
    twin_seconds: float
    dispatched: int
    dispatch_counts: dict[str, int]
    dispatch_seconds: float
    target_gw: float

    @property
    def verdict(self) -> str:
        low, high = self.twin_ci
        if low >= self.target_gw:
            return "MEETS the target (whole 95% interval at or above it)"
        if high < self.target_gw:
            return "SHORT of the target (whole 95% interval below it)"
        return "AT RISK (the 95% interval straddles the target)"


def run_demo(spec: FactorySpec, out_dir: Path, replications: int, workers: int, update) -> DemoResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    update(0.02, "planning two weeks")
    problem, schedule, plan_seconds = _plan(spec)
    schedule.to_json(out_dir / "demo-schedule.json")
    planned_mw = mw_finished_between(problem, schedule, WEEK_S, 2 * WEEK_S)
    update(0.30, f"twin: {replications} replications of a week")
    from sim import Twin  # numpy/scipy/simpy: loaded only by the commands that simulate

    started = time.monotonic()
    twin = Twin(spec, weeks=1, replications=replications, seed=0, workers=workers,
                progress=lambda done, total: update(0.30 + 0.55 * done / total, f"twin: replication {done}/{total}"))
    report = twin.run()
    twin_seconds = time.monotonic() - started
    (out_dir / "demo-twin.json").write_text(json.dumps(report.to_dict(), indent=1))
    update(0.86, "dispatching the first shift to mock robots")
    shift = Schedule([a for a in schedule.assignments if a.start < SHIFT_S], schedule.horizon, schedule.status, name="shift-1")
    counts, dispatch_seconds = _dispatch(spec, problem, shift, out_dir / "demo-journal.sqlite")
    update(1.0, "done")
    return DemoResult(
        planned_gw=deployable_gw(planned_mw, spec.target), planned_mw=planned_mw, plan_operations=len(schedule.assignments),
        plan_seconds=plan_seconds, twin_gw=report.gw_per_week.mean, twin_ci=(report.gw_per_week.ci_low, report.gw_per_week.ci_high),
        p_meets_target=report.p_meets_target, bottleneck=str(report.bottleneck["type"]),
        twin_seconds=twin_seconds, dispatched=len(shift.assignments), dispatch_counts=counts,
        dispatch_seconds=dispatch_seconds, target_gw=spec.target.facility_gw,
    )


def _plan(spec: FactorySpec):
    started = time.monotonic()
    horizon = PLAN_WEEKS * WEEK_S
    problem = build_problem(spec, orders_for(spec, PLAN_WEEKS * 168), horizon)
    schedule = plan(problem, "mw", Limits(time_limit=PLAN_SECONDS)).schedule
    return problem, schedule, time.monotonic() - started


def _dispatch(spec: FactorySpec, problem, shift: Schedule, journal_path: Path) -> tuple[dict[str, int], float]:
    for stale in journal_path.parent.glob(journal_path.name + "*"):
        stale.unlink()  # a demo starts from a clean journal; real dispatch resumes from its own
    fleet = Fleet.from_spec(spec, cells={a.cell for a in shift.assignments}, url_template="mock://{id}")
    journal = Journal(journal_path)
    try:
        report = asyncio.run(Dispatcher(fleet, journal).run(problem, shift))
    finally:
        journal.close()
    return report.counts, report.seconds


def render(result: DemoResult, console: Console) -> None:
    table = Table(title="gwfactory demo: the built-in 1 GW/week floor", show_lines=False)
    table.add_column("question")
    table.add_column("answer", justify="right")
    table.add_column("how it was measured")
    table.add_row("planned GW/week", f"{result.planned_gw:.3f}",
                  f"week 2 of a validated {PLAN_WEEKS}-week plan, {result.plan_operations:,} operations, {result.plan_seconds:.1f} s")
    table.add_row("simulated GW/week", f"{result.twin_gw:.3f}",
                  f"95% CI [{result.twin_ci[0]:.3f}, {result.twin_ci[1]:.3f}]; P(>= target) {result.p_meets_target:.0%}; {result.twin_seconds:.1f} s")
    table.add_row("verdict vs 1 GW/week", result.verdict.split(" ")[0], result.verdict)
    table.add_row("busiest cell type", result.bottleneck, "the twin's bottleneck (most often the active constraint)")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.dispatch_counts.items()))
    table.add_row("shift 1 dispatched", f"{result.dispatched:,} jobs", f"{counts}; mock robots; {result.dispatch_seconds:.1f} s")
    console.print(table)


def demo(
    spec: Optional[Path] = spec_argument(),
    spec_alias: Optional[Path] = spec_alias_option(),
    out_dir: Path = typer.Option(Path("out"), help="where the plan, twin report and journal go"),
    replications: int = typer.Option(4, help="twin replications (>= 2)"),
    workers: int = typer.Option(2, help="processes for the twin's replications"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of the table"),
) -> None:
    """Plan, simulate and dispatch the default 1 GW floor; print the verdict."""
    factory = load_spec(resolve_spec(spec, spec_alias))
    with fraction_bar("demo") as update:  # stderr, also with --json
        result = run_demo(factory, out_dir, replications, workers, update)
    if as_json:
        typer.echo(json.dumps({**result.__dict__, "verdict": result.verdict}))
    else:
        render(result, Console())
    if not set(result.dispatch_counts) <= {"completed"}:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
