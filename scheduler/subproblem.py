"""Cut a Problem down to a set of free operations around a fixed plan, and glue the result back.

The sub-problem is an ordinary Problem, so the core CP-SAT model and the list scheduler solve
it unchanged. Fixed work becomes cell unavailability: on single-job cells its interval, widened
by the cell's setup when a free job of another family could sit next to it; on a capacity-k
cell the fixed jobs are packed onto k lanes and each lane becomes a single-job cell of its own.
A free operation whose predecessor is fixed gets that predecessor's end as its release. Free
sets must be closed under successors (nothing fixed may wait for free work), so any plan of
the sub-problem, glued to the fixed work, is a valid plan of the whole.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from scheduler.calendars import flat_windows
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.schedule import Assignment, Schedule

Placement = tuple[int, int, int]  # (cell index, start, end)


@dataclass
class SubProblem:
    problem: Problem
    task_of: list[int]  # sub task index -> task index in the whole problem
    cell_of: dict[str, str]  # sub cell id -> cell id in the whole problem


def placements(problem: Problem, schedule: Schedule) -> dict[int, Placement]:
    """Task index -> (cell index, start, end) of every assignment in `schedule`."""
    task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    return {task_index[(a.job, a.op)]: (cell_index[a.cell], a.start, a.end) for a in schedule.assignments}


def close_under_successors(problem: Problem, free: set[int]) -> set[int]:
    successors: list[list[int]] = [[] for _ in problem.tasks]
    for t, task in enumerate(problem.tasks):
        for p in task.predecessors:
            successors[p].append(t)
    stack, out = list(free), set(free)
    while stack:
        for s in successors[stack.pop()]:
            if s not in out:
                out.add(s)
                stack.append(s)
    return out


@dataclass
class OpenWork:
    """The free tasks around fixed work as lists per sub task, what the list scheduler reads
    (scheduler.construct.dispatch_lists): `restrict` wraps them into a Problem."""

    cells: list[Cell]  # the sub-problem's cells: a capacity-k cell's lanes are cells of their own
    pools: list[Pool]
    cell_of: dict[str, str]  # sub cell id -> cell id in the whole problem
    cell_index: list[int]  # sub cell index -> cell index in the whole problem
    task_of: list[int]  # sub task index -> task index in the whole problem
    modes: list[list[tuple[int, int]]]  # in sub pool indices (one shared list per distinct set)
    predecessors: list[list[int]]  # sub task indices
    release: list[int]  # the task's own release, raised to its fixed predecessors' ends


def open_work_lists(problem: Problem, fixed: dict[int, Placement], free: set[int] | list[int], cells_allowed: dict[int, list[int]] | None = None, not_before: int = 0) -> OpenWork:
    """restrict's sub-problem as lists (see OpenWork); `free` may be given sorted already."""
    tasks = free if isinstance(free, list) else sorted(free)
    local = dict(zip(tasks, range(len(tasks))))
    all_tasks, all_jobs, all_cells = problem.tasks, problem.jobs, problem.cells
    free_tasks = [all_tasks[t] for t in tasks]
    families = {all_jobs[task.job].family for task in free_tasks}
    fixed_on: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for t, (c, s, e) in fixed.items():
        if e + all_cells[c].setup >= not_before:
            fixed_on[c].append((s, e, all_jobs[all_tasks[t].job].family))

    # Many tasks share one modes list (one per capability in a built problem): collect and map each once.
    modes_of = {id(task.modes): task.modes for task in free_tasks}
    lanes = pool_lanes(all_cells, problem.pools, fixed_on, families, modes_of.values(), cells_allowed, not_before)
    sub_modes = {k: lanes.sub_modes(modes) for k, modes in modes_of.items()}

    modes_out = [sub_modes[id(task.modes)] for task in free_tasks]
    preds_out: list[list[int]] = []
    releases: list[int] = []
    for t, task in zip(tasks, free_tasks):
        release = task.release if task.release > not_before else not_before
        preds: list[int] = []
        if not task.predecessors:  # a re-plan's tasks whose predecessors are done: about half
            preds_out.append(preds)
            releases.append(release)
            continue
        for p in task.predecessors:
            k = local.get(p)
            if k is not None:
                preds.append(k)
            elif p in fixed:
                end = fixed[p][2]
                if end > release:
                    release = end
            else:
                raise ValueError(f"restrict: predecessor {p} of free task {t} is neither free nor fixed")
        preds_out.append(preds)
        releases.append(release)
    return OpenWork(lanes.cells, lanes.pools, lanes.cell_of, lanes.cell_index, tasks, modes_out, preds_out, releases)


