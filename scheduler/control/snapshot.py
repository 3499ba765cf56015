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

import gc
import weakref
from heapq import heapreplace
from itertools import chain, compress
from operator import eq

import numpy as np

from scheduler.bounds import predecessors_order
from scheduler.calendars import CellCalendar
from scheduler.carryin import CARRIED_MARK
from scheduler.construct import dispatch_on_lanes, flat_cell_windows, mode_runs, pred_runs, task_tails
from scheduler.problem import Cell, Job, Problem, Task
from scheduler.repair import PoolCell, QueuedTask, repair_pool
from scheduler.subproblem import pool_lane_arrays, pool_lanes, restrict
from scheduler.validate import Columns, validate_placed

WAITING, RUNNING, DONE = 0, 1, 2


class _PlanTasks:
    """What the re-plans of one plan read of its planned tasks, kept from one re-plan (and one
    replication) to the next: each task's modes as one shared list per distinct set (so the
    sub-problem and the list scheduler map each set once), and per such list its duration by
    pool (first wins). Made once per plan: a plan's tasks share a few modes lists (one per
    capability), so this is one dict look-up per task. Also per controller task its operation,
    planned job and whether it has more than one pool, per planned job its release, family and
    carried id, per cell its clear copy and its index among the controller's cells."""

    def __init__(self, plan) -> None:
        base_tasks, base_jobs = plan.problem.tasks, plan.problem.jobs
        interned: dict[tuple, list] = {}
        by_list: dict[int, list] = {}
        self.duration_on: dict[int, dict[int, int]] = {}
        self.modes: list[list | None] = []
        planned = [base_tasks[p] if p >= 0 else None for p in plan.t_problem]  # controller task -> planned Task
        self.ops = [task.op if task is not None else "" for task in planned]
        self.task_job = [task.job if task is not None else -1 for task in planned]  # controller task -> planned job
        # Per planned job: its release and family (a carried unit's come from its planned job).
        self.job_release = [job.release for job in base_jobs]
        self.job_family = [job.family for job in base_jobs]
        codes: dict[str, int] = {}
        self.job_family_code = np.array([codes.setdefault(f, len(codes)) for f in self.job_family], np.int64)  # as small ints, for _project
        for p in plan.t_problem:
            if p < 0:
                self.modes.append(None)
                continue
            modes = base_tasks[p].modes
            shared = by_list.get(id(modes))
            if shared is None:
                shared = interned.get(key := tuple(modes))
                if shared is None:
                    shared = interned[key] = list(modes)
                    self.duration_on[id(shared)] = dict(reversed(shared))
                by_list[id(modes)] = shared
            self.modes.append(shared)
        # Controller task -> more than one eligible pool (the only ones a re-plan may narrow).
        self.flexible = [modes is not None and len(modes) > 1 for modes in self.modes]
        # Cells without windows look the same in every re-plan's frame: one object each, read only.
        self.clear_cells = [Cell(c.id, c.pool, c.capacity, c.setup, []) for c in plan.problem.cells]
        self.carried_ids = [job.id + CARRIED_MARK for job in plan.problem.jobs]
        cell_index = {c: i for i, c in enumerate(plan.cell_ids)}
        self.plan_cell = [cell_index[c.id] for c in plan.problem.cells]  # the carried frame's cell -> the controller's
        # The carried frame's cells and pools as _project's arrays.
        cells = plan.problem.cells
        self.cell_pool = np.array([c.pool for c in cells], np.int64)
        self.cell_capacity = np.array([c.capacity for c in cells], np.int64)
        self.cell_setup = np.array([c.setup for c in cells], np.int64)
        # Every controller task's predecessors as flat runs (scheduler.windowjit reads them).
        self.t_ptr, self.t_idx = pred_runs(plan.t_preds)
        self.lane_layouts: dict = {}  # subproblem.pool_lane_arrays' layouts of this floor's lanes, by the pools used
        self.first_cell = np.array([pool.cells[0] if pool.cells else -1 for pool in plan.problem.pools], np.int64)


_PLANS: dict[int, tuple[weakref.ref, _PlanTasks]] = {}


