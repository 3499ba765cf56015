"""The floor's open work as a scheduling problem, for the controller's two heavier decisions.

At time `now` the controller knows what is done, what runs where since when, and where every
open task is planned. `open_work` turns the part inside a window into the steady-state
carry-in's form (scheduler.carryin): finished work drops out, running work is pinned to its
cell from time 0 with its expected rest, open tasks keep their eligible pools; time 0 is now.
- `replan` plans that problem again (the list scheduler, in the old plan's order: fast enough to
  run inside the twin every few hours on the 1 GW floor) around the pinned work, and keeps a
  task's new cell only where it starts the task sooner than the current sequences would.
Tasks beyond the window keep their cells: the controller follows sequences, not clock times, so
a window only bounds the work (and the decision time) of one call.
- `repair_cell` needs no problem at all: it reads the stopped cell's pool (running work, queues,
  windows) into scheduler.repair_pool, so a cell-down decision costs one pool's queues.
"""
from __future__ import annotations

from scheduler.bounds import topological_order
from scheduler.calendars import CellCalendar
from scheduler.carryin import CarriedIn, carry_in, plan_around
from scheduler.construct import list_schedule
from scheduler.problem import Cell, Job, Problem, Task
from scheduler.repair import PoolCell, QueuedTask, repair_pool
from scheduler.schedule import Assignment, Schedule

RUNNING = 1
WAITING = 0


def open_work(ctrl, span: float) -> tuple[CarriedIn, dict[int, int]]:
    """The carried-in problem of the open work planned to start before now + span (closed under
    predecessors), and carried task index -> controller task."""
    plan, now = ctrl.plan, ctrl.now
    cut = int(now)
    base = plan.problem
    status, in_rework = ctrl.status, ctrl.in_rework
    limit = now + span
    # One pass over every task of the plan (75,000 on the 1 GW week) at each call: zipped, not indexed.
    keep = {t for t, (planned, st, rework, start) in enumerate(zip(plan.t_problem, status, in_rework, ctrl.start))
            if planned >= 0 and (st == RUNNING or (st == WAITING and not rework and start < limit))}
    todo = list(keep)
    while todo:
        for p in plan.t_preds[todo.pop()]:
            if p not in keep and plan.t_problem[p] >= 0 and status[p] != 2 and not in_rework[p]:
                keep.add(p)
                todo.append(p)
    jobs: list[Job] = []
    job_new: dict[int, int] = {}
    tasks: list[Task] = []
    local: dict[int, int] = {}
    history: list[Assignment] = []
    for t in sorted(keep):
        j = plan.t_job[t]
        if j not in job_new:
            src = base.jobs[base.tasks[plan.t_problem[t]].job]
            job_new[j] = len(jobs)
            jobs.append(Job(src.id, src.product, src.family, src.category, src.mw, src.release, src.due, src.weight))
        task = base.tasks[plan.t_problem[t]]
        local[t] = len(tasks)
        jobs[job_new[j]].tasks.append(len(tasks))
        modes = task.modes
        if ctrl.arrived[t] or ctrl.preds_left[t] == 0:  # the unit is (or is on its way) in this pool: it stays there
            modes = [m for m in modes if m[0] == ctrl.pool_of(t)] or modes
        tasks.append(Task(job_new[j], task.op, modes, [], task.capability))
        if status[t] == RUNNING:
            # Started this very second still counts as running at the cut (pinned), not as open work.
            began = max(0, min(int(ctrl.started_at[t]), cut - 1))
            # A unit may start a little before its plan (a changeover's lead, a free twin cell).
            jobs[job_new[j]].release = min(jobs[job_new[j]].release, began)
            cell = ctrl.ran_on[t]
            pool = plan.cell_pool[cell]
            duration = next((d for p, d in task.modes if p == pool), task.modes[0][1])
            end = max(cut + 1, int(ctrl.started_at[t] + duration))
            history.append(Assignment(jobs[job_new[j]].id, task.op, plan.cell_ids[cell], began, end))
    for t, i in local.items():
        tasks[i].predecessors = [local[p] for p in plan.t_preds[t] if p in local]
    previous = Problem(base.cells, base.pools, jobs, tasks, base.horizon, name=f"{base.name}@{cut}")
    pinned_end: dict[str, int] = {}
    for a in history:
        pinned_end[a.cell] = max(pinned_end.get(a.cell, 0), a.end - cut)
    cells = []
    for c, cell in enumerate(base.cells):
        # Work running across a planned window pauses through it (the twin and the cells do);
        # the pinned rest is one block, so such a window is left out rather than clash.
        clear = pinned_end.get(cell.id, 0)
        windows = [(max(0, s - cut), e - cut) for s, e in cell.unavailable if e > cut and not (clear and s - cut < clear)]
        if not ctrl.up[c] and ctrl.down_until[c] > now:  # a stopped cell takes nothing new before it is back
            windows.append((clear, max(clear, int(ctrl.down_until[c]) - cut)))
        cells.append(Cell(cell.id, cell.pool, cell.capacity, cell.setup, windows))
    following = Problem(cells, base.pools, [], [], max(int(span), base.horizon - cut, 1), name=f"{base.name}@{cut}/next")
    carried = carry_in(previous, Schedule(history, base.horizon), cut, following)
    to_ctrl = {}
    for i, task in enumerate(carried.problem.tasks):
        job_id = carried.source.get(carried.problem.jobs[task.job].id)
        to_ctrl[i] = plan.task_of(job_id, task.op)
    return carried, to_ctrl


