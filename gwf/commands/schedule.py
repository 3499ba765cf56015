"""`gwf schedule`: plan a floor's week (or any horizon) and measure it against the capacity bound;
`gwf schedule --repair PLAN.json --down CELL@TIME+DURATION` re-plans after a cell goes down."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import typer

_UNIT_S = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_span(text: str, what: str) -> int:
    """Seconds from '7d', '3d12h', '90m', '4h30m' or plain seconds; ValueError names `what`."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+", raw):
        return int(raw)
    parts = _PART.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"{what}: {text!r} is not a time span; write e.g. 7d, 3d12h, 90m, 4h30m or seconds")
    return int(round(sum(float(n) * _UNIT_S[u] for n, u in parts)))


def parse_down(text: str) -> tuple[str, int, int]:
    """CELL@TIME+DURATION, e.g. mech-cell-001@3d12h+4h."""
    match = re.fullmatch(r"([^@]+)@([^+]+)\+(.+)", text.strip())
    if not match:
        raise ValueError(f"--down: {text!r} is not CELL@TIME+DURATION (e.g. mech-cell-001@3d12h+4h)")
    return match.group(1), parse_span(match.group(2), "--down TIME"), parse_span(match.group(3), "--down DURATION")


def plan_floor(spec_path: str | None, horizon_s: int, demand_hours: float, *, time_limit: float, workers: int, seed: int, progress=None, from_empty: bool = False,
               cluster: str | None = None) -> dict[str, Any]:
    """Load, build, plan, bound: the summary dict plus the problem and schedule (keys 'problem',
    'schedule') for writing files. By default the horizon opens on a running floor (the work in
    progress a warm-up leaves, see scheduler/steady.py); `from_empty` plans it from an empty one."""
    from plant import load_spec
    from plant.spec import deployable_gw
    from scheduler.delivery import finished_jobs, mw_by_category
    from scheduler.planning import Limits
    from scheduler.result import gap
    from scheduler.steady import plan_horizon

    began = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    spec = load_spec(spec_path)
    mode = "from-empty" if from_empty else "steady-state"
    if not from_empty:
        report(0.0, "warm-up: filling the pipeline")
    carried, problem, result = plan_horizon(spec, horizon_s, demand_hours, mode, "mw", Limits(time_limit, workers, seed, cluster),
                                            record={"spec": spec_path}, progress=progress)
    schedule, bound = result.schedule, result.capacity
    delivered = mw_by_category(problem, schedule)
    finished = finished_jobs(problem, schedule)
    for cat in bound.mw_by_category:
        delivered.setdefault(cat, 0.0)
    warmup_s = carried.cut if carried is not None else 0
    summary = {
        "spec": spec.name,
        "mode": mode,
        "horizon_s": horizon_s,
        "demand_hours": demand_hours,
        "warmup_h": round(warmup_s / 3600, 2),
        "carried_jobs": len(carried.carried_jobs) if carried is not None else 0,
        "carried_operations": carried.carried_operations if carried is not None else 0,
        "running_operations": len(carried.pinned) if carried is not None else 0,
        # How much of the horizon's output is work carried in, and how much is left open at its
        # end: in a steady state the floor hands on about as much as it was given.
        "carried_mw_delivered": round(sum(problem.jobs[j].mw for j in finished & set(carried.carried_jobs)), 3) if carried is not None else 0.0,
        "open_jobs_at_end": len(problem.jobs) - len(finished),
        "status": schedule.status,
        "operations": problem.n_operations,
        "cells": len(problem.cells),
        "mw_by_category": {k: round(v, 3) + 0.0 for k, v in delivered.items()},
        "bound_mw_by_category": {k: round(v, 3) + 0.0 for k, v in bound.mw_by_category.items()},
        "bound_mw": round(result.bound, 3) + 0.0,
        "gap_to_bound": _rounded(result.gap),
        "gap_by_category": {k: _rounded(gap("mw", delivered[k], b)) for k, b in bound.mw_by_category.items()},
        "deployable_gw": round(deployable_gw(delivered, spec.target), 4) + 0.0,
        "bound_deployable_gw": round(bound.deployable_gw, 4) + 0.0,
        "bottleneck": bound.bottleneck,
        "busiest_pool": bound.busiest_pool,
        "makespan_h": round(schedule.makespan / 3600, 2),
        "method": result.method,
        "seconds": round(time.perf_counter() - began, 2),
    }
    return {**summary, "problem": problem, "schedule": schedule}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6) + 0.0  # + 0.0: no -0.0 in JSON