def _plan_tasks(plan) -> _PlanTasks:
    entry = _PLANS.get(id(plan))
    if entry is None or entry[0]() is not plan:
        entry = _PLANS[id(plan)] = (weakref.ref(plan, lambda _, key=id(plan): _PLANS.pop(key, None)), _PlanTasks(plan))
    return entry[1]


class _Window:
    """The open work planned to start before now + span (closed under predecessors) as the
    carried problem of scheduler.carryin.carry_in's form (units marked carried, time 0 at the cut,
    running work pinned from 0 with its expected rest), held as lists per carried task and unit
    (scheduler.validate.Columns reads them as they are), plus the list scheduler's sub-problem of
    its open tasks (scheduler.subproblem.open_work_lists' lists, built in the same passes).

    Every task kept here is open or running, so carry_in's general path (placements of a previous
    plan, units finished by the cut, changeovers owed by finished work) has nothing to do, and a
    re-plan costs the window's tasks, not copies of them as Task and Job objects."""

    # Per carried task (index i): order[i] its controller task, unit_of[i] its unit, modes[i]
    # (pool, duration), preds[i] (carried indices); pinned: i -> (cell, 0, rest) of running work;
    # free: the open tasks, in carried order. Per unit: job_ids, job_release, job_family, src_job (its planned job). The
    # sub-problem, per open task (in `free` order): sub_modes (the lanes' pools), sub_preds (open
    # indices), ready_at (the unit's release, the running predecessors' ends), family; sub: the
    # lanes (scheduler.subproblem.LaneArrays; sub_lanes() makes them as Lanes, the Python dispatcher's input).
    __slots__ = ("order", "unit_of", "modes", "preds", "pinned", "free", "job_ids", "job_release", "job_family", "src_job", "cells", "pools",
                 "horizon", "name", "ops", "sub", "sub_lanes", "sub_modes", "sub_preds", "ready_at", "family",
                 "p_ptr", "p_idx", "sub_ptr", "sub_idx", "free_a")

    def columns(self) -> Columns:
        job_ids, unit_of, ops, order = self.job_ids, self.unit_of, self.ops, self.order
        return Columns(self.cells, unit_of, self.modes, self.preds, [0] * len(unit_of), self.job_release, self.job_family,
                       lambda t: f"{job_ids[unit_of[t]]}/{ops[order[t]]}")

    def problem(self) -> Problem:
        """The carried problem as a Problem, for the rare general paths (predecessors out of
        index order) that read one."""
        jobs = [Job(job_id, family=family, release=release) for job_id, family, release in zip(self.job_ids, self.job_family, self.job_release)]
        tasks = []
        for i, (k, modes, preds) in enumerate(zip(self.unit_of, self.modes, self.preds)):
            jobs[k].tasks.append(i)
            tasks.append(Task(k, self.ops[self.order[i]], modes, preds))
        return Problem(self.cells, self.pools, jobs, tasks, self.horizon, name=self.name)


