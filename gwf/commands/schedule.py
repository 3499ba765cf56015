"""`gwf schedule`: plan a floor's week (or any horizon) and measure it against the capacity bound;
`gwf schedule --repair PLAN.json --down CELL@TIME+DURATION` re-plans after a cell goes down."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import typer

from gwf.options import resolve_spec, spec_alias_option, spec_argument

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
               cluster: str | None = None, availability: bool = False) -> dict[str, Any]:
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
                                            record={"spec": spec_path}, progress=progress, availability=availability)
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
    if availability:  # both planned figures: for the floor's real availability (above) and nominal
        from scheduler.availability import nominal_mw_by_category

        summary["availability"] = True
        summary["nominal_mw_by_category"] = {k: round(v, 3) + 0.0 for k, v in nominal_mw_by_category(spec, horizon_s, demand_hours, mode).items()}
    return {**summary, "problem": problem, "schedule": schedule}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6) + 0.0  # + 0.0: no -0.0 in JSON


def write_outputs(out_dir: Path, problem, schedule, start: str | None = None, stem: str = "schedule",
                  gantt_name: str = "gantt.html") -> dict[str, str]:
    """STEM.json, then CSV/XLSX with dates and the Gantt (gwf.plans.export): the plan records
    its wall-clock start (`kpis.start_at`) so every later reader shows the same dates."""
    from gwf.gantt import write_gantt
    from gwf.plans.export import write_plan_files
    from gwf.plans.loaded import LoadedPlan, plan_start
    from plant import load_spec

    out_dir.mkdir(parents=True, exist_ok=True)
    began = plan_start(schedule, start)
    schedule.kpis["start_at"] = began.isoformat()
    files = {"json": out_dir / f"{stem}.json", "gantt": out_dir / gantt_name}
    schedule.to_json(files["json"])
    spec = load_spec(schedule.kpis.get("spec"))
    written = write_plan_files(LoadedPlan(str(files["json"]), spec, problem, schedule, began), out_dir, stem=stem)
    write_gantt(problem, schedule, files["gantt"], began)
    return {**{k: str(v) for k, v in files.items()}, **written}


def repair_plan(plan_path: Path, spec_path: str | None, downs: list[str], now_text: str | None) -> dict[str, Any]:
    """Repair a saved plan after downtime and say what it cost against the original. Downtimes
    that cannot touch the plan (after its horizon, or over before `now`) become notices; with
    none left, nothing is repaired ('schedule' is None)."""
    from plant import load_spec
    from scheduler.repair import Downtime, repair
    from scheduler.repair_cost import outside_horizon, repair_cost, repaired_schedule
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
    outside = outside_horizon(down, horizon_s, now)
    notices = list(outside.values())
    effective = [d for k, d in enumerate(down) if k not in outside]
    if not effective:
        return {"notices": notices, "repaired": False, "now_s": now, "schedule": None, "problem": None}
    result = repair(problem, plan, effective, now)
    cost = repair_cost(spec, problem, plan, result)
    return {"notices": notices, "repaired": True, "now_s": now, "seconds": round(result.seconds, 3),
            "moved_share": round(result.moved / result.unstarted, 6) if result.unstarted else 0.0,
            **cost.summary(), "schedule": repaired_schedule(result, cost), "problem": result.problem}


def write_repair(plan_path: Path, out_dir: Path | None, problem, schedule, start: str | None = None) -> dict[str, str]:
    """The repaired plan beside the original (or in `out_dir`) as STEM.repaired.json/.csv/.xlsx/.html;
    never over the original."""
    folder = out_dir if out_dir is not None else plan_path.parent
    stem = f"{plan_path.stem}.repaired"
    if any((folder / f"{stem}{ext}").resolve() == plan_path.resolve() for ext in (".json", ".csv", ".xlsx", ".html")):
        raise ValueError(f"--out-dir: the repaired plan would overwrite {plan_path}; choose another folder")
    return write_outputs(folder, problem, schedule, start, stem=stem, gantt_name=f"{stem}.html")


def register(app: typer.Typer) -> None:
    @app.command("schedule")
    def schedule_command(
        spec: str | None = spec_argument(),
        spec_alias: str | None = spec_alias_option(),
        horizon: str = typer.Option("7d", "--horizon", help="planning horizon, e.g. 7d, 8h, 3d12h"),
        demand_hours: float | None = typer.Option(None, "--demand-hours", help="hours of weekly demand to plan (default: the horizon)"),
        time_limit: float = typer.Option(60.0, "--time-limit", help="seconds for planning"),
        workers: int = typer.Option(2, "--workers", help="CP-SAT search workers"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        out_dir: Path | None = typer.Option(None, "--out-dir", help="where schedule.json, .csv, .xlsx and gantt.html go (default: out/; with --repair: beside the plan)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
        repair_from: Path | None = typer.Option(None, "--repair", help="a plan (schedule.json) to repair instead of planning"),
        down: list[str] = typer.Option([], "--down", help="CELL@TIME+DURATION a cell is down, e.g. mech-cell-001@3d12h+4h (repeatable)"),
        now: str | None = typer.Option(None, "--now", help="time of the repair; operations started before it stay (default: first downtime)"),
        from_empty: bool = typer.Option(False, "--from-empty", help="plan from an empty floor (pipeline fill included) instead of a running one"),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler (tcp://host:8786) for independent search tasks"),
        availability: bool = typer.Option(False, "--availability", help="plan at durations derated for the cells' MTTF/MTTR (a promise the floor can keep; also reports the nominal figure)"),
        start: str | None = typer.Option(None, "--start", help="wall-clock time of the plan's start, ISO-8601 with zone, for the CSV/XLSX/Gantt dates (default: next Monday 00:00 UTC; a repair keeps its plan's)"),
    ) -> None:
        """Plan the floor and compare it with the capacity bound; or repair a plan after downtime."""
        spec = resolve_spec(spec, spec_alias)
        if repair_from is not None:
            if not down:
                raise ValueError("--repair needs at least one --down CELL@TIME+DURATION")
            if from_empty:
                raise ValueError("--from-empty: a repair keeps the mode its plan was made in")
            result = repair_plan(repair_from, spec, down, now)
            for notice in result["notices"]:
                typer.echo(f"gwf: notice: {notice}", err=True)
            problem, repaired = result.pop("problem"), result.pop("schedule")
            files = write_repair(repair_from, out_dir, problem, repaired, start) if repaired is not None else {}
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
        from gwf.progress import fraction_bar

        with fraction_bar("planning") as progress:  # stderr, also with --json and when piped
            result = plan_floor(spec, horizon_s, hours, time_limit=time_limit, workers=workers, seed=seed, progress=progress, from_empty=from_empty,
                                availability=availability, cluster=cluster)
        files = write_outputs(out_dir if out_dir is not None else Path("out"), result.pop("problem"), result.pop("schedule"), start)
        _emit({**result, "files": files}, as_json, "Plan")


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