def replan(ctrl) -> tuple[list[tuple[int, int, float]], dict]:
    """(task, new cell, planned start) for the open tasks in the window that the re-plan starts
    sooner elsewhere. The open work is planned again from the floor's state (running work
    pinned where it runs, stopped cells out until their expected return) by the list scheduler
    in the old plan's order; a task takes its re-planned cell only when that starts it at least
    `replan_gain_s` sooner than its current cell's sequence, timed forward the same way, would:
    a re-plan moves what it gains by and leaves the rest of the plan, and its cells, alone."""
    carried, to_ctrl = open_work(ctrl, ctrl.config.replan_window_s)
    problem = carried.problem
    now = ctrl.now
    index = {(j.id, problem.tasks[t].op): t for j in problem.jobs for t in j.tasks}

    def planner(sub: Problem) -> Schedule:
        # The old plan's order first: a re-plan re-times and re-balances, it does not reshuffle.
        order = [ctrl.start[to_ctrl[index[(sub.jobs[task.job].id, task.op)]]] - now for task in sub.tasks]
        return list_schedule(sub, objective="mw", priority=order)

    schedule = plan_around(carried, planner)
    current = {index[(a.job, a.op)]: a.start for a in _project(ctrl, carried, to_ctrl).assignments}
    cell_index = {c: i for i, c in enumerate(ctrl.plan.cell_ids)}
    gain = ctrl.config.replan_gain_s
    changes = []
    for a in schedule.assignments:
        t = index[(a.job, a.op)]
        c = cell_index[a.cell]
        if t in carried.pinned or c == ctrl.cell[to_ctrl[t]]:
            continue
        if a.start + gain <= current.get(t, a.start):
            changes.append((to_ctrl[t], c, float(a.start) + int(now)))
    return changes, {"tasks": len(schedule.assignments) - len(carried.pinned), "pinned": len(carried.pinned)}


def repair_cell(ctrl, cell: int, expected_up: float) -> list[tuple[int, int, float]]:
    """(task, new cell, planned start) for the open tasks of `cell`'s queue that
    scheduler.repair_pool moves to twin cells when `cell` stops until `expected_up`: only the
    cell's pool is read (its cells' running work and queues inside the repair window), so the
    decision costs the pool's queues, not the floor's."""
    plan, now = ctrl.plan, ctrl.now
    pool = plan.cell_pool[cell]
    cells = plan.pool_cells[pool]
    limit = now + ctrl.config.repair_window_s
    cut = int(now)
    pause = max(0, int(expected_up) - cut)
    free: dict[int, list[int]] = {c: [] for c in cells}
    for t in ctrl.running_tasks(cells):
        c = ctrl.ran_on[t]
        end = int(ctrl.started_at[t] + _duration(plan, t, pool))
        free[c].append(end + (pause if c == cell else 0))  # work on the stopped cell waits out the stop
    lanes = []
    for c in cells:
        queue = []
        for t in ctrl.queue(c):
            if ctrl.start[t] >= limit:
                break
            queue.append(QueuedTask(t, int(_ready(ctrl, t)), int(ctrl.start[t]), _duration(plan, t, pool), plan.t_family[t]))
        windows = [(s, e) for s, e in plan.problem.cells[c].unavailable if e > cut]
        if c != cell and not ctrl.up[c]:
            windows.append((cut, max(cut, int(ctrl.down_until[c]))))
        lanes.append(PoolCell(plan.cell_capacity[c], free[c], queue, int(plan.cell_setup[c]), ctrl.family[c], windows))
    moves = repair_pool(lanes, cells.index(cell), max(cut, int(expected_up)), cut)
    return [(t, cells[k], float(start)) for t, k, start in moves]