def open_work(ctrl, span: float) -> _Window:
    """The carried problem of the open work planned to start before now + span and the list
    scheduler's sub-problem of its open tasks around the running ones (see _Window)."""
    plan, now = ctrl.plan, ctrl.now
    static = _plan_tasks(plan)
    cut = int(now)
    base = plan.problem
    status = ctrl.status
    order = _window(ctrl, now + span)
    n = len(order)
    # Mostly whole-list passes (maps and comprehensions): a re-plan carries ~4,500 tasks.
    # Units in order of their first task; each unit's source is its first task's planned job.
    job_of = list(map(plan.t_job.__getitem__, order))
    units = list(dict.fromkeys(job_of))
    first_task = dict(zip(reversed(job_of), reversed(order)))
    unit_of = list(map(dict(zip(units, range(len(units)))).__getitem__, job_of))
    src_job = list(map(static.task_job.__getitem__, map(first_task.__getitem__, units)))
    release = list(map(static.job_release.__getitem__, src_job))
    modes_of = list(map(static.modes.__getitem__, order))
    state = list(map(status.__getitem__, order))
    running = [i for i, st in enumerate(state) if st == RUNNING]
    free = [i for i, st in enumerate(state) if st != RUNNING]
    pinned: dict[int, tuple[int, int, int]] = {}
    pinned_end: dict[int, int] = {}
    cell_pool, duration_on = plan.cell_pool, static.duration_on
    started_at, ran_on = ctrl.started_at, ctrl.ran_on
    last, soonest = cut - 1, cut + 1
    for i in running:
        t = order[i]
        began_s = started_at[t]
        # Started this very second still counts as running at the cut (pinned), not as open work.
        began = int(began_s)
        if began > last:
            began = last
        if began < 0:
            began = 0
        # A unit may start a little before its plan (a changeover's lead, a free twin cell).
        if began < release[u := unit_of[i]]:
            release[u] = began
        cell = ran_on[t]
        pool = cell_pool[cell]
        duration = duration_on[id(modes_of[i])].get(pool)
        if duration is None:
            duration = modes_of[i][0][1]
        rest = int(began_s + duration)
        rest = (rest if rest > soonest else soonest) - cut
        modes_of[i] = [(pool, rest)]
        pinned[i] = (cell, 0, rest)
        if rest > pinned_end.get(cell, 0):
            pinned_end[cell] = rest
    arrived, left = ctrl.arrived, ctrl.preds_left
    for i in compress(free, map(static.flexible.__getitem__, map(order.__getitem__, free))):
        if arrived[t := order[i]] or left[t] == 0:  # the unit is (or is on its way) in this pool: it stays there
            here = ctrl.pool_of(t)
            modes_of[i] = [m for m in modes_of[i] if m[0] == here] or modes_of[i]
    w = _Window()
    w.job_release = [r - cut if r > cut else 0 for r in release]  # into the carried frame: time 0 is the cut
    # The predecessors inside the window, and the open tasks' sub-problem's, as flat runs
    # (scheduler.windowjit); as lists for the checks and the Python paths.
    from scheduler.windowjit import window_preds  # numba only where a re-plan runs

    pin_end = np.zeros(n, np.int64)
    for i, (_, _, e) in pinned.items():
        pin_end[i] = e
    free_a = np.array(free, np.int64)
    w.p_ptr, w.p_idx, w.sub_ptr, w.sub_idx, ready_a = window_preds(np.array(order, np.int64), static.t_ptr, static.t_idx, len(static.t_ptr) - 1, free_a,
                                                                 pin_end, np.array(unit_of, np.int64), np.array(w.job_release, np.int64))
    w.free_a = free_a
    preds_of = _runs(w.p_ptr, w.p_idx)
    w.order, w.unit_of, w.modes, w.preds, w.pinned, w.free = order, unit_of, modes_of, preds_of, pinned, free
    w.job_ids = list(map(static.carried_ids.__getitem__, src_job))
    w.job_family = list(map(static.job_family.__getitem__, src_job))
    w.src_job = src_job
    w.cells = cells = _carried_cells(ctrl, static, pinned_end, cut)
    w.pools = base.pools
    w.horizon = max(int(span), base.horizon - cut, 1)
    w.name = f"{base.name}@{cut}/next+carried"
    w.ops = static.ops
    # Running work that clashed with a window fails the re-plan's validate (a ValueError, which
    # the controller logs as a failed re-plan).
    # The open tasks' sub-problem (open_work_lists' lists): the cells' lanes with the pinned work
    # as windows, the open tasks' modes in the lanes' pools, their open predecessors, and the
    # pinned ones' ends as releases.
    job_family = w.job_family
    family = w.family = [job_family[unit_of[i]] for i in free]
    fixed_on: dict[int, list[tuple[int, int, str]]] = {}
    for i, (c, s, e) in pinned.items():
        if c in fixed_on:
            fixed_on[c].append((s, e, job_family[unit_of[i]]))
        else:
            fixed_on[c] = [(s, e, job_family[unit_of[i]])]
    distinct = {id(modes): modes for modes in map(modes_of.__getitem__, free)}
    families = set(family)
    w.sub = lanes = pool_lane_arrays(cells, base.pools, fixed_on, families, distinct.values(), static.lane_layouts)
    w.sub_lanes = lambda: pool_lanes(cells, base.pools, fixed_on, families, distinct.values())  # as Cells, for the Python dispatcher
    sub_modes = {k: lanes.sub_modes(modes) for k, modes in distinct.items()}
    w.sub_modes = [sub_modes[id(modes_of[i])] for i in free]
    w.sub_preds, w.ready_at = _runs(w.sub_ptr, w.sub_idx), ready_a.tolist()
    return w


