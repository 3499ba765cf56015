"""The capacity bound: the most MW per category a floor can possibly finish within a horizon.

Two limits meet in one small LP. Pipeline: a unit counts only if it can finish before the
horizon even with the floor to itself, so its release plus its calendar-aware critical path
(maintenance windows on every eligible cell push it) must fit. Capacity: the work all counted
units bring to each pool (flexible operations split freely between eligible pools) must fit
in that pool's cell time: lanes x the span in which the pool can be useful at all, minus
windows, times the cells' availability MTTF / (MTTF + MTTR) when `availability` is on.
Products compete for shared pools, so the LP (HiGHS via scipy) decides the mix.

With `availability=False` the result is a true upper bound on any valid Schedule of the same
orders (setups are not charged: a plan could keep families apart). With `availability=True`
it is what the real floor can expect at best, the bound the twin should be compared with.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from plant.demand import Order, orders_for
from plant.spec import FactorySpec
from scheduler.calendars import CellCalendar
from scheduler.bounds import heads_and_tails, topological_order
from scheduler.problem import Problem, build_problem


@dataclass
class CapacityBound:
    mw_by_category: dict[str, float]  # each category's own maximum (others free)
    deployable_gw: float  # the best balanced mix: facility GW the scarcest category allows
    bottleneck: str  # the pool (or "pipeline: product") with the highest shadow price in the balanced mix
    utilisation_by_pool: dict[str, float]  # busy share of each pool's usable time in the balanced mix
    units_in_reach: dict[str, int] = field(default_factory=dict)  # units per product that can finish in time
    shadow_price_by_pool: dict[str, float] = field(default_factory=dict)  # deployable GW per extra cell-hour
    busiest_pool: str = ""  # highest utilisation in the balanced mix (the next bottleneck when the pipeline binds)


def capacity_bound(spec: FactorySpec, horizon_s: int, orders: list[Order] | None = None, availability: bool = True) -> CapacityBound:
    orders = orders if orders is not None else orders_for(spec, horizon_s / 3600)
    problem = build_problem(spec, orders, int(horizon_s))
    factor = {t.name: (t.availability if availability else 1.0) for t in spec.cell_types}
    return problem_capacity_bound(problem, {p.name: factor.get(p.name, 1.0) for p in problem.pools}, spec)


def problem_capacity_bound(problem: Problem, pool_availability: dict[str, float] | None = None, spec: FactorySpec | None = None) -> CapacityBound:
    """The bound on any Problem whose jobs carry a product, category and MW. The LP groups jobs
    that share a product and a list of operations; a group's work per unit is the least any of
    its jobs needs (jobs carried in from a previous plan have partly run operations), which
    keeps the bound valid and the LP small."""
    horizon = problem.horizon
    calendars = [CellCalendar(c.unavailable) for c in problem.cells]
    finish = earliest_finish(problem, calendars)
    groups = _routing_groups(problem)
    products = list(groups)
    in_reach = {name: sum(1 for j in jobs if problem.jobs[j].tasks and finish[j] <= horizon) for name, jobs in groups.items()}
    units_in_reach: dict[str, int] = defaultdict(int)
    for name, jobs in groups.items():
        units_in_reach[problem.jobs[jobs[0]].product or problem.jobs[jobs[0]].id] += in_reach[name]
    sample = {name: jobs[0] for name, jobs in groups.items()}
    span = _useful_span(problem, finish)

    # Variables: x[group] units, then y[(group, op, pool)] units of that op done on that pool.
    columns: list[tuple[int, int, int, int]] = []  # (group, position in routing, pool, seconds)
    for k, name in enumerate(products):
        for position, work in enumerate(_least_work(problem, groups[name])):
            for pool, seconds in work.items():
                columns.append((k, position, pool, seconds))
    n_x = len(products)
    n = n_x + len(columns)
    eq_index: dict[tuple[int, int], int] = {}
    eq_rows, eq_rhs = [], []
    for c, (k, position, _, _) in enumerate(columns):
        if (k, position) not in eq_index:
            eq_index[(k, position)] = len(eq_rows)
            row = np.zeros(n)
            row[k] = -1.0
            eq_rows.append(row)
            eq_rhs.append(0.0)
        eq_rows[eq_index[(k, position)]][n_x + c] = 1.0
    pool_rows, pool_rhs, pool_names = [], [], []
    for p, pool in enumerate(problem.pools):
        row = np.zeros(n)
        for c, (_, _, tp, seconds) in enumerate(columns):
            if tp == p:
                row[n_x + c] = seconds
        if not row.any():
            continue
        lo, hi = span.get(p, (0, 0))
        avail = (pool_availability or {}).get(pool.name, 1.0)
        cell_time = sum(max(1, problem.cells[c].capacity) * max(0, hi - lo - calendars[c].down_time(lo, hi)) for c in pool.cells)
        pool_rows.append(row)
        pool_rhs.append(cell_time * avail)
        pool_names.append(pool.name)
    bounds = [(0, in_reach.get(prod, 0)) for prod in products] + [(0, None)] * len(columns)
    mw = np.zeros(n)
    category_of = {prod: problem.jobs[sample[prod]].category for prod in products}
    for k, prod in enumerate(products):
        mw[k] = problem.jobs[sample[prod]].mw
    categories = sorted({c for c in category_of.values() if c})
    if spec is not None:
        categories = sorted(set(categories) | set(spec.target.mw))

    def solve(objective: np.ndarray, extra_ub: list[np.ndarray] = (), extra_rhs: list[float] = (), extra_bounds: list = ()):
        a_ub = np.array(pool_rows + list(extra_ub)) if pool_rows or extra_ub else None
        b_ub = np.array(pool_rhs + list(extra_rhs)) if pool_rows or extra_ub else None
        res = linprog(-objective, A_ub=a_ub, b_ub=b_ub, A_eq=np.array(eq_rows) if eq_rows else None,
                      b_eq=np.array(eq_rhs) if eq_rows else None, bounds=bounds + list(extra_bounds), method="highs")
        if res.status != 0:
            raise RuntimeError(f"capacity LP failed: {res.message}")
        return res

    mw_by_category: dict[str, float] = {}
    for cat in categories:
        objective = np.array([mw[k] if category_of[p] == cat else 0.0 for k, p in enumerate(products)] + [0.0] * len(columns))
        mw_by_category[cat] = float(-solve(objective).fun) if objective.any() else 0.0

    # The balanced mix: maximise z = the share of target every category reaches, one more column.
    target = dict(spec.target.mw) if spec is not None else {c: (mw_by_category[c] or 1.0) for c in categories}
    pool_rows = [np.append(r, 0.0) for r in pool_rows]
    eq_rows = [np.append(r, 0.0) for r in eq_rows]
    share_rows, share_rhs = [], []
    for cat, need in target.items():
        row = np.zeros(n + 1)
        for k, p in enumerate(products):
            if category_of[p] == cat:
                row[k] = -mw[k]
        row[n] = need
        share_rows.append(row)
        share_rhs.append(0.0)
    z_objective = np.zeros(n + 1)
    z_objective[n] = 1.0
    # With no category to balance (no jobs, no spec) the share is 0, not unbounded.
    res = solve(z_objective, share_rows, share_rhs, [(0, None if share_rows else 0)])
    share = float(res.x[n])
    # Prices come from the balanced LP; loads from the same mix pushed to the most total MW
    # (otherwise categories with slack sit at an arbitrary vertex).
    total = np.append(mw, 0.0)
    fill = solve(total, share_rows, share_rhs, [(share * (1 - 1e-9), None)])
    load = [float(row @ fill.x) for row in pool_rows]
    utilisation = {name: (used / cap if cap > 0 else 0.0) for name, used, cap in zip(pool_names, load, pool_rhs)}
    # Shadow prices: how much z would rise per extra second of a pool's time; the pipeline
    # (units in reach) shows up in the variable-bound marginals.
    prices = {name: -float(m) * 3600 for name, m in zip(pool_names, res.ineqlin.marginals[: len(pool_names)])}
    pipeline = {f"pipeline: {p}": -float(res.upper.marginals[k]) for k, p in enumerate(products)}
    candidates = {**{k: v * 1.0 for k, v in prices.items()}, **pipeline}
    bottleneck = max(candidates, key=lambda k: candidates[k]) if any(v > 1e-12 for v in candidates.values()) else "none"
    facility = spec.target.facility_gw if spec is not None else 1.0
    gw = facility * share if spec is not None else deployable_gw_of(mw_by_category, target)
    busiest = max(utilisation, key=lambda k: utilisation[k], default="")
    reach = {product: units for product, units in units_in_reach.items() if units}
    return CapacityBound(mw_by_category, gw, bottleneck, utilisation, reach, {k: v * facility for k, v in prices.items()}, busiest)


def _routing_groups(problem: Problem) -> dict[str, list[int]]:
    """Jobs by (product, operations left); a product's longest list keeps the product's name,
    shorter ones (units carried in part-built) are named after their first operation left."""
    by_key: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for j, job in enumerate(problem.jobs):
        by_key[(job.product or job.id, tuple(problem.tasks[t].op for t in job.tasks))].append(j)
    longest: dict[str, int] = {}
    for product, ops in by_key:
        longest[product] = max(longest.get(product, 0), len(ops))
    named: dict[str, list[int]] = {}
    for (product, ops), jobs in by_key.items():
        name = product if len(ops) == longest[product] else f"{product} from {ops[0] if ops else 'done'}"
        while name in named:
            name += "'"
        named[name] = jobs
    return named


def _least_work(problem: Problem, jobs: list[int]) -> list[dict[int, int]]:
    """Per operation of the group's routing, pool -> the fewest seconds any job of the group
    needs there (the first mode per pool counts, as in validate)."""
    work: list[dict[int, int]] = [{} for _ in problem.jobs[jobs[0]].tasks]
    for j in jobs:
        for position, t in enumerate(problem.jobs[j].tasks):
            for pool, seconds in dict(reversed(problem.tasks[t].modes)).items():
                work[position][pool] = min(seconds, work[position].get(pool, seconds))
    return work


def deployable_gw_of(mw_by_category: dict[str, float], target: dict[str, float]) -> float:
    return min((mw_by_category.get(c, 0.0) / need for c, need in target.items() if need > 0), default=0.0)


def earliest_finish(problem: Problem, calendars: list[CellCalendar]) -> list[int]:
    """Each job's earliest possible end with the whole floor to itself: precedence, releases
    and every eligible cell's windows, no competition and no setups."""
    # Cells of a pool often share one calendar; test each distinct calendar once.
    distinct: list[list[CellCalendar]] = []
    for pool in problem.pools:
        seen: dict[tuple, CellCalendar] = {}
        for c in pool.cells:
            seen.setdefault((tuple(calendars[c].starts), tuple(calendars[c].ends)), calendars[c])
        distinct.append(list(seen.values()))
    end = [0] * len(problem.tasks)
    for t in topological_order(problem):
        task = problem.tasks[t]
        ready = max([problem.jobs[task.job].release, task.release] + [end[p] for p in task.predecessors])
        end[t] = min(cal.earliest_fit(ready, d) + d for pool, d in task.modes for cal in distinct[pool])
    return [max((end[t] for t in job.tasks), default=0) for job in problem.jobs]


def _useful_span(problem: Problem, finish: list[int]) -> dict[int, tuple[int, int]]:
    """Per pool, the time span in which work of units that can finish may run on it: not before
    the earliest such work could reach it, not after the horizon minus the shortest tail."""
    precedence = heads_and_tails(problem)
    heads = precedence.head
    tails = [s + q for s, q in zip(precedence.shortest, precedence.tail)]
    span: dict[int, list[int]] = {}
    for t, task in enumerate(problem.tasks):
        if finish[task.job] > problem.horizon:
            continue
        for pool, d in task.modes:
            lo = heads[t]
            hi = problem.horizon - (tails[t] - min(dd for _, dd in task.modes))
            cur = span.setdefault(pool, [lo, hi])
            cur[0], cur[1] = min(cur[0], lo), max(cur[1], hi)
    return {p: (lo, min(hi, problem.horizon)) for p, (lo, hi) in span.items()}