@dataclass
class Lanes:
    """The cells of a sub-problem (see open_work_lists): the pools its free work may use, each
    cell's lanes with the fixed work on them as windows."""

    cells: list[Cell]
    pools: list[Pool]
    pool_map: dict[int, int]  # pool -> sub pool
    cell_of: dict[str, str]  # sub cell id -> cell id in the whole problem
    cell_index: list[int]  # sub cell index -> cell index in the whole problem

    def sub_modes(self, modes: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A free task's modes in sub pool indices."""
        pool_map = self.pool_map
        return [(pool_map[pool], d) for pool, d in modes if pool in pool_map]


def pool_lanes(cells: list[Cell], pools: list[Pool], fixed_on: dict[int, list[tuple[int, int, str]]], families: set[str], modes_lists,
               cells_allowed: dict[int, list[int]] | None = None, not_before: int = 0) -> Lanes:
    """The sub-problem's cells for free work with these distinct `modes_lists`, of these
    `families`, around the fixed work on each cell (`fixed_on`: cell -> (start, end, family))."""
    pools_used = sorted({pool for modes in modes_lists for pool, _ in modes})
    sub_cells: list[Cell] = []
    sub_pools: list[Pool] = []
    pool_map: dict[int, int] = {}
    cell_of: dict[str, str] = {}
    cell_index: list[int] = []
    for pool in pools_used:
        ids: list[int] = []
        for c in (cells_allowed or {}).get(pool, pools[pool].cells):
            cell = cells[c]
            capacity, setup = (1, 0) if cell.capacity > 1 else (1, cell.setup)
            open_windows = [w for w in cell.unavailable if w[1] > not_before]
            for lane_id, busy in _lanes(cell, fixed_on.get(c, ()), families):
                ids.append(len(sub_cells))
                if busy:
                    windows = open_windows + busy
                    windows.sort()
                else:  # a bay's lanes are mostly free of fixed work and windows
                    windows = sorted(open_windows) if open_windows else []
                sub_cells.append(Cell(lane_id, len(sub_pools), capacity, setup, windows))
                cell_of[lane_id] = cell.id
                cell_index.append(c)
        if ids:
            pool_map[pool] = len(sub_pools)
            sub_pools.append(Pool(pools[pool].name, ids))
    return Lanes(sub_cells, sub_pools, pool_map, cell_of, cell_index)


class LaneArrays(NamedTuple):
    """pool_lanes' lanes as the compiled list scheduler reads them (scheduler.dispatchjit.run):
    per lane its sub pool, setup and cell in the whole problem, and its windows merged (as
    scheduler.calendars.CellCalendar merges them) as the run w_s/w_e[lo:hi]."""

    n_pools: int
    pool_map: dict[int, int]  # pool -> sub pool
    lane_pool: np.ndarray
    lane_setup: np.ndarray
    lane_report: np.ndarray
    lane_wlo: np.ndarray
    lane_whi: np.ndarray
    w_s: np.ndarray
    w_e: np.ndarray

    def sub_modes(self, modes: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A free task's modes in sub pool indices (Lanes.sub_modes)."""
        pool_map = self.pool_map
        return [(pool_map[pool], d) for pool, d in modes if pool in pool_map]


def pool_lane_arrays(cells: list[Cell], pools: list[Pool], fixed_on: dict[int, list[tuple[int, int, str]]], families: set[str], modes_lists,
                     layouts: dict | None = None) -> LaneArrays:
    """pool_lanes(cells, pools, fixed_on, families, modes_lists) as LaneArrays, without a Cell per
    lane. The lanes' layout (pools, setups, cells: one lane per single-job cell, k per bay) depends
    only on the pools used; `layouts` (a dict the caller keeps for one floor) holds it from one
    call to the next, so a call only fills in the windows of the cells that have any (a re-plan's
    ~1,500 lanes are mostly bay places with no fixed work and no window). A re-plan calls lanes_of
    on its arrays; this list form is what the tests compare with pool_lanes, input for input."""
    return lane_arrays(cells, pools, fixed_on, families, tuple(sorted({pool for modes in modes_lists for pool, _ in modes})), layouts)


def lane_arrays(cells: list[Cell], pools: list[Pool], fixed_on: dict[int, list[tuple[int, int, str]]], families: set[str], pools_used: tuple[int, ...],
                layouts: dict | None = None) -> LaneArrays:
    """pool_lane_arrays for the free work's pools given as they are (sorted, distinct)."""
    codes: dict[str, int] = {}
    fixed = [(c, s, e, codes.setdefault(family, len(codes))) for c, items in fixed_on.items() for s, e, family in items]
    present = np.zeros(len(codes) + len(families), np.bool_)
    for family in families:
        present[codes.setdefault(family, len(codes))] = True
    f_cell, f_s, f_e, f_fam = (np.array(column, np.int64) for column in zip(*fixed)) if fixed else (np.empty(0, np.int64),) * 4
    return lanes_of(cells, pools, pools_used, flat_windows(cells), f_cell, f_s, f_e, f_fam, present, layouts)


def lanes_of(cells: list[Cell], pools: list[Pool], pools_used: tuple[int, ...], windows, f_cell, f_s, f_e, f_fam, fam_present,
             layouts: dict | None = None) -> LaneArrays:
    """lane_arrays on arrays: the cells' windows as calendars.flat_windows gives them, the fixed work as
    (cell, start, end, family code) columns, fam_present[code] whether a free task is of that
    family. The lanes' windows are made in one compiled pass (scheduler.windowjit.lane_windows)."""
    from scheduler.windowjit import lane_windows

    layout = layouts.get(pools_used) if layouts is not None else None
    if layout is None:
        layout = _lane_layout(cells, pools, pools_used)
        if layouts is not None:
            layouts[pools_used] = layout
    pool_map, lane_pool, lane_setup, lane_cell, first_lane, capacity, setup = layout
    lane_lo, lane_hi, w_s, w_e, bad = lane_windows(len(lane_pool), first_lane, capacity, setup, *windows, f_cell, f_s, f_e, f_fam, fam_present)
    if bad >= 0:
        cell = cells[f_cell[bad]]
        raise ValueError(f"fixed: more work at time {f_s[bad]} on cell {cell.id} than its {cell.capacity} places")
    return LaneArrays(len(pool_map), pool_map, lane_pool, lane_setup, lane_cell, lane_lo, lane_hi, w_s, w_e)


def _lane_layout(cells: list[Cell], pools: list[Pool], pools_used: tuple[int, ...]):
    """(pool map, per lane its sub pool, setup and cell, each cell's first lane (-1: not in these
    pools), per cell its capacity and setup) of pool_lanes' lanes for these pools: a single-job
    cell is one lane, a capacity-k cell k."""
    pool_map: dict[int, int] = {}
    lane_pool: list[int] = []
    lane_setup: list[int] = []
    lane_cell: list[int] = []
    first_lane: dict[int, int] = {}
    for pool in pools_used:
        ids = pools[pool].cells
        if not ids:
            continue
        sub = pool_map[pool] = len(pool_map)
        for c in ids:
            cell = cells[c]
            k = cell.capacity if cell.capacity > 1 else 1
            first_lane[c] = len(lane_pool)
            lane_pool.extend([sub] * k)
            lane_setup.extend([cell.setup if cell.capacity <= 1 else 0] * k)
            lane_cell.extend([c] * k)
    first = np.full(len(cells), -1, np.int64)
    for c, lane in first_lane.items():
        first[c] = lane
    as_array = np.array
    return (pool_map, as_array(lane_pool, np.int64), as_array(lane_setup, np.int64), as_array(lane_cell, np.int64), first,
            as_array([cell.capacity for cell in cells], np.int64), as_array([cell.setup for cell in cells], np.int64))


def restrict(problem: Problem, fixed: dict[int, Placement], free: set[int], cells_allowed: dict[int, list[int]] | None = None, name: str = "", not_before: int = 0) -> SubProblem:
    """The free tasks as a Problem around the `fixed` placements. `cells_allowed` may narrow a
    pool to some of its cells, and `not_before` keeps free work after a time (restrictions keep
    every sub-plan valid for the whole); fixed work that ends by then is left out of the model."""
    lists = open_work_lists(problem, fixed, free, cells_allowed, not_before)
    all_tasks, all_jobs = problem.tasks, problem.jobs
    jobs: list[Job] = []
    job_map: dict[int, int] = {}
    sub_tasks: list[Task] = []
    for i, t in enumerate(lists.task_of):
        task = all_tasks[t]
        j = job_map.get(task.job)
        if j is None:
            job = all_jobs[task.job]
            j = job_map[task.job] = len(jobs)
            jobs.append(Job(job.id, job.product, job.family, job.category, job.mw, job.release, job.due, job.weight))
        jobs[j].tasks.append(i)
        sub_tasks.append(Task(j, task.op, lists.modes[i], lists.predecessors[i], task.capability, lists.release[i]))
    sub = Problem(lists.cells, lists.pools, jobs, sub_tasks, problem.horizon, name or f"{problem.name}/sub")
    return SubProblem(sub, lists.task_of, lists.cell_of)


def _lanes(cell: Cell, busy, free_families: set[str]) -> list[tuple[str, list[tuple[int, int]]]]:
    """(sub cell id, fixed intervals) for each lane of a cell."""
    if cell.capacity <= 1:
        out = []
        for s, e, family in busy:
            # A free job of another family could follow or precede this work: keep a setup clear.
            pad = cell.setup if cell.setup and (free_families - {family}) else 0
            # Zero-length work still may not sit inside other work on a single-job cell.
            out.append((max(0, s - pad), max(e + pad, s + 1)))
        return [(cell.id, out)]
    lanes: list[list[tuple[int, int]]] = [[] for _ in range(cell.capacity)]
    # Interval graphs colour greedily in start order: a lane whose last job has ended exists
    # whenever the cell never held more than its capacity. The lowest such lane takes the job:
    # `free` holds the lanes whose last job has ended by now, `taken` (end, lane) the others.
    free = list(range(cell.capacity))
    taken: list[tuple[int, int]] = []
    for s, e, _ in sorted(busy):
        if e <= s:
            continue
        while taken and taken[0][0] <= s:
            heapq.heappush(free, heapq.heappop(taken)[1])
        if not free:
            raise ValueError(f"fixed: more work at time {s} on cell {cell.id} than its {cell.capacity} places")
        lane = heapq.heappop(free)
        lanes[lane].append((s, e))
        heapq.heappush(taken, (e, lane))
    return list(zip(_lane_ids(cell.id, cell.capacity), lanes))


@lru_cache(maxsize=4096)
def _lane_ids(cell_id: str, capacity: int) -> tuple[str, ...]:
    """A capacity-k cell's lanes' ids: made once per cell, not once per re-plan."""
    return tuple(f"{cell_id}#{k}" for k in range(capacity))


def around(problem: Problem, fixed: dict[int, Placement], plan_open: Callable[[Problem], Schedule]) -> list[Assignment]:
    """Every operation of `problem`: the `fixed` ones where they are, the others planned by
    `plan_open` as a sub-problem around them (not called when nothing is open). `fixed` must
    be closed under predecessors (running work and what it waits for)."""
    free = set(range(problem.n_operations)) - set(fixed)
    if not free:
        return glue(problem, fixed, None, Schedule([], problem.horizon))
    sub = restrict(problem, fixed, free, name=f"{problem.name}/open")
    return glue(problem, fixed, sub, plan_open(sub.problem))


def glue(problem: Problem, fixed: dict[int, Placement], sub: SubProblem | None, sub_plan: Schedule) -> list[Assignment]:
    """Fixed assignments plus the sub-plan's, with lane cells mapped back to their cells."""
    out = [Assignment(problem.jobs[problem.tasks[t].job].id, problem.tasks[t].op, problem.cells[c].id, s, e) for t, (c, s, e) in fixed.items()]
    for a in sub_plan.assignments:
        out.append(Assignment(a.job, a.op, sub.cell_of[a.cell], a.start, a.end))  # type: ignore[union-attr]
    return out