def _runs(ptr, idx) -> list[list[int]]:
    """Flat runs (ptr, idx) as one list per entry."""
    flat = idx.tolist()
    bounds = ptr.tolist()
    return [flat[a:b] for a, b in zip(bounds, bounds[1:])]


def _window(ctrl, limit: float) -> list[int]:
    """The controller tasks running now or open with a planned start before `limit`, closed
    under predecessors (the few open ones outside the window come along), in task order:
    job-major, routing order, so each unit's tasks come together, predecessors first."""
    plan, status, in_rework = ctrl.plan, ctrl.status, ctrl.in_rework
    t_problem, t_preds = plan.t_problem, plan.t_preds
    keep = ctrl.open_before(limit)
    new = keep
    while new:  # one set expression per round, not a walk: almost every predecessor is kept or done
        new = {p for p in set(chain.from_iterable(map(t_preds.__getitem__, new))) - keep if status[p] != DONE and t_problem[p] >= 0 and not in_rework[p]}
        keep |= new
    return sorted(keep)


def _carried_cells(ctrl, static: _PlanTasks, pinned_end: dict[int, int], cut: int) -> list[Cell]:
    """The floor's cells in the carried frame: their windows after the cut, a stopped cell out
    until its expected return, nothing in the way of the work pinned on them."""
    now = ctrl.now
    up, down_until = ctrl.up, ctrl.down_until
    clear_cells = static.clear_cells
    cells = []
    for c, cell in enumerate(ctrl.plan.problem.cells):
        # Work running across a planned window pauses through it (the twin and the cells do);
        # the pinned rest is one block, so such a window is left out rather than clash.
        clear = pinned_end.get(c, 0)
        windows = [(max(0, s - cut), e - cut) for s, e in cell.unavailable if e > cut and not (clear and s - cut < clear)] if cell.unavailable else []
        back = int(down_until[c]) - cut
        if not up[c] and back > clear:  # a stopped cell takes nothing new before it is back
            # (A cell back before the work pinned on it ends has no window at all: an empty one
            # would be a boundary that neither the list scheduler nor the check should see.)
            windows.append((clear, back))
        cells.append(Cell(cell.id, cell.pool, cell.capacity, cell.setup, windows) if windows else clear_cells[c])
    return cells


def replan(ctrl) -> tuple[list[tuple[int, int, float]], dict]:
    """(task, new cell, planned start) for the open tasks in the window that the re-plan starts
    sooner elsewhere. The open work is planned again from the floor's state (running work
    pinned where it runs, stopped cells out until their expected return) by the list scheduler
    in the old plan's order; a task takes its re-planned cell only when that starts it at least
    `replan_gain_s` sooner than its current cell's sequence, timed forward the same way, would:
    a re-plan moves what it gains by and leaves the rest of the plan, and its cells, alone."""
    # A re-plan builds ~20k short-lived objects without cycles (problems, plans), freed by
    # reference counting when it returns; inside a twin's run a young collection during it would
    # trace them all again for nothing (measured: ~9% of a re-plan). Whatever it leaves in
    # cycles waits for the next collection, as it would anyway.
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        return _replan(ctrl)
    finally:
        if enabled:
            gc.enable()


