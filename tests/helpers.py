"""Test scaffolding: a serial schedule (one operation at a time, trivially valid) for small problems."""
from __future__ import annotations

from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule


def serial_schedule(problem: Problem) -> Schedule:
    """Every task alone on the floor, in job order: slow but valid by construction (no
    overlaps, no setups needed beyond the gap we leave, precedences in routing order)."""
    clock = 0
    out = []
    for job in problem.jobs:
        clock = max(clock, job.release)
        done: set[int] = set()
        pending = list(job.tasks)
        while pending:
            t = next(t for t in pending if all(p in done for p in problem.tasks[t].predecessors))
            pending.remove(t)
            task = problem.tasks[t]
            pool, duration = task.modes[0]
            cell = problem.cells[problem.pools[pool].cells[0]]
            clock = max(clock, task.release)
            out.append(Assignment(job.id, task.op, cell.id, clock, clock + duration))
            clock += duration + max(c.setup for c in problem.cells)
            done.add(t)
    return Schedule(out, horizon=max(problem.horizon, clock), status="heuristic", value=clock)
