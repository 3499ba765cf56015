"""The floor's open work as a scheduling problem, for the controller's two heavier decisions.

At time `now` the controller knows what is done, what runs where since when, and where every
open task is planned. `open_work` turns the part inside a window into the steady-state
carry-in's form (scheduler.carryin): finished work drops out, running work is pinned to its
cell from time 0 with its expected rest, open tasks keep their eligible pools; time 0 is now.
- `replan` plans that problem again (the list scheduler, in the old plan's order: fast enough to
  run inside the twin every few hours on the 1 GW floor) around the pinned work, and keeps a
  task's new cell only where it starts the task sooner than the current sequences would.
Tasks beyond the window keep their cells: the controller follows sequences, not clock times, so
a window only bounds the work (and the decision time) of one call. A re-plan holds its window as
arrays from end to end: built in one compiled pass from per-plan arrays and the window's entries
of the controller's lists (scheduler.windowjit), dispatched (construct.run_arrays), checked
(scheduler.validate.validate_arrays: the check's rules compiled) and projected
(scheduler.projectjit) as they are; lists of it are made only for the general paths and tests.
- `repair_cell` needs no problem at all: it reads the stopped cell's pool (running work, queues,
  windows) into scheduler.repair_pool, so a cell-down decision costs one pool's queues.
"""
from __future__ import annotations

import gc
import weakref
from heapq import heapreplace
from itertools import compress
from operator import eq, not_

import numpy as np

from scheduler.bounds import predecessors_order
from scheduler.calendars import CellCalendar, flat_windows
from scheduler.carryin import CARRIED_MARK
from scheduler.construct import dispatch_on_lanes, pred_runs, task_tails
from scheduler.problem import Cell, Job, Problem, Task
from scheduler.repair import PoolCell, QueuedTask, repair_pool
from scheduler.subproblem import lanes_of, pool_lanes, restrict
from scheduler.validate import Columns, validate_arrays

WAITING, RUNNING, DONE = 0, 1, 2


class _PlanTasks:
    """What the re-plans of one plan read of its planned tasks, kept from one re-plan (and one
    replication) to the next: each task's modes as one shared list per distinct set (so the
    sub-problem and the list scheduler map each set once). Made once per plan: a plan's tasks
    share a few modes lists (one per capability), so this is one dict look-up per task. Also per
    controller task its operation and planned job, per planned job its release, family and
    carried id, per cell its clear copy and its index among the controller's cells, and the same
    as the arrays scheduler.windowjit.window_build and the check read."""

    def __init__(self, plan) -> None:
        base_tasks, base_jobs = plan.problem.tasks, plan.problem.jobs
        interned: dict[tuple, list] = {}
        by_list: dict[int, list] = {}
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
                by_list[id(modes)] = shared
            self.modes.append(shared)
        # Cells without windows look the same in every re-plan's frame: one object each, read only.
        self.clear_cells = [Cell(c.id, c.pool, c.capacity, c.setup, []) for c in plan.problem.cells]
        self.windowed = {c for c, cell in enumerate(plan.problem.cells) if cell.unavailable}  # the cells with planned windows
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
        self.lane_layouts: dict = {}  # subproblem.lanes_of's layouts of this floor's lanes, by the pools used
        self.first_cell = np.array([pool.cells[0] if pool.cells else -1 for pool in plan.problem.pools], np.int64)
        # What scheduler.windowjit.window_build reads: per controller task its unit, planned job,
        # first eligible pool and modes (a run of the flat (pool, duration) table: one per shared
        # list), per planned job its release and family code (family_names: code -> family).
        self.family_names = list(codes)
        self.none_family = None in codes  # the Python dispatcher's case (see construct._dispatch_compiled)
        self.t_job = np.array(plan.t_job, np.int64)
        self.n_jobs = int(self.t_job.max()) + 1 if len(plan.t_job) else 0
        self.task_job_a = np.array(self.task_job, np.int64)
        self.job_release_a = _whole(self.job_release, "plan.problem.jobs[].release")
        run_of: dict[int, tuple[int, int]] = {}
        flat: list[tuple[int, int]] = []
        for modes in self.modes:
            if modes is not None and id(modes) not in run_of:
                run_of[id(modes)] = (len(flat), len(modes))
                flat.extend(modes)
        runs = [run_of[id(modes)] if modes is not None else (0, 0) for modes in self.modes]
        self.tm_start = np.array([r[0] for r in runs], np.int64)
        self.tm_len = np.array([r[1] for r in runs], np.int64)
        self.fm_pool = np.array([m[0] for m in flat], np.int64)
        self.fm_dur = _whole([m[1] for m in flat], "plan.problem.tasks[].modes duration")
        # Per run start and pool, the run's first mode of that pool (-1: none): what the re-plan's check reads.
        self.first_mode = np.full((len(flat) + 1, len(plan.problem.pools)), -1, np.int64)
        for a, k in run_of.values():
            for q in range(a + k - 1, a - 1, -1):
                self.first_mode[a, flat[q][0]] = q
        self.t_pool0 = np.array([pools[0] if pools else -1 for pools in plan.t_pools], np.int64)
        self.ctrl_cell_pool = np.array(plan.cell_pool, np.int64)
        self.plan_cell_a = np.array(self.plan_cell, np.int64)
        self.carried_cell = np.full(len(plan.cell_ids), -1, np.int64)  # the controller's cell -> the carried frame's
        self.carried_cell[self.plan_cell_a] = np.arange(len(self.plan_cell), dtype=np.int64)


