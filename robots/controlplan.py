"""The plan as the floor controller reads it, built from what a dispatch run holds: the
scheduler Problem the plan was validated against, the plan (or the part of it being
dispatched) and the spec's rework sets. The twin builds its ControlPlan from the spec
(scheduler.control.control_plan); dispatch builds it from the Problem, so a plan for a
running floor (carried-in units list only their open operations), a part of a plan (`--jobs
N`: the rest of its units is in the Problem but not sent) and a dispatcher given no spec all
read the same way.

`restored` lays the run's state over it: what is finished counts as done before the plan and
every open operation sits on the cell the journal binds it to now, so a controller built from it
after a restart (or after a cell is lost for good) continues where the floor is.
"""
from __future__ import annotations

from dataclasses import replace

from scheduler.control import ControlPlan
from scheduler.problem import Problem
from scheduler.schedule import Schedule


def dispatch_control_plan(problem: Problem, schedule: Schedule, rework: dict[tuple[str, str], list[str]]) -> ControlPlan:
    """Every task of every job of `problem` indexed for the controller (job-major, routing
    order); a task the schedule does not plan is marked done and is never sent (not part of
    this dispatch). `rework`: (product, failed operation) -> operations redone, target first."""
    horizon = int((schedule.kpis or {}).get("horizon_s", schedule.horizon) or schedule.horizon or schedule.makespan)
    planned = {(a.job, a.op): a for a in schedule.assignments}
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    cp = ControlPlan(schedule, problem, horizon, [c.id for c in problem.cells], [c.pool for c in problem.cells],
                     [max(1, c.capacity) for c in problem.cells], [float(c.setup) for c in problem.cells],
                     [p.name for p in problem.pools], [list(p.cells) for p in problem.pools], [], [], [], [], [])
    for j, job in enumerate(problem.jobs):
        first = len(cp.t_job)
        cp.jobs.append(job.id)
        cp.job_product.append(job.product)
        cp.job_category.append(job.category)
        cp.job_mw.append(job.mw)
        cp.job_first.append(first)
        local = {ti: first + k for k, ti in enumerate(job.tasks)}
        by_op = {problem.tasks[ti].op: first + k for k, ti in enumerate(job.tasks)}
        for k, ti in enumerate(job.tasks):
            task = problem.tasks[ti]
            t = first + k
            cp.t_job.append(j)
            cp.t_op.append(task.op)
            cp.t_index.append(k)
            cp.t_family.append(job.family)
            cp.t_pools.append([pool for pool, _ in sorted(task.modes, key=lambda mode: mode[1])])
            cp.t_preds.append([local[p] for p in task.predecessors if p in local])
            cp.t_succs.append([])
            # Operations a carried-in unit finished before the plan are not in the Problem: a
            # rework set keeps the ones that are (the failed one always).
            redo = [by_op[op] for op in rework.get((job.product, task.op), ()) if op in by_op]
            cp.t_rework.append(redo if t in redo else [t])
            a = planned.get((job.id, task.op))
            cp.t_problem.append(ti)
            cp.t_scale.append(1.0)  # the dispatcher sends work running at the cut with its remainder
            if a is None:
                cp.t_cell.append(-1)
                cp.t_start.append(0.0)
                cp.t_end.append(0.0)
                cp.t_done.append(True)
                continue
            cp.t_cell.append(cell_index[a.cell])
            cp.t_start.append(float(a.start))
            cp.t_end.append(float(a.end))
            cp.t_done.append(False)
        for t in range(first, len(cp.t_job)):
            for p in cp.t_preds[t]:
                cp.t_succs[p].append(t)
    return cp


def restored(cp: ControlPlan, done: set[int], cells: dict[int, int]) -> ControlPlan:
    """The plan with tasks `done` finished before it and open tasks on `cells` (task -> cell
    index): the state a controller starts from after a restart. Planned starts stay the plan's."""
    t_done = list(cp.t_done)
    for t in done:
        t_done[t] = True
    t_cell = list(cp.t_cell)
    for t, c in cells.items():
        t_cell[t] = c
    # Its own start state: the controller caches one per plan object (start_state), built from these.
    return replace(cp, t_done=t_done, t_cell=t_cell, _keys=cp._keys, start_state=None)


def controller_cells(problem: Problem, schedule: Schedule) -> set[str]:
    """Every cell that can do an operation the schedule plans: where the floor controller may
    send work (a lost cell's, a re-plan's, a free twin cell's help), so the fleet opens them all."""
    planned = {(a.job, a.op) for a in schedule.assignments}
    pools = {pool for t in problem.tasks if (problem.jobs[t.job].id, t.op) in planned for pool, _ in t.modes}
    return {c.id for c in problem.cells if c.pool in pools}