def write_outputs(out_dir: Path, problem, schedule) -> dict[str, str]:
    from gwf.gantt import write_gantt

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": out_dir / "schedule.json", "csv": out_dir / "schedule.csv", "gantt": out_dir / "gantt.html"}
    schedule.to_json(files["json"])
    schedule.to_csv(files["csv"])
    write_gantt(problem, schedule, files["gantt"])
    return {k: str(v) for k, v in files.items()}


def repair_plan(plan_path: Path, spec_path: str | None, downs: list[str], now_text: str | None) -> dict[str, Any]:
    from plant import load_spec
    from scheduler.repair import Downtime, repair
    from scheduler.schedule import Schedule
    from scheduler.steady import recorded_problem

    plan = Schedule.from_json(plan_path)
    recorded = plan.kpis or {}
    spec = load_spec(spec_path if spec_path is not None else recorded.get("spec"))
    horizon_s = int(recorded.get("horizon_s", plan.horizon))
    demand_hours = float(recorded.get("demand_hours", horizon_s / 3600))
    # Plans written before modes existed were all made from an empty floor.
    problem = recorded_problem(spec, {"mode": "from-empty", **recorded, "horizon_s": horizon_s, "demand_hours": demand_hours})
    down = [Downtime(*parse_down(d)) for d in downs]
    now = parse_span(now_text, "--now") if now_text is not None else min(d.start for d in down)
    result = repair(problem, plan, down, now)
    return {
        "moved": result.moved,
        "unstarted": result.unstarted,
        "moved_share": round(result.moved / result.unstarted, 6) if result.unstarted else 0.0,
        "seconds": round(result.seconds, 3),
        "now_s": now,
        "schedule": result.schedule,
        "problem": result.problem,
    }


def register(app: typer.Typer) -> None:
    @app.command("schedule")
    def schedule_command(
        spec: str | None = typer.Argument(None, help="factory spec (YAML/JSON); the default 1 GW catalog when omitted"),
        horizon: str = typer.Option("7d", "--horizon", help="planning horizon, e.g. 7d, 8h, 3d12h"),
        demand_hours: float | None = typer.Option(None, "--demand-hours", help="hours of weekly demand to plan (default: the horizon)"),
        time_limit: float = typer.Option(60.0, "--time-limit", help="seconds for planning"),
        workers: int = typer.Option(2, "--workers", help="CP-SAT search workers"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        out_dir: Path = typer.Option(Path("out"), "--out-dir", help="where schedule.json, schedule.csv and gantt.html go"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
        repair_from: Path | None = typer.Option(None, "--repair", help="a plan (schedule.json) to repair instead of planning"),
        down: list[str] = typer.Option([], "--down", help="CELL@TIME+DURATION a cell is down, e.g. mech-cell-001@3d12h+4h (repeatable)"),
        now: str | None = typer.Option(None, "--now", help="time of the repair; operations started before it stay (default: first downtime)"),
        from_empty: bool = typer.Option(False, "--from-empty", help="plan from an empty floor (pipeline fill included) instead of a running one"),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler (tcp://host:8786) for independent search tasks"),
    ) -> None:
        """Plan the floor and compare it with the capacity bound; or repair a plan after downtime."""
        if repair_from is not None:
            if not down:
                raise ValueError("--repair needs at least one --down CELL@TIME+DURATION")
            if from_empty:
                raise ValueError("--from-empty: a repair keeps the mode its plan was made in")
            result = repair_plan(repair_from, spec, down, now)
            files = write_outputs(out_dir, result.pop("problem"), result.pop("schedule"))
            _emit({**result, "files": files}, as_json, "Repair")
            return
        if down or now is not None:
            raise ValueError("--down and --now only apply with --repair PLAN.json")
        horizon_s = parse_span(horizon, "--horizon")
        if horizon_s <= 0:
            raise ValueError("--horizon: must be longer than 0")
        hours = demand_hours if demand_hours is not None else horizon_s / 3600
        if hours <= 0:
            raise ValueError(f"--demand-hours: must be > 0, got {hours}")
        with _progress(not as_json) as progress:
            result = plan_floor(spec, horizon_s, hours, time_limit=time_limit, workers=workers, seed=seed, progress=progress, from_empty=from_empty, cluster=cluster)
        files = write_outputs(out_dir, result.pop("problem"), result.pop("schedule"))
        _emit({**result, "files": files}, as_json, "Plan")


class _progress:
    """A rich progress bar on stderr (stdout stays free for --json); a no-op when hidden."""

    def __init__(self, visible: bool) -> None:
        self.visible = visible
        self.bar = None

    def __enter__(self):
        if not self.visible:
            return lambda fraction, message: None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("planning", total=1.0)
        return lambda fraction, message: self.bar.update(task, completed=fraction, description=message)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _emit(summary: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(summary))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v:,.2f}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items())
        table.add_row(key, str(value))
    Console().print(table)
