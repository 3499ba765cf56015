"""The textbook CP-SAT flexible job-shop model, kept as the baseline our model is measured against.

One start/end per operation, one optional interval per eligible cell with exactly one chosen,
NoOverlap per cell, routing precedence, makespan = max of job ends. No warm start, no bounds,
no pooling of identical cells, no tightened domains: what a competent first attempt looks like.
Only for makespan on single-job cells without setups (the FJSPLIB case)."""
from __future__ import annotations

import time

from ortools.sat.python import cp_model

from scheduler.cpsat.solve import status_name
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import validate


def solve_reference(problem: Problem, *, time_limit: float = 10.0, workers: int = 2, seed: int = 0) -> Schedule:
    began = time.perf_counter()
    for cell in problem.cells:
        if cell.capacity != 1 or cell.setup:
            raise ValueError(f"cells[{cell.id}]: the reference model handles single-job cells without setups only")
    horizon = sum(max(d for _, d in t.modes) for t in problem.tasks) + max([j.release for j in problem.jobs] + [t.release for t in problem.tasks])
    horizon += sum(e - s for c in problem.cells for s, e in c.unavailable)
    model = cp_model.CpModel()
    starts, ends, choices = [], [], []
    per_cell: list[list[cp_model.IntervalVar]] = [[] for _ in problem.cells]
    for t, task in enumerate(problem.tasks):
        release = max(task.release, problem.jobs[task.job].release)
        start = model.new_int_var(release, horizon, f"s{t}")
        end = model.new_int_var(release, horizon, f"e{t}")
        options = []
        for cell, duration in problem.cells_for(task):
            lit = model.new_bool_var(f"x{t}_{cell}")
            per_cell[cell].append(model.new_optional_interval_var(start, duration, end, lit, f"i{t}_{cell}"))
            options.append((cell, lit))
        model.add_exactly_one(lit for _, lit in options)
        starts.append(start)
        ends.append(end)
        choices.append(options)
    for t, task in enumerate(problem.tasks):
        for p in task.predecessors:
            model.add(ends[p] <= starts[t])
    for c, cell in enumerate(problem.cells):
        down = [model.new_fixed_size_interval_var(s, e - s, f"down{c}_{s}") for s, e in cell.unavailable if e > s]
        model.add_no_overlap(per_cell[c] + down)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, ends)
    model.minimize(makespan)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    code = solver.solve(model)
    assignments = []
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for t, task in enumerate(problem.tasks):
            cell = next(c for c, lit in choices[t] if solver.boolean_value(lit))
            assignments.append(Assignment(problem.jobs[task.job].id, task.op, problem.cells[cell].id, solver.value(starts[t]), solver.value(ends[t])))
    schedule = Schedule(assignments, horizon, status_name(code), "makespan", name=f"{problem.name}/reference")
    if assignments:
        validate(problem, schedule)
    schedule.value = float(schedule.makespan)
    schedule.bound = solver.best_objective_bound if code != cp_model.INFEASIBLE else 0.0
    schedule.seconds = time.perf_counter() - began
    schedule.kpis = {"solver_bound": schedule.bound, "gap": schedule.gap}
    return schedule