def _whole(values, field: str) -> np.ndarray:
    """Whole seconds as an int64 array (a re-plan's compiled passes read them so); else a
    ValueError naming the field and the first value that is not (the controller logs a failed
    re-plan). The scheduler writes none such: its plans' times are ints (Schedule reads them so)."""
    try:
        out = np.array(values)
    except OverflowError:
        out = np.array(values, object)
    if len(values) and out.dtype.kind != "i":
        bad = next((v for v in values if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and -2 ** 63 <= v < 2 ** 63)), values[0])
        raise ValueError(f"replan: {field} must be whole seconds within int64, got {bad!r}")
    return out.astype(np.int64)


_PLANS: dict[int, tuple[weakref.ref, _PlanTasks]] = {}


def _plan_tasks(plan) -> _PlanTasks:
    entry = _PLANS.get(id(plan))
    if entry is None or entry[0]() is not plan:
        entry = _PLANS[id(plan)] = (weakref.ref(plan, lambda _, key=id(plan): _PLANS.pop(key, None)), _PlanTasks(plan))
    return entry[1]


class _Window:
    """The open work planned to start before now + span (closed under predecessors) as the
    carried problem of scheduler.carryin.carry_in's form (units marked carried, time 0 at the cut,
    running work pinned from 0 with its expected rest), held as the arrays scheduler.windowjit
    builds (what the list scheduler, the check and the projection read), plus the list
    scheduler's sub-problem of its open tasks: the lanes (scheduler.subproblem.LaneArrays) and
    the open tasks' modes in the lanes' pools as flat runs.

    Every task kept here is open or running, so carry_in's general path (placements of a previous
    plan, units finished by the cut, changeovers owed by finished work) has nothing to do, and a
    re-plan costs the window's tasks, not copies of them as Task and Job objects. The same
    problem as lists (scheduler.subproblem.open_work_lists' form: `modes`, `preds`, `sub_modes`,
    ...) is made only on demand: for the general (Python) paths and the tests."""

    # Per carried task i (arrays): order_a its controller task, unit_of_a its unit, cur_cell its
    # cell now, modes m_pool/m_dur[m_start:m_start + m_len], predecessors p_idx[p_ptr[i]:p_ptr[i + 1]];
    # free_a the open positions, run_a the running ones with pin_cell, pin_rest (pinned from 0).
    # Per unit: src_job (its planned job), release (carried frame), unit_fam (family code).
    # Per open task (in free_a order): its modes in the lanes' pools (s_start, s_len, s_pool,
    # s_dur), open predecessors (sub_ptr, sub_idx), ready_a; sub: the lanes.
    __slots__ = ("narrow", "ran_on", "started", "order", "order_a", "unit_of_a", "cur_cell", "m_start", "m_len", "m_pool", "m_dur", "p_ptr", "p_idx", "free_a", "run_a",
                 "pin_cell", "pin_rest", "src_job_a", "release", "unit_fam", "static", "cells", "pools", "horizon", "name", "sub", "s_start",
                 "s_len", "s_pool", "s_dur", "sub_ptr", "sub_idx", "ready_a", "sub_in_order", "changed")

    # ---- the same problem as lists, on demand
    @property
    def free(self) -> list[int]:
        return self.free_a.tolist()

    @property
    def pinned(self) -> dict[int, tuple[int, int, int]]:
        """running position -> (cell, 0, rest)"""
        return {i: (c, 0, e) for i, c, e in zip(self.run_a.tolist(), self.pin_cell.tolist(), self.pin_rest.tolist())}

    @property
    def unit_of(self) -> list[int]:
        return self.unit_of_a.tolist()

    @property
    def modes(self) -> list[list[tuple[int, int]]]:
        return _mode_lists(self.m_start, self.m_len, self.m_pool, self.m_dur)

    @property
    def preds(self) -> list[list[int]]:
        return _runs(self.p_ptr, self.p_idx)

    @property
    def src_job(self) -> list[int]:
        return self.src_job_a.tolist()

    @property
    def job_release(self) -> list[int]:
        return self.release.tolist()

    @property
    def job_family(self) -> list[str]:
        names = self.static.family_names
        return [names[f] for f in self.unit_fam.tolist()]

    @property
    def job_ids(self) -> list[str]:
        return list(map(self.static.carried_ids.__getitem__, self.src_job))

    @property
    def ops(self) -> list[str]:
        return self.static.ops

    @property
    def family(self) -> list[str]:
        """Each open task's unit's family."""
        names = self.static.family_names
        return [names[f] for f in self.unit_fam[self.unit_of_a[self.free_a]].tolist()]

    @property
    def sub_modes(self) -> list[list[tuple[int, int]]]:
        return _mode_lists(self.s_start, self.s_len, self.s_pool, self.s_dur)

    @property
    def sub_preds(self) -> list[list[int]]:
        return _runs(self.sub_ptr, self.sub_idx)

    @property
    def ready_at(self) -> list[int]:
        return self.ready_a.tolist()

    @property
    def fixed_on(self) -> dict[int, list[tuple[int, int, str]]]:
        """cell -> the running work pinned on it, as (0, rest, family)"""
        names, out = self.static.family_names, {}
        for c, e, f in zip(self.pin_cell.tolist(), self.pin_rest.tolist(), self.unit_fam[self.unit_of_a[self.run_a]].tolist()):
            out.setdefault(c, []).append((0, e, names[f]))
        return out

    @property
    def families(self) -> set[str]:
        """The open tasks' families."""
        return set(self.family)

    def sub_lanes(self):
        """The lanes as scheduler.subproblem.Lanes (Cells), for the Python dispatcher."""
        modes = self.modes
        return pool_lanes(self.cells, self.pools, self.fixed_on, self.families, [modes[i] for i in self.free_a.tolist()])

    def columns(self, modes: list | None = None) -> Columns:
        """The carried problem as the Python check reads it (`modes`: the check's own, else the window's)."""
        job_ids, unit_of, ops, order = self.job_ids, self.unit_of, self.ops, self.order
        return Columns(self.cells, unit_of, self.modes if modes is None else modes, self.preds, [0] * len(unit_of), self.job_release, self.job_family,
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


def _mode_lists(m_start, m_len, m_pool, m_dur) -> list[list[tuple[int, int]]]:
    """Flat mode runs as one (pool, duration) list per task."""
    flat = list(zip(m_pool.tolist(), m_dur.tolist()))
    return [flat[a:a + k] for a, k in zip(m_start.tolist(), m_len.tolist())]


def open_work(ctrl, span: float) -> _Window:
    """The carried problem of the open work planned to start before now + span and the list
    scheduler's sub-problem of its open tasks around the running ones (see _Window)."""
    from scheduler.windowjit import window_build  # numba only where a re-plan runs

    plan, now = ctrl.plan, ctrl.now
    static = _plan_tasks(plan)
    cut = int(now)
    base = plan.problem
    order_a = _window(ctrl, now + span)
    order = order_a.tolist()
    n = len(order)
    # Only the window's entries of the controller's per-task lists are read (as arrays): the
    # status and cell of each, when each running task started and where, and for the open tasks
    # with a choice of pools whether they are there or on their way (they then stay).
    state = np.fromiter(map(ctrl.status.__getitem__, order), np.int64, n)
    cur_cell = np.fromiter(map(ctrl.cell.__getitem__, order), np.int64, n)
    is_run = state == RUNNING
    run_a, free_a = np.flatnonzero(is_run), np.flatnonzero(~is_run)
    run_tasks = order_a[run_a].tolist()
    started = np.array(list(map(ctrl.started_at.__getitem__, run_tasks)), np.float64)
    ran_on = np.array(list(map(ctrl.ran_on.__getitem__, run_tasks)), np.int64)
    narrow = np.zeros(n, np.bool_)
    flexible = free_a[static.tm_len[order_a[free_a]] > 1]
    if flexible.size:
        arrived, left = ctrl.arrived, ctrl.preds_left
        narrow[flexible] = [bool(arrived[t]) or left[t] == 0 for t in order_a[flexible].tolist()]
    w = _Window()
    (w.unit_of_a, w.src_job_a, w.release, w.pin_cell, w.pin_rest, w.m_start, w.m_len, w.m_pool, w.m_dur, w.p_ptr, w.p_idx, w.sub_ptr, w.sub_idx,
     w.ready_a, w.sub_in_order) = window_build(order_a, static.t_job, static.n_jobs, static.task_job_a, static.job_release_a,
                                                           static.tm_start, static.tm_len, static.fm_pool, static.fm_dur, static.t_ptr, static.t_idx,
                                                           free_a, run_a, started, ran_on, narrow, cur_cell,
                                                           static.ctrl_cell_pool, static.t_pool0, cut)
    w.order, w.order_a, w.cur_cell, w.free_a, w.run_a, w.static = order, order_a, cur_cell, free_a, run_a, static
    w.narrow, w.ran_on, w.started = narrow, ran_on, started  # the controller's, as read (the check reads them too)
    w.unit_fam = static.job_family_code[w.src_job_a]
    pinned_end = np.zeros(len(static.clear_cells), np.int64)  # per cell the end of the work pinned on it (0: none)
    np.maximum.at(pinned_end, w.pin_cell, w.pin_rest)
    w.cells, w.changed = _carried_cells(ctrl, static, pinned_end, cut)
    w.pools = base.pools
    w.horizon = max(int(span), base.horizon - cut, 1)
    w.name = f"{base.name}@{cut}/next+carried"
    # Running work that clashed with a window fails the re-plan's check (a ValueError, which
    # the controller logs as a failed re-plan).
    # The open tasks' sub-problem (open_work_lists' form): the cells' lanes with the pinned work
    # as windows, the open tasks' modes in the lanes' pools.
    present = np.zeros(len(static.family_names), np.bool_)
    present[w.unit_fam[w.unit_of_a[free_a]]] = True
    open_entry = np.ones(len(w.m_pool), np.bool_)
    open_entry[w.m_start[run_a]] = False  # a running task's one mode
    pools_used = tuple(np.flatnonzero(np.bincount(w.m_pool[open_entry], minlength=len(base.pools))).tolist())  # np.unique's, sorted, without a sort of ~10,000 modes
    w.sub = lanes = lanes_of(w.cells, base.pools, pools_used, _flat_windows(w), w.pin_cell, np.zeros(len(run_a), np.int64), w.pin_rest,
                             w.unit_fam[w.unit_of_a[run_a]], present, static.lane_layouts)
    to_sub = np.full(len(base.pools), -1, np.int64)
    for pool, sub in lanes.pool_map.items():
        to_sub[pool] = sub
    sub_pool = to_sub[w.m_pool]
    keep = open_entry & (sub_pool >= 0)
    kept = np.zeros(len(keep) + 1, np.int64)
    np.cumsum(keep, out=kept[1:])
    w.s_start = kept[w.m_start[free_a]]
    w.s_len = kept[w.m_start[free_a] + w.m_len[free_a]] - w.s_start
    w.s_pool, w.s_dur = sub_pool[keep], w.m_dur[keep]
    return w


def _runs(ptr, idx) -> list[list[int]]:
    """Flat runs (ptr, idx) as one list per entry."""
    flat = idx.tolist()
    bounds = ptr.tolist()
    return [flat[a:b] for a, b in zip(bounds, bounds[1:])]


def _window(ctrl, limit: float) -> np.ndarray:
    """The controller tasks running now or open with a planned start before `limit`, closed
    under predecessors (the few open ones outside the window come along), in task order:
    job-major, routing order, so each unit's tasks come together, predecessors first."""
    from scheduler.windowjit import new_predecessors

    plan, status, in_rework = ctrl.plan, ctrl.status, ctrl.in_rework
    t_problem = plan.t_problem
    static = _plan_tasks(plan)
    keep = ctrl.open_before(limit)
    mark = np.zeros(len(t_problem), np.int8)
    new = np.fromiter(keep, np.int64, len(keep))
    kept = [new]
    while len(new):  # almost every predecessor met is kept or done: one round, a compiled walk and a filter of the few met
        met = new_predecessors(mark, new, static.t_ptr, static.t_idx).tolist()
        new = np.array([p for p in met if status[p] != DONE and t_problem[p] >= 0 and not in_rework[p]], np.int64)
        kept.append(new)
    return np.sort(np.concatenate(kept))


def _carried_cells(ctrl, static: _PlanTasks, pinned_end: np.ndarray, cut: int) -> tuple[list[Cell], list[int]]:
    """The floor's cells in the carried frame: their windows after the cut, a stopped cell out
    until its expected return, nothing in the way of the work pinned on them (`pinned_end`: per
    cell the end of that work, 0 where none). Also the cells that may have windows (sorted):
    every other one is its plan's clear copy."""
    up, down_until = ctrl.up, ctrl.down_until
    cells = list(static.clear_cells)  # most cells have no window and are up: their clear copy
    n = len(cells)
    plan_cells = ctrl.plan.problem.cells
    changed = sorted(static.windowed.union(compress(range(n), map(not_, up))))  # cells with planned windows, stopped cells
    for c in changed:
        cell = plan_cells[c]
        # Work running across a planned window pauses through it (the twin and the cells do);
        # the pinned rest is one block, so such a window is left out rather than clash.
        clear = int(pinned_end[c])
        windows = [(max(0, s - cut), e - cut) for s, e in cell.unavailable if e > cut and not (clear and s - cut < clear)] if cell.unavailable else []
        back = int(down_until[c]) - cut
        if not up[c] and back > clear:  # a stopped cell takes nothing new before it is back
            # (A cell back before the work pinned on it ends has no window at all: an empty one
            # would be a boundary that neither the list scheduler nor the check should see.)
            windows.append((clear, back))
        if windows:
            cells[c] = Cell(cell.id, cell.pool, cell.capacity, cell.setup, windows)
    return cells, changed


def _flat_windows(w: _Window, merged: bool = False):
    """calendars.flat_windows of the window's cells, read on the ~25 that may have windows
    (w.changed) rather than on all ~500: the others are clear copies (no run, lo = hi = 0), and
    the runs come in cell order either way."""
    lo, hi = np.zeros(len(w.cells), np.int64), np.zeros(len(w.cells), np.int64)
    changed = w.changed
    lo[changed], hi[changed], w_s, w_e = flat_windows([w.cells[c] for c in changed], merged)
    return lo, hi, w_s, w_e


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
    free, run_a = w.free_a, w.run_a
    n, n_free = len(w.order), len(free)
    planned = np.fromiter(map(ctrl.start.__getitem__, w.order), np.float64, n)
    # What scheduler.carryin.plan_around does, with the plan held as placements per task (arrays)
    # rather than as Problems and named Assignments several times over: the open work around the
    # pinned work, the list scheduler, the lanes mapped back to their cells, and the whole checked
    # against the carried problem (scheduler.validate's rules, compiled).
    cell = np.empty(n, np.int64)
    start = np.zeros(n, np.int64)
    end = np.empty(n, np.int64)
    cell[run_a], end[run_a] = w.pin_cell, w.pin_rest
    if n_free:
        # The old plan's order first: a re-plan re-times and re-balances, it does not reshuffle.
        cell[free], start[free], end[free] = _dispatch(w, planned[free] - now)
    modes, pinned_cell = _check_modes(ctrl, w)
    validate_arrays(lambda: w.columns(_mode_lists(*modes)), cell, start, end, *modes, w.p_ptr, w.p_idx, w.unit_of_a, np.zeros(n, np.int64),
                    w.release, w.unit_fam, w.cells, pinned=(run_a, pinned_cell))
    current = _project(ctrl, w, planned)
    # A task moves where the re-plan starts it on another cell, at least the gain sooner.
    to_cell = w.static.plan_cell_a[cell[free]]
    at = start[free]
    moved = _sooner(np.flatnonzero(to_cell != w.cur_cell[free]), at, current[free], ctrl.config.replan_gain_s)
    cut = int(now)
    changes = [(t, c, float(a) + cut) for t, c, a in zip(w.order_a[free[moved]].tolist(), to_cell[moved].tolist(), at[moved].tolist())]
    return changes, {"tasks": n_free, "pinned": len(run_a)}


def _check_modes(ctrl, w: _Window):
    """Each carried task's modes as the check reads them, from the plan's own (the table
    _PlanTasks made once from plan.problem.tasks' modes) and the controller's lists, not from
    window_build's arrays the list scheduler reads: open work its plan's modes (only its first
    mode of its current pool where it is there or on its way, if it has one there: the check
    reads the first mode of a cell's pool only), running work its cell's pool for its expected
    rest (started + the plan's duration there, else its first mode's; at least a second past the
    cut). Returns ((m_start, m_len, m_pool, m_dur), each running task's cell in the carried
    frame: where the check wants it, from time 0)."""
    static = w.static
    order_a, cut = w.order_a, int(ctrl.now)
    first_mode, ctrl_cell_pool = static.first_mode, static.ctrl_cell_pool
    m_start, m_len = static.tm_start[order_a], static.tm_len[order_a]
    narrow = np.flatnonzero(w.narrow)
    if len(narrow):
        c = w.cur_cell[narrow]
        here = np.where(c >= 0, ctrl_cell_pool[c], static.t_pool0[order_a[narrow]])
        q = first_mode[m_start[narrow], here]
        there = q >= 0
        m_start[narrow[there]], m_len[narrow[there]] = q[there], 1
    run_tasks = order_a[w.run_a]
    ran_on, started = w.ran_on, w.started  # the controller's lists, as open_work read them
    pool = ctrl_cell_pool[ran_on]
    q = first_mode[static.tm_start[run_tasks], pool]
    q = np.where(q >= 0, q, static.tm_start[run_tasks])  # its first mode's, where its cell's pool has none
    rest = np.maximum((started + static.fm_dur[q]).astype(np.int64), cut + 1) - cut  # int(): toward zero, as astype
    size = len(static.fm_pool)
    m_start[w.run_a], m_len[w.run_a] = np.arange(size, size + len(run_tasks), dtype=np.int64), 1
    modes = (m_start, m_len, np.concatenate((static.fm_pool, pool)), np.concatenate((static.fm_dur, rest)))
    return modes, static.carried_cell[ran_on]


EXACT = 2 ** 53  # every int of at most this size is a float64 exactly


def _sooner(candidates: np.ndarray, at: np.ndarray, current: np.ndarray, gain) -> np.ndarray:
    """The candidates k with at[k] + gain <= current[k], as Python compares them (the int start
    plus the gain, then exactly against the int): numpy's compare, exact while every time and the
    gain are within 2**53, redone in Python for the entries past that (far-off times)."""
    a, c = at[candidates], current[candidates]
    if not (isinstance(gain, (int, float)) and -EXACT <= gain <= EXACT):
        return candidates[[x + gain <= y for x, y in zip(a.tolist(), c.tolist())]]
    sooner = a + gain <= c
    for k in np.flatnonzero((a > EXACT) | (a < -EXACT) | (c > EXACT) | (c < -EXACT)).tolist():
        sooner[k] = int(a[k]) + gain <= int(c[k])
    return candidates[sooner]


def _dispatch(w: _Window, priority: np.ndarray):
    """The list scheduler on the window's open tasks, in `priority` order: (cell, start, end)
    arrays, the cells the carried problem's. Compiled on the window's arrays; the general path
    (construct.dispatch_on_lanes on lists) where they are outside what that holds: predecessors
    out of index order, a NaN key, a task with no lane, a None family, another interpreter's sets."""
    from scheduler.construct import WORK_WEIGHT, run_arrays
    from scheduler.dispatchjit import sets_iterate_as_reproduced

    lanes, n_free = w.sub, len(w.free_a)
    placed = None
    if (w.sub_in_order and len(lanes.lane_pool) and w.s_len.all() and not w.static.none_family and not np.isnan(priority).any()
            and sets_iterate_as_reproduced()):
        keys, rank = np.unique(priority, return_inverse=True)  # construct._key_ranks: each distinct key's rank
        codes = w.unit_fam[w.unit_of_a[w.free_a]]
        # Families numbered by first appearance among the open tasks, as construct numbers them.
        seen, first = np.unique(codes, return_index=True)
        renumber = np.empty(int(seen.max()) + 1, np.int64)
        renumber[seen[np.argsort(first)]] = np.arange(len(seen))
        task_of = np.repeat(np.arange(n_free, dtype=np.int64), np.diff(w.sub_ptr))
        placed = run_arrays(lanes.n_pools, w.s_start, w.s_len, w.s_pool, w.s_dur, w.sub_ptr, w.sub_idx, task_of, w.ready_a, renumber[codes], len(seen),
                            rank.astype(np.int64), len(keys), None, w.horizon, "mw", WORK_WEIGHT, lanes)
    if placed is None:
        free = w.free
        pinned = w.pinned
        rows = dispatch_on_lanes(lanes, w.sub_lanes, w.sub_modes, w.sub_preds, w.ready_at, w.family, w.horizon, objective="mw", priority=priority.tolist(),
                                 tails_of=lambda: task_tails(restrict(w.problem(), pinned, set(free)).problem), preds_runs=(w.sub_ptr, w.sub_idx))
        try:
            placed = tuple(np.array(column, np.int64).reshape(n_free) for column in zip(*rows)) if rows else (np.empty(0, np.int64),) * 3
        except OverflowError:  # the Python dispatcher's ints have no bound; the controller logs a ValueError as a failed re-plan
            k = next(k for k, row in enumerate(rows) if not all(-2 ** 63 <= x < 2 ** 63 for x in row))
            i = free[k]
            raise ValueError(f"replan: open task {w.job_ids[w.unit_of[i]]}/{w.ops[w.order[i]]} is re-planned to {rows[k]} (cell, start, end), past "
                             f"int64 seconds: its plan's durations (plan.problem.tasks[].modes) and job releases are too large") from None
    return placed


def repair_cell(ctrl, cell: int, expected_up: float) -> list[tuple[int, int, float]]:
    """(task, new cell, planned start) for the open tasks of `cell`'s queue that
    scheduler.repair_pool moves to twin cells when `cell` stops until `expected_up`: only the
    cell's pool is read (its cells' running work and queues inside the repair window), so the
    decision costs the pool's queues, not the floor's; and when nothing of the stopped cell's
    queue is inside the window (nothing to move), only that queue."""
    plan, now = ctrl.plan, ctrl.now
    pool = plan.cell_pool[cell]
    cells = plan.pool_cells[pool]
    limit = now + ctrl.config.repair_window_s
    cut = int(now)
    pause = max(0, int(expected_up) - cut)
    duration = _durations(plan)
    own = _queued(ctrl, cell, limit, pool, duration)
    if not own:
        return []
    free: dict[int, list[int]] = {c: [] for c in cells}
    started_at, ran_on = ctrl.started_at, ctrl.ran_on
    for t in ctrl.running_tasks(cells):
        c = ran_on[t]
        end = int(started_at[t] + duration(t, pool))
        free[c].append(end + (pause if c == cell else 0))  # work on the stopped cell waits out the stop
    lanes = []
    for c in cells:
        queue = own if c == cell else _queued(ctrl, c, limit, pool, duration)
        windows = [(s, e) for s, e in plan.problem.cells[c].unavailable if e > cut]
        if c != cell and not ctrl.up[c]:
            windows.append((cut, max(cut, int(ctrl.down_until[c]))))
        lanes.append(PoolCell(plan.cell_capacity[c], free[c], queue, int(plan.cell_setup[c]), ctrl.family[c], windows))
    moves = repair_pool(lanes, cells.index(cell), max(cut, int(expected_up)), cut)
    return [(t, cells[k], float(start)) for t, k, start in moves]


def _queued(ctrl, c: int, limit: float, pool: int, duration) -> list[QueuedTask]:
    """Cell c's open sequence planned to start before `limit`, as repair_pool reads it."""
    queue, start, family = [], ctrl.start, ctrl.plan.t_family
    for t in ctrl.queue(c):
        if start[t] >= limit:
            break
        queue.append(QueuedTask(t, int(_ready(ctrl, t, duration)), int(start[t]), duration(t, pool), family[t]))
    return queue


_MISSING = object()


def _durations(plan):
    """Planned seconds of task t on a cell of `pool` (the plan's own, for availability if it
    was planned so; else its planned time), as a function of (t, pool) that looks each (modes
    list, pool) up once: a repair reads ~1,000 running and queued tasks of one pool, which share
    a few modes lists (one per capability)."""
    tasks, t_problem, t_start, t_end, seen = plan.problem.tasks, plan.t_problem, plan.t_start, plan.t_end, {}

    def duration(t: int, pool: int) -> int:
        p = t_problem[t]
        if p >= 0:
            modes = tasks[p].modes
            key = (id(modes), pool)
            d = seen.get(key, _MISSING)
            if d is _MISSING:
                d = seen[key] = next((d for q, d in modes if q == pool), None)
            if d is not None:
                return d
        return int(t_end[t] - t_start[t]) or 1

    return duration


def _ready(ctrl, t: int, duration) -> float:
    """Earliest t may start: now, its planned start (the controller's gate), and its
    predecessors' expected ends (running: started + planned time; waiting: planned end);
    `duration` the planned seconds of a task on a pool (_durations)."""
    plan = ctrl.plan
    at = max(ctrl.now, plan.t_start[t] - ctrl.config.early_s)
    for p in plan.t_preds[t]:
        if ctrl.status[p] == RUNNING:
            at = max(at, ctrl.started_at[p] + duration(p, plan.cell_pool[ctrl.ran_on[p]]))
        elif ctrl.status[p] == WAITING:
            at = max(at, max(ctrl.now, ctrl.start[p]) + duration(p, ctrl.pool_of(p)))
    return at


def _project(ctrl, w: _Window, planned: np.ndarray) -> np.ndarray:
    """Each carried task's start in the current sequences timed forward from now (time 1 of the
    carried frame; 0 is the pinned work's): each task on its cell in planned order, after its
    predecessors, the cell's previous work (and changeover) and outside its windows.
    _project_reference's pass, compiled (scheduler.projectjit) on the window's arrays; `planned`
    the carried tasks' planned starts."""
    from scheduler.projectjit import CYCLE, project

    static = w.static
    free, run_a = w.free_a, w.run_a
    cell_lo, cell_hi, w_s, w_e = _flat_windows(w, merged=True)  # the few cells with windows have a run
    starts, status = project(planned, w.p_ptr, w.p_idx, run_a, w.pin_cell, np.zeros(len(run_a), np.int64), w.pin_rest, free, w.cur_cell[free],
                             w.m_start[free], w.m_len[free], w.m_pool, w.m_dur, static.cell_pool, static.cell_capacity, static.cell_setup,
                             cell_lo, cell_hi, w_s, w_e, static.first_cell, w.unit_of_a, w.release, w.unit_fam)
    if status == CYCLE:
        return np.array(_project_reference(ctrl, w), np.int64)  # raises, naming a task on the cycle
    return starts


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