def _duration(plan, t: int, pool: int) -> int:
    """Planned seconds of task t on a cell of `pool` (the plan's own, for availability if it
    was planned so)."""
    modes = plan.problem.tasks[plan.t_problem[t]].modes if plan.t_problem[t] >= 0 else []
    return next((d for p, d in modes if p == pool), int(plan.t_end[t] - plan.t_start[t]) or 1)


def _ready(ctrl, t: int) -> float:
    """Earliest t may start: now, its planned start (the controller's gate), and its
    predecessors' expected ends (running: started + planned time; waiting: planned end)."""
    plan = ctrl.plan
    at = max(ctrl.now, plan.t_start[t] - ctrl.config.early_s)
    for p in plan.t_preds[t]:
        if ctrl.status[p] == RUNNING:
            at = max(at, ctrl.started_at[p] + _duration(plan, p, plan.cell_pool[ctrl.ran_on[p]]))
        elif ctrl.status[p] == WAITING:
            at = max(at, max(ctrl.now, ctrl.start[p]) + _duration(plan, p, ctrl.pool_of(p)))
    return at


def _project(ctrl, carried: CarriedIn, to_ctrl: dict[int, int]) -> Schedule:
    """The current sequences timed forward from now (time 1 of the carried frame; 0 is the
    pinned work's): each task on its cell in planned order, after its predecessors, the cell's
    previous work (and changeover) and outside its windows."""
    problem = carried.problem
    rank = {t: i for i, t in enumerate(topological_order(problem))}
    cal = [CellCalendar(c.unavailable) for c in problem.cells]
    lanes: dict[int, list[float]] = {}
    family: dict[int, str] = {}
    end: dict[int, int] = {}
    out: list[Assignment] = []
    for t, (c, s, e) in carried.pinned.items():
        end[t] = e
        lanes.setdefault(c, [0] * max(1, problem.cells[c].capacity))
        k = min(range(len(lanes[c])), key=lanes[c].__getitem__)
        lanes[c][k] = max(lanes[c][k], e)
        family[c] = problem.jobs[problem.tasks[t].job].family
        out.append(Assignment(problem.jobs[problem.tasks[t].job].id, problem.tasks[t].op, problem.cells[c].id, s, e))
    # Planned starts, raised where a predecessor was moved later (repair only re-times what it
    # moves), so the pass meets every predecessor first.
    order = sorted(rank, key=rank.__getitem__)
    eff: dict[int, float] = {}
    for t in order:
        eff[t] = max([ctrl.start[to_ctrl[t]]] + [eff[p] + 1e-3 for p in problem.tasks[t].predecessors])
    open_tasks = sorted((t for t in order if t not in carried.pinned), key=lambda t: (eff[t], rank[t]))
    for t in open_tasks:
        task = problem.tasks[t]
        c = ctrl.cell[to_ctrl[t]]
        cell = problem.cells[c]
        duration = next((d for p, d in task.modes if p == cell.pool), None)
        if duration is None:
            c = problem.pools[task.modes[0][0]].cells[0]
            cell, duration = problem.cells[c], task.modes[0][1]
        job = problem.jobs[task.job]
        ready = max([1, job.release, task.release] + [end.get(p, 1) for p in task.predecessors])
        free = lanes.setdefault(c, [1] * max(1, cell.capacity))
        k = min(range(len(free)), key=free.__getitem__)
        setup = cell.setup if cell.capacity == 1 and family.get(c) not in (None, job.family) else 0
        start = cal[c].earliest_fit(int(max(ready, free[k] + setup)), duration)
        end[t] = start + duration
        free[k] = end[t]
        family[c] = job.family
        out.append(Assignment(job.id, task.op, cell.id, start, end[t]))
    return Schedule(out, problem.horizon, "projected")
