"""Two plans side by side: what B delivers, how late it is, which operations it moved and how
busy it keeps each pool, against A. Every figure is B − A, so a plan against itself is zeros."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plant.spec import deployable_gw
from scheduler.delivery import mw_by_category
from gwf.plans.loaded import LoadedPlan
from gwf.plans.units import unit_statuses


def plan_figures(plan: LoadedPlan) -> dict[str, Any]:
    """The figures compared, for one plan."""
    problem, schedule = plan.problem, plan.schedule
    mw = mw_by_category(problem, schedule)
    statuses = unit_statuses(problem, schedule)
    late = [u for u in statuses if not u.is_open(problem.horizon) and u.lateness_s > 0]
    horizon = max(problem.horizon, 1)
    busy: dict[str, float] = {p.name: 0.0 for p in problem.pools}
    slots: dict[str, float] = {p.name: 0.0 for p in problem.pools}
    pool_of_cell = {c.id: problem.pools[c.pool].name for c in problem.cells}
    for c in problem.cells:
        slots[problem.pools[c.pool].name] += c.capacity
    for a in schedule.assignments:
        # Only the part inside the horizon: the plan is judged on its own week.
        busy[pool_of_cell[a.cell]] += max(0, min(a.end, horizon) - max(a.start, 0))
    return {
        "mw_by_category": {k: float(v) for k, v in mw.items()},
        "deployable_gw": float(deployable_gw(mw, plan.spec.target)),
        "units_late": len(late),
        "lateness_h_total": sum(u.lateness_s for u in late) / 3600,
        "lateness_h_max": max((u.lateness_s for u in late), default=0) / 3600,
        "units_open": sum(1 for u in statuses if u.is_open(problem.horizon)),
        "operations": len(schedule.assignments),
        "utilisation": {p: busy[p] / (slots[p] * horizon) if slots[p] else 0.0 for p in busy},
    }


@dataclass
class Comparison:
    a: dict[str, Any]
    b: dict[str, Any]
    moved: dict[str, int]

    @property
    def delta(self) -> dict[str, Any]:
        def diff(x: Any, y: Any) -> Any:
            if isinstance(x, dict) or isinstance(y, dict):
                x, y = x or {}, y or {}
                return {k: diff(x.get(k, 0), y.get(k, 0)) for k in sorted(set(x) | set(y))}
            return (y or 0) - (x or 0)

        return {k: diff(self.a[k], self.b[k]) for k in self.a} | {"operations_moved": self.moved}

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "delta": self.delta}


def operations_moved(a: LoadedPlan, b: LoadedPlan) -> dict[str, int]:
    """Operations (unit, operation) that changed cell, changed start, or are in one plan only."""
    in_a = {(x.job, x.op): x for x in a.schedule.assignments}
    in_b = {(x.job, x.op): x for x in b.schedule.assignments}
    both = in_a.keys() & in_b.keys()
    other_cell = sum(1 for k in both if in_a[k].cell != in_b[k].cell)
    retimed = sum(1 for k in both if in_a[k].cell == in_b[k].cell and in_a[k].start != in_b[k].start)
    only_a, only_b = len(in_a.keys() - both), len(in_b.keys() - both)
    return {"total": other_cell + retimed + only_a + only_b, "other_cell": other_cell, "retimed": retimed,
            "only_in_a": only_a, "only_in_b": only_b}


def compare(a: LoadedPlan, b: LoadedPlan) -> Comparison:
    return Comparison(plan_figures(a), plan_figures(b), operations_moved(a, b))
