"""`scheduler.plan(problem, objective, limits) -> Result`: the one front door for planning.

`gwf schedule`, the service, `gwf demo` and `gwf fjsp` all plan through here, so one plan gets
one bound and one gap wherever it is shown. The front door

1. computes the plan's bound once (`plan_bound`: the capacity LP for MW, path and load bounds
   for the makespan);
2. hands the open work to `scheduler.engine.search`, which routes by size once and stops when
   the plan meets its bound or stops improving; on a running floor the pinned running work is
   cut away first (`scheduler.subproblem.restrict`) and glued back after;
3. checks the plan with `scheduler.validate` and measures it against the tighter of its own
   bound and any bound CP-SAT proved on the whole problem;
4. returns an immutable `Result` (scheduler/result.py) whose schedule is built once, with the
   value, bound, gap and status it reports (the JSON the other commands read).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from scheduler.bounds import objective_bound
from scheduler.capacity import CapacityBound, problem_capacity_bound
from scheduler.distributed import Tasks
from scheduler.engine import Found, search, value_of
from scheduler.problem import Problem
from scheduler.result import Result, gap, meets, tighter
from scheduler.schedule import Schedule
from scheduler.subproblem import Placement, around
from scheduler.validate import validate

if TYPE_CHECKING:
    from plant.spec import FactorySpec

Progress = Callable[[float, str], None]
OBJECTIVES = ("mw", "makespan")


@dataclass(frozen=True)
class Limits:
    """How long and how wide the planner may search: wall seconds, CP-SAT workers, seed, and
    optionally a Dask cluster (address or object) for independent search tasks on large plans."""

    time_limit: float = 60.0
    workers: int = 2
    seed: int = 0
    cluster: str | object | None = None

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            raise ValueError(f"limits.time_limit: must be > 0 seconds, got {self.time_limit}")
        if self.workers < 1:
            raise ValueError(f"limits.workers: must be at least 1, got {self.workers}")


def plan_bound(problem: Problem, objective: str, capacity: CapacityBound | None = None) -> float:
    """The bound a plan of `problem` is measured against: for MW the capacity LP's total (each
    category's own maximum, summed: an upper bound on what any valid plan delivers), for the
    makespan the path and load lower bounds."""
    if objective == "mw":
        return sum((capacity or problem_capacity_bound(problem)).mw_by_category.values())
    return objective_bound(problem, objective)


def plan(
    problem: Problem,
    objective: str = "mw",
    limits: Limits = Limits(),
    *,
    pinned: Mapping[int, Placement] | None = None,
    spec: FactorySpec | None = None,
    record: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Result:
    """The best plan of `problem` within `limits`, validated and measured once.

    `pinned`: operations that already run (task index -> (cell index, start, end)), kept as
    they are; the rest is planned around them. `spec` gives the capacity bound its targets
    (deployable GW, categories without work); `record` is written into the plan's KPIs (what
    another command needs to rebuild the problem)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: {objective!r} is not one of {', '.join(OBJECTIVES)}")
    began = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    capacity = problem_capacity_bound(problem, None, spec) if objective == "mw" else None
    bound = plan_bound(problem, objective, capacity)
    fixed = dict(pinned or {})
    searched: list[Found] = []

    def plan_open(open_problem: Problem) -> Schedule:
        # The open work's own bound tells the search when to stop; with nothing pinned it is ours.
        own = bound if open_problem is problem else plan_bound(open_problem, objective)
        left = max(0.5, limits.time_limit - (time.perf_counter() - began))
        with Tasks(limits.cluster) as tasks:
            searched.append(search(open_problem, objective, own, time_limit=left, workers=limits.workers, seed=limits.seed, progress=report, tasks=tasks))
        return searched[-1].schedule

    assignments = around(problem, fixed, plan_open) if fixed else list(plan_open(problem).assignments)
    found = searched[0] if searched else Found(Schedule([], problem.horizon), "pinned", "heuristic", None)
    # CP-SAT's bound holds for the problem it saw: the whole one only when nothing was pinned.
    if not fixed:
        bound = tighter(objective, bound, found.solver_bound)
    draft = Schedule(assignments, problem.horizon, objective=objective, name=problem.name)
    validate(problem, draft)
    value = value_of(problem, draft, objective)
    status = "optimal" if meets(objective, value, bound) else ("feasible" if found.status == "optimal" else found.status)
    seconds = time.perf_counter() - began
    kpis = {**found.kpis, "method": found.method, "gap": gap(objective, value, bound), **(record or {})}
    schedule = Schedule(assignments, problem.horizon, status, objective, value, bound, seconds, kpis, problem.name)
    report(1.0, "done")
    return Result(schedule, objective, value, bound, status, found.method, seconds, capacity, MappingProxyType(dict(kpis)))
