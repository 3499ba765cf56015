"""A built CP-SAT model of a Problem and the two ways across its border: a Schedule in (as a
solution hint) and a Schedule out (from solver values, cells of pooled pools handed out)."""
from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.bounds import Bounds
from scheduler.cpsat.constraints import Constraints
from scheduler.cpsat.objective import MAXIMISED, ObjectiveVars, set_objective
from scheduler.cpsat.variables import Literal, Variables, create_variables
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule


@dataclass
class BuiltModel:
    problem: Problem
    model: cp_model.CpModel
    variables: Variables
    constraints: Constraints
    goal: ObjectiveVars

    def task_index(self) -> dict[tuple[str, str], int]:
        return {(self.problem.jobs[t.job].id, t.op): i for i, t in enumerate(self.problem.tasks)}


def build_model(problem: Problem, objective: str, bounds: Bounds, upper: int) -> BuiltModel:
    model = cp_model.CpModel()
    variables = create_variables(model, problem, bounds, upper, optional_jobs=objective in MAXIMISED)
    constraints = Constraints(model, problem, variables)
    constraints.add_all()
    goal = set_objective(model, problem, variables, objective, bounds.makespan)
    return BuiltModel(problem, model, variables, constraints, goal)


def add_hint(built: BuiltModel, model: cp_model.CpModel, hint: Schedule) -> None:
    """Hint every start, end, presence, pool and cell choice of `hint` into `model` (the built
    model or a clone of it: variables are shared by index)."""
    problem, variables = built.problem, built.variables
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    tasks_of = built.task_index()
    placed = {tasks_of[(a.job, a.op)]: a for a in hint.assignments}
    job_end: dict[int, int] = {}
    model.clear_hints()
    hinted: set[int] = set()  # a job's presence literal is shared by its tasks: CP-SAT rejects a variable hinted twice
    for t, tv in enumerate(variables.tasks):
        if tv is None:
            continue
        a = placed.get(t)
        _hint_literal(model, hinted, tv.present, a is not None)
        cell = cell_index[a.cell] if a is not None else -1
        if a is not None:
            model.add_hint(tv.start, a.start)
            model.add_hint(tv.end, a.end)
            job = problem.tasks[t].job
            job_end[job] = max(job_end.get(job, 0), a.end)
        for mode in tv.modes:
            _hint_literal(model, hinted, mode.chosen, a is not None and mode.pool == problem.cells[cell].pool)
            for ch in mode.cells:  # a lone cell shares the mode's literal: hinted once
                _hint_literal(model, hinted, ch.chosen, ch.cell == cell)
    for j, end in enumerate(variables.job_end):
        if end is not None and j in job_end:
            model.add_hint(end, job_end[j])
    if built.goal.makespan is not None:
        model.add_hint(built.goal.makespan, hint.makespan)


def _hint_literal(model: cp_model.CpModel, hinted: set[int], literal: Literal, value: bool) -> None:
    if not isinstance(literal, int) and literal.index not in hinted:
        hinted.add(literal.index)
        model.add_hint(literal, value)


def is_true(solver: cp_model.CpSolver, literal: Literal) -> bool:
    return bool(literal) if isinstance(literal, int) else solver.boolean_value(literal)


def extract(built: BuiltModel, solver: cp_model.CpSolver) -> list[Assignment]:
    """The solver's solution as assignments; pooled pools get their cells by interval colouring."""
    problem = built.problem
    out: list[Assignment] = []
    pooled: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for t, tv in enumerate(built.variables.tasks):
        if tv is None or not is_true(solver, tv.present):
            continue
        start, end = solver.value(tv.start), solver.value(tv.end)
        mode = next(m for m in tv.modes if is_true(solver, m.chosen))
        if mode.cells:
            cell = next(ch.cell for ch in mode.cells if is_true(solver, ch.chosen))
            out.append(_assignment(problem, t, cell, start, end))
        else:
            pooled[mode.pool].append((start, end, t))
    for pool, items in pooled.items():
        for t, cell, start, end in colour_pool(problem, pool, items):
            out.append(_assignment(problem, t, cell, start, end))
    return out


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
