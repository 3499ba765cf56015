"""solve(problem) -> Schedule: bounds, warm start, CP-SAT model, extraction, validation.

The returned schedule has always passed `scheduler.validate` (partial plans with complete=False
in the `mw` objective, where unfinished jobs are left out)."""
from __future__ import annotations

import heapq
import time
from collections import defaultdict

from ortools.sat.python import cp_model

from scheduler.bounds import Bounds, compute_bounds, objective_bound
from scheduler.cpsat.constraints import Constraints
from scheduler.cpsat.objective import MAXIMISED, ObjectiveVars, check_objective, objective_value, set_objective
from scheduler.cpsat.variables import Variables, create_variables
from scheduler.cpsat.warmstart import warm_start
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import validate, violations

_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.UNKNOWN: "unknown",
}


def solve(
    problem: Problem,
    *,
    objective: str = "makespan",
    time_limit: float = 10.0,
    workers: int = 2,
    seed: int = 0,
    hint: Schedule | None = None,
    log: bool = False,
    parameters: dict[str, object] | None = None,
) -> Schedule:
    """Best schedule CP-SAT finds within `time_limit` seconds, warm-started from `hint` (or from
    the list scheduler when none is given), with its bound and gap. `parameters` overrides
    CP-SAT parameters by name (for experiments; the defaults are the measured best)."""
    check_objective(objective)
    began = time.perf_counter()
    bounds = compute_bounds(problem)
    own_bound = objective_bound(problem, objective, bounds)
    complete = objective not in MAXIMISED
    hint, hint_note = _usable_hint(problem, hint, objective, complete, time_limit)
    upper = _upper_bound(problem, objective, hint)

    model = cp_model.CpModel()
    variables = create_variables(model, problem, bounds, upper, optional_jobs=not complete)
    constraints = Constraints(model, problem, variables)
    constraints.add_all()
    goal = set_objective(model, problem, variables, objective, bounds.makespan)
    if hint is not None:
        _add_hint(model, problem, variables, goal, hint)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.0, time_limit - (time.perf_counter() - began))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log
    for key, value in (parameters or {}).items():
        setattr(solver.parameters, key, value)
    code = solver.solve(model)
    if code == cp_model.MODEL_INVALID:
        raise RuntimeError(f"CP-SAT rejected the model: {model.validate()}")

    status = _STATUS[code]
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        schedule = Schedule(_extract(problem, variables, solver), upper, status, objective, name=problem.name)
        source = "cp-sat"
    elif hint is not None:  # the solver found nothing better in time: the warm start still stands
        schedule = Schedule(list(hint.assignments), upper, "feasible", objective, name=problem.name)
        source = "hint"
    else:
        schedule = Schedule([], upper, status, objective, name=problem.name)
        source = "none"
    if schedule.assignments:
        validate(problem, schedule, complete=complete)

    solver_bound = solver.best_objective_bound / goal.scale if code != cp_model.INFEASIBLE else None
    schedule.value = objective_value(problem, schedule, objective)
    schedule.bound = _combine_bounds(objective, own_bound, solver_bound)
    schedule.seconds = time.perf_counter() - began
    schedule.kpis = {
        "objective": objective,
        "lower_bound" if complete else "upper_bound": own_bound,
        "solver_bound": solver_bound,
        "path_bound": bounds.path,
        "load_bound": bounds.load,
        "gap": _gap(objective, schedule.value, schedule.bound),
        "source": source,
        "hint": hint_note,
        "hint_value": objective_value(problem, hint, objective) if hint is not None else None,
        "pooled_pools": len(variables.pooled),
        "setup_models": constraints.setup_models,
        "branches": solver.num_branches,
        "conflicts": solver.num_conflicts,
        "operations": problem.n_operations,
        "scheduled": len(schedule.assignments),
    }
    return schedule


def status_name(code: int) -> str:
    if code == cp_model.MODEL_INVALID:
        raise RuntimeError("CP-SAT rejected the model as invalid")
    return _STATUS[code]


def _gap(objective: str, value: float, bound: float) -> float:
    """Relative distance to the bound, >= 0 for both senses: (value-bound)/value when minimising,
    (bound-value)/bound when maximising."""
    if objective in MAXIMISED:
        return (bound - value) / bound if bound > 0 else 0.0
    return (value - bound) / value if value > 0 else 0.0


def _combine_bounds(objective: str, own: float, solver: float | None) -> float:
    if solver is None:
        return own
    return min(own, solver) if objective in MAXIMISED else max(own, solver)


def serial_upper_bound(problem: Problem) -> int:
    """A makespan no feasible plan needs to exceed: everything one after another after the last
    release, each waiting out every window and setup on the floor."""
    releases = max([j.release for j in problem.jobs] + [t.release for t in problem.tasks] + [0])
    work = sum(max(d for _, d in t.modes) for t in problem.tasks)
    setups = max((c.setup for c in problem.cells), default=0) * len(problem.tasks)
    windows = sum(e - s for c in problem.cells for s, e in c.unavailable)
    return releases + work + setups + windows


