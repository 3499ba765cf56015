"""Turns the unfinished part of a previous plan into the opening state of the next horizon.

A running floor never starts empty: at the cut some units are half built. Their finished
operations are history and drop out. An operation running across the cut stays where it
runs: its remaining part becomes a task pinned to its cell from time 0, and the operations
after it wait for it as usual. The carried units join the next horizon's own jobs in one
Problem whose time 0 is the cut, and a carried unit's MW counts when it finishes inside that
horizon (scheduler.delivery reads the Problem, so nothing else changes).

To plan it, `plan_around` gives the planner only the free operations, with the pinned work as
cell unavailability and as releases of what follows it (`scheduler.subproblem`), then glues the
pinned work back: the plan validates against the whole problem and the Gantt shows the
running work.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from scheduler.delivery import delivered_mw
from scheduler.problem import Cell, Job, Problem, Task
from scheduler.schedule import Assignment, Schedule
from scheduler.subproblem import Placement, around, placements
from scheduler.validate import validate, violations

# Carried units keep their id with this mark, so they never clash with the next horizon's
# orders and `PRODUCT#N` still names their product.
CARRIED_MARK = "-wip"


@dataclass
class CarriedIn:
    problem: Problem  # the next horizon's jobs after the carried units; time 0 is the cut
    pinned: dict[int, Placement]  # task -> (cell, 0, end): the remaining part of running work
    carried_jobs: list[int]  # indices in `problem` of the carried units
    finished_before_cut: list[str]  # ids (in the previous plan) of units finished by the cut
    source: dict[str, str]  # carried job id -> its id in the previous plan
    cut: int  # the cut, in the previous plan's time

    @property
    def carried_operations(self) -> int:
        return sum(len(self.problem.jobs[j].tasks) for j in self.carried_jobs)


def carry_in(previous: Problem, plan: Schedule, cut: int, following: Problem) -> CarriedIn:
    """The units of `plan` (a plan of `previous`, complete or partial) not finished by `cut`,
    carried into `following` (the next horizon's problem on the same floor, its time 0 at
    `cut`). Operations ending by the cut are done; those running across it are pinned; the
    rest are open and keep their eligible cells, with releases moved into the new time."""
    if [(c.id, c.pool) for c in previous.cells] != [(c.id, c.pool) for c in following.cells] or [p.name for p in previous.pools] != [p.name for p in following.pools]:
        raise ValueError("following: not the same floor as the previous plan (its cells or pools differ)")
    placed = placements(previous, plan)
    cells = [replace(c, unavailable=list(c.unavailable)) for c in following.cells]
    _keep_changeovers_clear(placed, cut, cells)

    jobs: list[Job] = []
    tasks: list[Task] = []
    pinned: dict[int, Placement] = {}
    finished: list[str] = []
    source: dict[str, str] = {}
    taken = {job.id for job in following.jobs}
    for job in previous.jobs:
        done = {t for t in job.tasks if t in placed and placed[t][2] <= cut}
        if len(done) == len(job.tasks):
            finished.append(job.id)
            continue
        carried_id = job.id + CARRIED_MARK
        if carried_id in taken:
            raise ValueError(f"following.jobs: {carried_id!r} clashes with a carried unit's id; rename the orders")
        source[carried_id] = job.id
        carried = Job(carried_id, job.product, job.family, job.category, job.mw, max(0, job.release - cut),
                      None if job.due is None else job.due - cut, job.weight)
        local = {t: len(tasks) + k for k, t in enumerate(t for t in job.tasks if t not in done)}
        for t, index in local.items():
            task = previous.tasks[t]
            modes = task.modes
            if t in placed and placed[t][1] < cut:  # running across the cut: stays on its cell
                cell, _, end = placed[t]
                modes = [(cells[cell].pool, end - cut)]
                pinned[index] = (cell, 0, end - cut)
            carried.tasks.append(index)
            # Finished predecessors are history; a task's own release moves into the new time.
            tasks.append(Task(len(jobs), task.op, modes, [local[p] for p in task.predecessors if p in local], task.capability, max(0, task.release - cut)))
        jobs.append(carried)

    carried_jobs = list(range(len(jobs)))
    offset, job_offset = len(tasks), len(jobs)
    for job in following.jobs:
        jobs.append(replace(job, tasks=[t + offset for t in job.tasks]))
    for task in following.tasks:
        tasks.append(replace(task, job=task.job + job_offset, predecessors=[p + offset for p in task.predecessors]))
    pools = [replace(p, cells=list(p.cells)) for p in following.pools]
    problem = Problem(cells, pools, jobs, tasks, following.horizon, name=f"{following.name}+carried")
    running = Schedule([Assignment(jobs[tasks[t].job].id, tasks[t].op, cells[c].id, s, e) for t, (c, s, e) in pinned.items()], problem.horizon)
    broken = violations(problem, running, complete=False)
    if broken:
        # The previous plan ran work into a window of the next horizon it did not know of.
        raise ValueError(f"plan: work running across the cut clashes with the next horizon's cells ({broken[0]}); plan the previous period with the next horizon's cell windows")
    return CarriedIn(problem, pinned, carried_jobs, finished, source, cut)


def _keep_changeovers_clear(placed: dict[int, Placement], cut: int, cells: list[Cell]) -> None:
    """A single-job cell that finished work just before the cut may still owe the setup after
    it (the next unit could be of another family); the finished work is no longer in the
    problem, so keep the cell clear for that setup. Conservative: a same-family unit would
    not need it, at most one setup per cell."""
    last_end: dict[int, int] = {}
    running = {c for c, s, e in placed.values() if s < cut < e}
    for c, _, e in placed.values():
        if e <= cut:
            last_end[c] = max(last_end.get(c, 0), e)
    for c, end in last_end.items():
        cell = cells[c]
        if cell.capacity == 1 and cell.setup and c not in running and end + cell.setup > cut:
            cell.unavailable = sorted(cell.unavailable + [(0, end + cell.setup - cut)])


def plan_around(carried: CarriedIn, planner: Callable[[Problem], Schedule]) -> Schedule:
    """Plan every open operation with `planner` around the pinned running work; the returned
    plan covers every operation of `carried.problem` and has passed `validate` against it.
    (`scheduler.plan(problem, pinned=carried.pinned)` does the same with the front door.)"""
    began = time.perf_counter()
    problem = carried.problem
    parts: list[Schedule] = []

    def plan_open(open_problem: Problem) -> Schedule:
        parts.append(planner(open_problem))
        return parts[-1]

    assignments = around(problem, carried.pinned, plan_open)
    part = parts[0] if parts else Schedule([], problem.horizon, status="optimal", name=problem.name)
    schedule = Schedule(assignments, problem.horizon, part.status, part.objective, kpis=dict(part.kpis), name=part.name)
    schedule.value = delivered_mw(problem, schedule) if schedule.objective == "mw" else float(schedule.makespan)
    validate(problem, schedule)
    schedule.seconds = time.perf_counter() - began
    return schedule