def _replan(ctrl) -> tuple[list[tuple[int, int, float]], dict]:
    w = open_work(ctrl, ctrl.config.replan_window_s)
    now = ctrl.now
    pinned, free, to_ctrl = w.pinned, w.free, w.order
    # The old plan's order first: a re-plan re-times and re-balances, it does not reshuffle.
    start = ctrl.start
    order = [start[to_ctrl[t]] - now for t in free]
    # What scheduler.carryin.plan_around does, with the plan held as placements per task rather
    # than as Problems and named Assignments several times over: the open work around the pinned
    # work, the list scheduler, the lanes mapped back to their cells, and the whole checked by
    # scheduler.validate against the carried problem.
    placed: list[tuple[int, int, int] | None] = [None] * len(to_ctrl)
    for t, where in pinned.items():
        placed[t] = where
    if free:
        sub = w.sub
        # Placed on the carried cells (the lanes mapped back) by the list scheduler itself.
        plan = dispatch_on_lanes(sub, w.sub_lanes, w.sub_modes, w.sub_preds, w.ready_at, w.family, w.horizon, objective="mw", priority=order,
                                 tails_of=lambda: task_tails(restrict(w.problem(), pinned, set(free)).problem), preds_runs=(w.sub_ptr, w.sub_idx))
        for t, where in zip(free, plan):
            placed[t] = where
    validate_placed(w.columns(), placed)
    current = _project(ctrl, w)
    plan_cell = _plan_tasks(ctrl.plan).plan_cell
    gain = ctrl.config.replan_gain_s
    cell_now = ctrl.cell
    changes = []
    for t in free:
        c, at, _ = placed[t]  # type: ignore[misc]
        c = plan_cell[c]
        if c != cell_now[to_ctrl[t]] and at + gain <= current[t]:
            changes.append((to_ctrl[t], c, float(at) + int(now)))
    return changes, {"tasks": len(free), "pinned": len(pinned)}


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


def _project(ctrl, w: _Window) -> list[int]:
    """Each carried task's start in the current sequences timed forward from now (time 1 of the
    carried frame; 0 is the pinned work's): each task on its cell in planned order, after its
    predecessors, the cell's previous work (and changeover) and outside its windows.
    _project_reference's pass, compiled (scheduler.projectjit) on the window's lists as arrays."""
    from scheduler.projectjit import CYCLE, project

    static = _plan_tasks(ctrl.plan)
    to_ctrl, free, pinned = w.order, w.free, w.pinned
    n, n_free = len(to_ctrl), len(free)
    p_ptr, p_idx = w.p_ptr, w.p_idx
    planned = np.fromiter(map(ctrl.start.__getitem__, to_ctrl), np.float64, n)
    pin = np.array(list(pinned.values()), np.int64).reshape(-1, 3)
    free_a = w.free_a
    cur_cell = np.fromiter(map(ctrl.cell.__getitem__, map(to_ctrl.__getitem__, free)), np.int64, n_free)
    m_start, m_len, mode_arr = mode_runs(list(map(w.modes.__getitem__, free)))  # the open tasks' modes
    mode_arr = mode_arr.astype(np.int64, copy=False)
    cell_lo, cell_hi, w_s, w_e = flat_cell_windows(w.cells)  # the few cells with windows have a run
    families = static.job_family_code[np.array(w.src_job, np.int64)]
    starts, status = project(planned, p_ptr, p_idx, np.fromiter(pinned, np.int64, len(pinned)), pin[:, 0].copy(), pin[:, 1].copy(), pin[:, 2].copy(),
                             free_a, cur_cell, m_start, m_len, mode_arr[:, 0].copy(), mode_arr[:, 1].copy(), static.cell_pool, static.cell_capacity,
                             static.cell_setup, cell_lo, cell_hi, w_s, w_e, static.first_cell,
                             np.array(w.unit_of, np.int64), np.array(w.job_release, np.int64), families)
    if status == CYCLE:
        return _project_reference(ctrl, w)  # raises, naming a task on the cycle
    return starts.tolist()