def _upper_bound(problem: Problem, objective: str, hint: Schedule | None) -> int:
    if objective in MAXIMISED:
        return problem.horizon
    if objective == "makespan" and hint is not None:
        return hint.makespan  # a plan this good exists, so nothing better ends later
    return max(problem.horizon, serial_upper_bound(problem), hint.makespan if hint else 0)


def _usable_hint(problem: Problem, hint: Schedule | None, objective: str, complete: bool, time_limit: float) -> tuple[Schedule | None, str]:
    """The given hint or the best list schedule, checked by the validator; for `mw`, trimmed to
    the jobs it completes by the horizon end."""
    note = "given"
    if hint is None:
        hint = warm_start(problem, objective, time_limit)
        note = f"list schedule ({hint.kpis.get('rule')})"
    if not complete:
        hint = _trim_to_horizon(problem, hint)
    found = violations(problem, hint, complete=complete)
    if found:
        return None, f"{note} rejected: {found[0]}"
    return hint, note


def _trim_to_horizon(problem: Problem, schedule: Schedule) -> Schedule:
    by_job: dict[str, list[Assignment]] = defaultdict(list)
    for a in schedule.assignments:
        by_job[a.job].append(a)
    keep = [
        a
        for job in problem.jobs
        if len(by_job[job.id]) == len(job.tasks) and all(a.end <= problem.horizon for a in by_job[job.id])
        for a in by_job[job.id]
    ]
    return Schedule(keep, problem.horizon, schedule.status, schedule.objective, name=schedule.name)


def _add_hint(model: cp_model.CpModel, problem: Problem, variables: Variables, goal: ObjectiveVars, hint: Schedule) -> None:
    task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    placed = {task_index[(a.job, a.op)]: a for a in hint.assignments}
    job_end: dict[int, int] = {}
    for t, tv in enumerate(variables.tasks):
        if tv is None:
            continue
        a = placed.get(t)
        if not isinstance(tv.present, int):
            model.add_hint(tv.present, a is not None)
        if a is None:
            for mode in tv.modes:
                _hint_literal(model, mode.chosen, False)
                for ch in mode.cells if len(mode.cells) > 1 else []:
                    _hint_literal(model, ch.chosen, False)
            continue
        cell = cell_index[a.cell]
        model.add_hint(tv.start, a.start)
        model.add_hint(tv.end, a.end)
        job = problem.tasks[t].job
        job_end[job] = max(job_end.get(job, 0), a.end)
        for mode in tv.modes:
            _hint_literal(model, mode.chosen, mode.pool == problem.cells[cell].pool)
            for ch in mode.cells if len(mode.cells) > 1 else []:  # a lone cell shares the mode's literal
                _hint_literal(model, ch.chosen, ch.cell == cell)
    for j, end in enumerate(variables.job_end):
        if end is not None and j in job_end:
            model.add_hint(end, job_end[j])
    if goal.makespan is not None:
        model.add_hint(goal.makespan, hint.makespan)


def _hint_literal(model: cp_model.CpModel, literal, value: bool) -> None:
    if not isinstance(literal, int):
        model.add_hint(literal, value)


def _extract(problem: Problem, variables: Variables, solver: cp_model.CpSolver) -> list[Assignment]:
    out: list[Assignment] = []
    pooled: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for t, tv in enumerate(variables.tasks):
        if tv is None or not _true(solver, tv.present):
            continue
        start, end = solver.value(tv.start), solver.value(tv.end)
        mode = next(m for m in tv.modes if _true(solver, m.chosen))
        if mode.cells:
            cell = next(ch.cell for ch in mode.cells if _true(solver, ch.chosen))
            out.append(_assignment(problem, t, cell, start, end))
        else:
            pooled[mode.pool].append((start, end, t))
    for pool, items in pooled.items():
        for t, cell, start, end in colour_pool(problem, pool, items):
            out.append(_assignment(problem, t, cell, start, end))
    return out


def _true(solver: cp_model.CpSolver, literal) -> bool:
    return bool(literal) if isinstance(literal, int) else solver.boolean_value(literal)


def _assignment(problem: Problem, t: int, cell: int, start: int, end: int) -> Assignment:
    task = problem.tasks[t]
    return Assignment(problem.jobs[task.job].id, task.op, problem.cells[cell].id, start, end)


def colour_pool(problem: Problem, pool: int, items: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Hand the pool's (start, end, task) items to its identical cells: in start order, each goes
    to a cell with a free slot. The pool-wide cumulative guarantees one exists (interval graphs
    are perfect), so this never fails on a solver result."""
    cells = problem.pools[pool].cells
    capacity = problem.cells[cells[0]].capacity
    running: list[list[int]] = [[] for _ in cells]  # per cell: min-heap of end times
    out = []
    for start, end, t in sorted(items):
        for k, ends in enumerate(running):
            while ends and ends[0] <= start:
                heapq.heappop(ends)
            if len(ends) < capacity:
                heapq.heappush(ends, end)
                out.append((t, cells[k], start, end))
                break
        else:
            raise RuntimeError(f"pool {problem.pools[pool].name}: more than its capacity at time {start}")
    return out
