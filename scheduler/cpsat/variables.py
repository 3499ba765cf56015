"""The one place that creates CP-SAT variables for a Problem.

Per task: a start, an end and a presence literal (constant true except in the `mw` objective,
where a job that cannot finish by the horizon end may be left out). Per eligible pool (mode):
a literal and an optional interval of that pool's duration. Per cell only where a pool cannot
be treated as one resource:

* A pool of k identical cells (same capacity, same unavailability windows, no family setups to
  track) is modelled as ONE cumulative resource of capacity k x capacity; the cells are handed
  out after solving by interval colouring, which always succeeds on interval graphs. This removes
  the k! cell-permutation symmetry and k-1 literals per task; per-cell optional intervals are the
  fallback when cells differ or setups make the sequence on each cell matter.
* Every start is bounded below by the task's head (release plus shortest chain before it) and
  every end above by the upper bound minus its tail, so propagation starts from the bounds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduler.bounds import Bounds
from scheduler.problem import Problem

Literal = cp_model.IntVar | int


@dataclass
class CellChoice:
    task: int
    cell: int
    chosen: Literal
    interval: cp_model.IntervalVar


@dataclass
class ModeVars:
    """The task runs in pool `pool` for `duration` seconds when `chosen` is true."""

    pool: int
    duration: int
    chosen: Literal
    interval: cp_model.IntervalVar
    cells: list[CellChoice] = field(default_factory=list)  # empty when the pool is one cumulative resource


@dataclass
class TaskVars:
    start: cp_model.IntVar
    end: cp_model.IntVar
    present: Literal
    modes: list[ModeVars]


@dataclass
class Variables:
    tasks: list[TaskVars | None]  # None: task left out of the model (its job cannot finish in time)
    job_present: list[Literal]
    job_end: list[cp_model.IntVar | None]
    pooled: set[int]  # pools modelled as one cumulative resource
    upper: int  # latest end any task may have


def families_on_pool(problem: Problem) -> list[set[str]]:
    """The product families of the jobs that may use each pool."""
    out: list[set[str]] = [set() for _ in problem.pools]
    for task in problem.tasks:
        for pool, _ in task.modes:
            out[pool].add(problem.jobs[task.job].family)
    return out


def _instant_pools(problem: Problem) -> set[int]:
    """Pools some zero-second operation may use. A cumulative ignores such operations, but on a
    cell they may not sit inside another job, so colouring could fail: these keep per-cell choices."""
    return {pool for task in problem.tasks for pool, d in task.modes if d == 0}


def poolable(problem: Problem, pool: int, families: set[str], instant: set[int] = frozenset()) -> bool:
    """Can the pool's cells be treated as one resource of summed capacity?"""
    cells = [problem.cells[c] for c in problem.pools[pool].cells]
    if len(cells) < 2 or pool in instant:
        return False
    first = cells[0]
    identical = all(c.capacity == first.capacity and sorted(c.unavailable) == sorted(first.unavailable) for c in cells)
    setups_matter = any(c.setup > 0 and c.capacity == 1 for c in cells) and len(families) > 1
    return identical and not setups_matter


def create_variables(model: cp_model.CpModel, problem: Problem, bounds: Bounds, upper: int, optional_jobs: bool) -> Variables:
    """Variables for every task that can take part. With `optional_jobs`, each job gets a presence
    literal shared by all its tasks (a job counts only when complete); jobs whose shortest path
    already ends after `upper` are left out."""
    heads = bounds.heads
    families = families_on_pool(problem)
    instant = _instant_pools(problem)
    pooled = {p for p in range(len(problem.pools)) if poolable(problem, p, families[p], instant)}
    job_present: list[Literal] = []
    job_end: list[cp_model.IntVar | None] = []
    fits = [True] * len(problem.jobs)
    for t, task in enumerate(problem.tasks):
        if heads.head[t] + heads.shortest[t] + heads.tail[t] > upper:
            fits[task.job] = False
    for j, job in enumerate(problem.jobs):
        if optional_jobs:
            job_present.append(model.new_bool_var(f"present_{j}") if fits[j] and job.tasks else 0)
        else:
            job_present.append(1)
        job_end.append(model.new_int_var(0, upper, f"job_end_{j}") if not is_false(job_present[j]) and job.tasks else None)

    task_vars: list[TaskVars | None] = []
    for t, task in enumerate(problem.tasks):
        present = job_present[task.job]
        if is_false(present):
            task_vars.append(None)
            continue
        lo, hi = heads.head[t], upper - heads.tail[t]
        durations = [d for _, d in task.modes]
        start = model.new_int_var(lo, max(lo, hi - min(durations)), f"s{t}")
        end = model.new_int_var(lo + min(durations), max(lo + min(durations), hi), f"e{t}")
        modes = []
        single = len(task.modes) == 1
        for pool, duration in task.modes:
            chosen = present if single else model.new_bool_var(f"x{t}_{pool}")
            interval = _interval(model, start, duration, end, chosen, f"i{t}_{pool}")
            mode = ModeVars(pool, duration, chosen, interval)
            cells = problem.pools[pool].cells
            if len(cells) == 1:
                mode.cells = [CellChoice(t, cells[0], chosen, interval)]
            elif pool not in pooled:
                for c in cells:
                    lit = model.new_bool_var(f"y{t}_{c}")
                    mode.cells.append(CellChoice(t, c, lit, _interval(model, start, duration, end, lit, f"i{t}_c{c}")))
            modes.append(mode)
        task_vars.append(TaskVars(start, end, present, modes))
    return Variables(task_vars, job_present, job_end, pooled, upper)


def is_false(literal: Literal) -> bool:
    return isinstance(literal, int) and literal == 0


def _interval(model: cp_model.CpModel, start, duration: int, end, present: Literal, name: str) -> cp_model.IntervalVar:
    if isinstance(present, int):
        return model.new_interval_var(start, duration, end, name)
    return model.new_optional_interval_var(start, duration, end, present, name)