def _project_reference(ctrl, w: _Window) -> list[int]:
    """_project in Python: the reference the compiled pass is tested against."""
    to_ctrl, open_tasks, pinned = w.order, w.free, w.pinned
    cells, t_preds, t_modes, unit_of = w.cells, w.preds, w.modes, w.unit_of
    job_release, job_family = w.job_release, w.job_family
    n = len(to_ctrl)
    # Each cell's lanes as a heap of the times they are free from: work goes to the lane free
    # soonest, and lanes are alike, so which lane holds which time never matters.
    lanes: dict[int, list[int]] = {}
    family: dict[int, str] = {}
    end = [1] * n
    starts = [0] * n
    for t, (c, s, e) in pinned.items():
        end[t], starts[t] = e, s
        free = lanes.get(c)
        if free is None:
            free = lanes[c] = [0] * max(1, cells[c].capacity)
        if e > free[0]:
            heapreplace(free, e)
        family[c] = job_family[unit_of[t]]
    # Planned starts, raised where a predecessor was moved later (repair only re-times what it
    # moves), so the pass meets every predecessor first. Carried tasks are in controller order
    # (job-major, routing order), so every predecessor comes first.
    planned = ctrl.start
    eff = list(map(planned.__getitem__, to_ctrl))
    order = None
    for t in compress(range(n), t_preds):  # the tasks with predecessors
        for p in t_preds[t]:
            if p > t:  # not in routing order after all: take the general path
                order = _topological_order(t_preds)
                break
            if eff[p] + 1e-3 > eff[t]:
                eff[t] = eff[p] + 1e-3
        if order is not None:
            eff = list(map(planned.__getitem__, to_ctrl))
            for u in order:
                for p in t_preds[u]:
                    if eff[p] + 1e-3 > eff[u]:
                        eff[u] = eff[p] + 1e-3
            break
    # Each open task's cell and duration: its current cell's, else (not eligible there) the
    # first cell of its first pool. Looked up once per distinct modes list and pool.
    cell_pool = [cell.pool for cell in cells]
    first_cell = [pool.cells[0] if pool.cells else -1 for pool in w.pools]
    free_tasks = list(open_tasks)
    on = [0] * n
    lasts = [0] * n
    seen: dict[tuple[int, int], int | None] = {}
    for t, c in zip(open_tasks, map(ctrl.cell.__getitem__, map(to_ctrl.__getitem__, open_tasks))):
        modes = t_modes[t]
        key = (id(modes), cell_pool[c])
        duration = seen.get(key, -1)
        if duration == -1:
            pool = cell_pool[c]
            duration = seen[key] = next((d for p, d in modes if p == pool), None)
        if duration is None:
            c = first_cell[modes[0][0]]
            duration = modes[0][1]
        on[t], lasts[t] = c, duration
    free_tasks.sort(key=eff.__getitem__)
    # Equal planned starts go in topological order (the tie-break it always had); only tasks on
    # one cell see each other's order, so the order is needed only when a tie shares a cell.
    ties: dict[tuple[float, int], int] = {}
    effs = list(map(eff.__getitem__, free_tasks))
    for k in compress(range(len(effs) - 1), map(eq, effs, effs[1:])):  # the neighbours with equal starts
        a, b = free_tasks[k], free_tasks[k + 1]
        if ties.setdefault((eff[a], on[a]), a) != a or (eff[b], on[b]) in ties:
            rank = [0] * n
            for i, t in enumerate(order or _topological_order(t_preds)):
                rank[t] = i
            free_tasks.sort(key=lambda t: (eff[t], rank[t]))
            break
    per_cell: dict[int, tuple[list[int], int, CellCalendar | None]] = {}  # lanes, setup, windows
    for t in free_tasks:
        c = on[t]
        u = unit_of[t]
        ready = job_release[u]
        if ready < 1:
            ready = 1
        for p in t_preds[t]:
            if end[p] > ready:
                ready = end[p]
        state = per_cell.get(c)
        if state is None:
            cell = cells[c]
            free = lanes.get(c)
            if free is None:
                free = lanes[c] = [1] * max(1, cell.capacity)
            state = per_cell[c] = (free, cell.setup if cell.capacity == 1 else 0, CellCalendar(cell.unavailable) if cell.unavailable else None)
        free, setup, calendar = state
        at = free[0]
        fam = job_family[u]
        if setup and family.get(c) not in (None, fam):
            at += setup
        if ready > at:
            at = ready
        at = int(at)
        if calendar is not None and calendar.starts:
            at = calendar.earliest_fit(at, lasts[t])
        starts[t] = at
        end[t] = at + lasts[t]
        heapreplace(free, end[t])
        family[c] = fam
    return starts


def _topological_order(preds: list[list[int]]) -> list[int]:
    """scheduler.bounds.topological_order of the carried problem, from its predecessor lists."""
    order = predecessors_order(preds)
    if len(order) != len(preds):
        raise ValueError(f"replan: carried task {min(set(range(len(preds))) - set(order))} is on a precedence cycle")
    return order
