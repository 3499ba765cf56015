"""Forward-backward improvement of a makespan plan: dispatch the mirrored problem (every
precedence reversed) in the order the current plan finishes work, mirror the result back, then
dispatch forward again in the order that plan starts work. Each pass re-packs the plan from
the other end and keeps whatever is shorter (Li and Willis 1992; Valls et al. 2005 call it
justification). A pass costs two dispatches, so it works at 100k operations where CP-SAT
cannot, and it reaches idle time in the middle of the plan that tail neighbourhoods do not.

A mirrored plan is valid only when time has no direction in the problem: no releases and no
unavailability windows (setups between families are symmetric, so they may stay).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from scheduler.construct import list_schedule
from scheduler.problem import Problem, Task
from scheduler.schedule import Assignment, Schedule


def mirrorable(problem: Problem) -> bool:
    return (
        all(job.release == 0 for job in problem.jobs)
        and all(task.release == 0 for task in problem.tasks)
        and not any(cell.unavailable for cell in problem.cells)
    )


def reversed_problem(problem: Problem) -> Problem:
    successors: list[list[int]] = [[] for _ in problem.tasks]
    for t, task in enumerate(problem.tasks):
        for p in task.predecessors:
            successors[p].append(t)
    tasks = [Task(t.job, t.op, t.modes, successors[i], t.capability) for i, t in enumerate(problem.tasks)]
    return Problem(problem.cells, problem.pools, problem.jobs, tasks, problem.horizon, f"{problem.name}/mirrored")


def mirrored(schedule: Schedule) -> Schedule:
    """The plan played backwards from its makespan."""
    end = schedule.makespan
    return Schedule([Assignment(a.job, a.op, a.cell, end - a.end, end - a.start) for a in schedule.assignments], schedule.horizon, name=schedule.name)


def forward_backward(problem: Problem, schedule: Schedule, deadline: float, patience: int = 3,
                     builds: Sequence[Callable[[Problem, list[float]], Schedule]] = ()) -> Schedule:
    """Best plan over forward-backward passes until `deadline` or `patience` passes in a row
    bring nothing; the input when the problem is not mirrorable. Each `build(problem, priority)`
    makes a pass of its own from the same plan and the shortest result goes on (default: the
    dispatcher with that priority)."""
    if not mirrorable(problem):
        return schedule
    builds = list(builds) or [lambda p, priority: list_schedule(p, objective="makespan", priority=priority)]
    backward = reversed_problem(problem)
    index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
    best = current = schedule
    stale = passes = 0
    last_pass = 0.0
    while stale < patience and time.perf_counter() + last_pass < deadline:
        began = time.perf_counter()
        makespan = current.makespan
        finish_order = [0] * len(problem.tasks)
        for a in current.assignments:
            finish_order[index[(a.job, a.op)]] = makespan - a.end  # latest-finishing first when mirrored
        made = []
        for build in builds:
            back = mirrored(build(backward, finish_order))
            start_order = [0] * len(problem.tasks)
            for a in back.assignments:
                start_order[index[(a.job, a.op)]] = a.start
            made += [back, build(problem, start_order)]
        current = min(made, key=lambda s: s.makespan)
        passes += 1
        if current.makespan < best.makespan:
            best, stale = current, 0
        else:
            stale += 1
        last_pass = time.perf_counter() - began
    best.value = float(best.makespan)
    best.status = "heuristic"
    best.kpis = {**schedule.kpis, "forward_backward_passes": passes}
    return best
