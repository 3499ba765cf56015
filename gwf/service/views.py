"""What the API and dashboard show of a spec or a plan: summaries, filtered pages of
assignments, and per-pool utilisation over time. Plain functions over plain data."""
from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gwf.gantt import write_gantt
from gwf.service.store import StoredSchedule
from plant.spec import FactorySpec, deployable_gw
from scheduler.bounds import compute_bounds
from scheduler.capacity import problem_capacity_bound
from scheduler.delivery import mw_by_category
from scheduler.result import gap

WEEK_H = 7 * 24


def spec_summary(spec: FactorySpec) -> dict[str, Any]:
    """The factory at a glance: cells per type and what the weekly demand delivers against the target."""
    demand_mw = spec.demand_mw()
    return {
        "name": spec.name,
        "products": len(spec.products),
        "cells": len(spec.all_cells),
        "cells_per_type": {t.name: spec.cell_count(t.name) for t in spec.cell_types},
        "demand_mw": demand_mw,
        "target_mw": dict(spec.target.mw),
        "facility_gw": spec.target.facility_gw,
        "demand_deployable_gw": deployable_gw(demand_mw, spec.target),
        "operations_per_week": round(sum(units * len(spec.product_index[name].routing) for name, units in spec.demand.items())),
    }


def schedule_summary(stored: StoredSchedule, horizon_hours: float | None = None) -> dict[str, Any]:
    """KPIs of a stored plan, computed once and kept with it."""
    if stored.summary is None:
        stored.summary = _summarise(stored, horizon_hours)
    return stored.summary


def _summarise(stored: StoredSchedule, horizon_hours: float | None) -> dict[str, Any]:
    schedule = stored.schedule
    delivered = mw_by_category(stored.problem, schedule)
    hours = horizon_hours or schedule.horizon / 3600
    out: dict[str, Any] = {
        "id": stored.id, "name": schedule.name, "status": schedule.status, "objective": schedule.objective,
        "value": schedule.value, "seconds": schedule.seconds,
        "makespan_s": schedule.makespan, "horizon_s": schedule.horizon, "assignments": len(schedule.assignments),
        "jobs": len({a.job for a in schedule.assignments}), "cells_used": len({a.cell for a in schedule.assignments}),
        "created": stored.created, "kpis": jsonable(schedule.kpis),
        "delivered_mw": delivered, "deployable_gw": None, "weekly_rate_gw": None,
    }
    if delivered is not None and delivered:
        gw = deployable_gw(delivered, stored.spec.target)
        # A plan covers a slice of the week; its rate scaled to a week is what compares with the target.
        out.update(deployable_gw=gw, weekly_rate_gw=gw * WEEK_H / hours if hours > 0 else None,
                   weekly_rate_mw={c: mw * WEEK_H / hours for c, mw in delivered.items()} if hours > 0 else None)
    out["target_mw"] = dict(stored.spec.target.mw)  # per week, per category: MW of one kind never stands in for another
    out.update(_bound(stored))
    out["gap"] = gap(schedule.objective, schedule.value, out["bound"])
    return jsonable(out)


def _bound(stored: StoredSchedule) -> dict[str, Any]:
    """The bound the plan is measured against: the planner's own when it reported one, else
    the same kind of bound computed here (a plan carried across a running floor's cut loses
    its planner's bound), so the gap is never left blank for want of one. For MW, also each
    category's own maximum: MW of compute, cooling and power are not interchangeable."""
    schedule, problem = stored.schedule, stored.problem
    out: dict[str, Any] = {"bound": schedule.bound, "bound_source": "planner", "bound_mw": None}
    if schedule.objective == "mw" and problem.jobs:
        capacity = problem_capacity_bound(problem)
        out["bound_mw"] = dict(capacity.mw_by_category)
        if not schedule.bound > 0:
            out.update(bound=sum(capacity.mw_by_category.values()), bound_source="capacity LP (service)")
    elif schedule.objective == "makespan" and not schedule.bound > 0 and problem.tasks:
        out.update(bound=float(compute_bounds(problem).makespan), bound_source="path and load (service)")
    return out


def assignment_page(
    stored: StoredSchedule, *, cell: str | None = None, pool: str | None = None, job: str | None = None,
    start: int | None = None, end: int | None = None, offset: int = 0, limit: int = 1000,
) -> dict[str, Any]:
    """Assignments that match every given filter (time window: those overlapping [start, end)),
    sorted by start, one page of them."""
    pool_of = stored.pool_of_cell
    kept = [
        a for a in stored.by_start
        if (cell is None or a.cell == cell)
        and (pool is None or pool_of.get(a.cell) == pool)
        and (job is None or a.job == job)
        and (start is None or a.end > start)
        and (end is None or a.start < end)
    ]
    page = kept[offset: offset + limit]
    return {"total": len(kept), "offset": offset, "limit": limit, "assignments": [{**asdict(a), "pool": pool_of.get(a.cell)} for a in page]}


def utilisation(stored: StoredSchedule, buckets: int = 48) -> dict[str, Any]:
    """Per pool (cell type), the share of its capacity busy in each of `buckets` equal time
    slices of the plan: the overview a planner scans for bottlenecks and idle pools. A plan
    never changes, so each answer is kept with it (the dashboard asks for the same one often)."""
    return stored.remember(("utilisation", buckets), lambda: _utilisation(stored, buckets))


def _utilisation(stored: StoredSchedule, buckets: int) -> dict[str, Any]:
    spec, schedule = stored.spec, stored.schedule
    span = max(schedule.horizon, schedule.makespan, 1)
    width = span / buckets
    cells_of: dict[str, list[str]] = {t.name: [] for t in spec.cell_types}
    for cell in spec.all_cells:
        cells_of[cell.type].append(cell.id)
    busy = {name: [0.0] * buckets for name in cells_of}
    pool_of = stored.pool_of_cell
    for a in schedule.assignments:
        row = busy.get(pool_of.get(a.cell, ""))
        if row is None:
            continue
        first, last = int(a.start // width), min(buckets - 1, int(max(a.start, a.end - 1) // width))
        for b in range(first, last + 1):
            row[b] += max(0.0, min(a.end, (b + 1) * width) - max(a.start, b * width))
    pools = []
    for name, cells in cells_of.items():
        capacity = spec.cell_type_index[name].capacity * len(cells)
        shares = [min(1.0, s / (capacity * width)) if capacity else 0.0 for s in busy[name]]
        pools.append({"name": name, "cells": cells, "capacity": capacity, "per_cell": spec.cell_type_index[name].capacity,
                      "busy": shares, "mean": sum(shares) / buckets})
    return {"id": stored.id, "span_s": span, "bucket_s": width, "buckets": buckets, "pools": pools}


def gantt_html(stored: StoredSchedule) -> str:
    """The plan as the Gantt module's self-contained HTML page."""
    # The module writes files (what the CLI wants); a private temporary file turns that into text.
    with tempfile.TemporaryDirectory(prefix="gwf-gantt-") as folder:
        path = Path(folder) / "gantt.html"
        write_gantt(stored.problem, stored.schedule, path)
        return path.read_text(encoding="utf-8")


def jsonable(value: Any) -> Any:
    """KPIs as JSON: numbers that are not finite become None (JSON has no inf/NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
