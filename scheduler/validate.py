"""Independent checker of a Schedule against its Problem. Written apart from the solver:
it re-derives every rule from the problem data and trusts nothing the solver says."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

from scheduler.problem import Cell, Problem
from scheduler.schedule import Schedule


class InvalidSchedule(ValueError):
    def __init__(self, violations: list[str]) -> None:
        self.violations = violations
        more = f" (+{len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__("; ".join(violations[:5]) + more)


# A plan as the checks read it: `at[t]` is (cell index, start, end) of task t or None, and
# `order` lists the placed tasks in the order their sentences come (the schedule's order). Plain
# lists and tuples: a re-plan inside the twin checks thousands of tasks a few dozen times a
# week, and every schedule is checked in full.
_At = Sequence[tuple[int, int, int] | None]


class Columns(NamedTuple):
    """A Problem as the checks read it: one list per field. A caller that holds its problem so
    (a re-plan's open work, built from the floor's state a few dozen times a week) is checked
    without Task and Job objects made for it; `of` reads a Problem."""

    cells: Sequence[Cell]
    task_job: Sequence[int]
    task_modes: Sequence[Sequence[tuple[int, int]]]  # (pool, duration); the first mode of a pool counts
    task_preds: Sequence[Sequence[int]]
    task_release: Sequence[int]
    job_release: Sequence[int]
    job_family: Sequence[str]
    name: Callable[[int], str]  # task -> "job id/op", for the sentences

    @classmethod
    def of(cls, problem: Problem) -> Columns:
        tasks, jobs = problem.tasks, problem.jobs
        return cls(problem.cells, [t.job for t in tasks], [t.modes for t in tasks], [t.predecessors for t in tasks], [t.release for t in tasks],
                   [j.release for j in jobs], [j.family for j in jobs], lambda t: _name(problem, t))


def violations(problem: Problem, schedule: Schedule, complete: bool = True) -> list[str]:
    """Every broken rule, as sentences. `complete=False` allows tasks to be left unscheduled
    (a partial plan) as long as nothing scheduled depends on an unscheduled task."""
    out: list[str] = []
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    job_ids = [job.id for job in problem.jobs]
    task_index = {(job_ids[t.job], t.op): i for i, t in enumerate(problem.tasks)}
    at: list[tuple[int, int, int] | None] = [None] * len(problem.tasks)
    order: list[int] = []
    for a in schedule.assignments:
        t = task_index.get((a.job, a.op))
        if t is None:
            out.append(f"{a.job}/{a.op}: no such operation in the problem")
            continue
        c = cell_index.get(a.cell)
        if c is None:
            out.append(f"{a.job}/{a.op}: unknown cell {a.cell!r}")
            continue
        if at[t] is not None:
            out.append(f"{a.job}/{a.op}: scheduled more than once")
            continue
        at[t] = (c, a.start, a.end)
        order.append(t)
    return out + _check_placed(Columns.of(problem), order, at, complete)


def placed_violations(problem: Problem, placements: Sequence[tuple[int, int, int] | None], complete: bool = True) -> list[str]:
    """violations() of a plan given as (cell index, start, end) per task (None: not placed), in
    the problem's task order: the same checks, without naming each operation by its ids first
    (a re-plan inside the twin holds its plan so, and checks it a few dozen times a week)."""
    return columns_violations(Columns.of(problem), placements, complete)


def columns_violations(problem: Columns, placements: Sequence[tuple[int, int, int] | None], complete: bool = True) -> list[str]:
    """placed_violations() of a problem given as Columns."""
    out: list[str] = []
    if len(placements) != len(problem.task_job):
        return [f"placements: {len(placements)} entries for {len(problem.task_job)} operations"]
    n_cells = len(problem.cells)
    at = placements
    for t, p in enumerate(placements):
        if p is not None and not 0 <= p[0] < n_cells:
            if at is placements:
                at = list(placements)
            out.append(f"{problem.name(t)}: unknown cell index {p[0]}")
            at[t] = None  # type: ignore[index]
    order = [t for t, p in enumerate(at) if p is not None]
    return out + _check_placed(problem, order, at, complete)


def validate_placed(problem: Problem | Columns, placements: Sequence[tuple[int, int, int] | None], complete: bool = True) -> None:
    """validate() for a plan held as placements per task (see placed_violations), of a Problem
    or of Columns."""
    found = columns_violations(problem if isinstance(problem, Columns) else Columns.of(problem), placements, complete)
    if found:
        raise InvalidSchedule(found)


def validate(problem: Problem, schedule: Schedule, complete: bool = True) -> None:
    """Raise InvalidSchedule listing what is wrong; return quietly when the schedule is valid."""
    found = violations(problem, schedule, complete)
    if found:
        raise InvalidSchedule(found)


def _check_placed(problem: Columns, order: list[int], at: _At, complete: bool) -> list[str]:
    return _check_modes(problem, order, at) + _check_precedence_and_release(problem, at, complete) + _check_cells(problem, order, at)


def _name(problem: Problem, t: int) -> str:
    return f"{problem.jobs[problem.tasks[t].job].id}/{problem.tasks[t].op}"


def _check_modes(problem: Columns, order: list[int], at: _At) -> list[str]:
    out = []
    task_modes, cells, name = problem.task_modes, problem.cells, problem.name
    cell_pool = [cell.pool for cell in cells]
    for t in order:
        c, start, end = at[t]  # type: ignore[misc]
        pool = cell_pool[c]
        modes = task_modes[t]
        if len(modes) == 1:  # most tasks, and all running work
            mp, d = modes[0]
            if mp != pool:
                out.append(f"{name(t)}: cell {cells[c].id} is not eligible")
            elif end - start != d:
                out.append(f"{name(t)}: lasts {end - start}s on {cells[c].id}, must be {d}s")
        else:
            for mp, d in modes:
                if mp == pool:  # the first mode of the cell's pool is the one that counts
                    if end - start != d:
                        out.append(f"{name(t)}: lasts {end - start}s on {cells[c].id}, must be {d}s")
                    break
            else:
                out.append(f"{name(t)}: cell {cells[c].id} is not eligible")
        if start < 0:
            out.append(f"{name(t)}: starts before time 0")
    return out


def _check_precedence_and_release(problem: Columns, at: _At, complete: bool) -> list[str]:
    out = []
    job_release, task_release, name = problem.job_release, problem.task_release, problem.name
    for t, (job, preds) in enumerate(zip(problem.task_job, problem.task_preds)):
        p = at[t]
        if p is None:
            if complete:
                out.append(f"{name(t)}: not scheduled")
            continue
        start = p[1]
        release = job_release[job]
        if task_release[t] > release:
            release = task_release[t]
        if start < release:
            out.append(f"{name(t)}: starts at {start} before its release {release}")
        for pred in preds:
            q = at[pred]
            if q is None:
                out.append(f"{name(t)}: scheduled but its predecessor {name(pred)} is not")
            elif q[2] > start:
                out.append(f"{name(t)}: starts at {start} before predecessor {name(pred)} ends at {q[2]}")
    return out


def _check_cells(problem: Columns, order: list[int], at: _At) -> list[str]:
    """Capacity (with setups between families on single-job cells) and unavailability."""
    out = []
    per_cell: dict[int, list[int]] = defaultdict(list)
    for t in order:
        per_cell[at[t][0]].append(t)  # type: ignore[index]
    task_job, job_family, name = problem.task_job, problem.job_family, problem.name
    for c, items in per_cell.items():
        cell = problem.cells[c]
        windows = cell.unavailable
        for t in items if windows else ():
            _, start, end = at[t]  # type: ignore[misc]
            for w_start, w_end in windows:
                if start < w_end and w_start < end and end > start and w_end > w_start:  # [s, s) holds no time
                    out.append(f"{name(t)}: runs on {cell.id} during its unavailability [{w_start}, {w_end})")
        if cell.capacity == 1:
            # By (start, end): the cell is the same for all, and the sort is stable, so equal
            # intervals keep the schedule's order.
            items.sort(key=at.__getitem__)
            setup = cell.setup
            for a, b in zip(items, items[1:]):
                a_end, b_start = at[a][2], at[b][1]  # type: ignore[index]
                gap = setup if setup and job_family[task_job[a]] != job_family[task_job[b]] else 0
                if b_start < a_end + gap:
                    what = "overlaps" if b_start < a_end else f"leaves less than the {gap}s setup after"
                    out.append(f"{cell.id}: {name(b)} {what} {name(a)}")
        else:
            events = sorted([(at[t][1], 1) for t in items] + [(at[t][2], -1) for t in items])  # type: ignore[index]
            load = 0
            for time, delta in events:
                load += delta
                if load > cell.capacity:
                    out.append(f"{cell.id}: {load} jobs at time {time}, capacity {cell.capacity}")
                    break
    return out


def validate_arrays(columns: Callable[[], Columns], cell, start, end, m_start, m_len, m_pool, m_dur, p_ptr, p_idx, task_job, task_release, job_release,
                    job_family, cells: Sequence[Cell], pinned=None) -> None:
    """validate_placed() for a problem and plan held as arrays, a re-plan's: placements (cell,
    start, end) per task (cell -1: not placed), modes and predecessors as flat runs, per task its
    job and release, per job its release and family code, the cells as they are (see
    scheduler.validatejit.fine, which re-derives every rule from them). `columns()`: the same
    problem as Columns, read only to name what is wrong. `pinned`: (tasks, cells) that must stay
    where they are from time 0 (running work). An index out of its range is a ValueError naming
    the field (the compiled check reads memory unchecked: never handed one)."""
    import numpy as np

    from scheduler.validatejit import fine

    _check_indices(cell, start, end, m_start, m_len, m_pool, m_dur, p_ptr, p_idx, task_job, task_release, job_release, job_family)
    cell_pool = np.array([c.pool for c in cells], np.int64)
    cell_capacity = np.array([c.capacity for c in cells], np.int64)
    cell_setup = np.array([c.setup for c in cells], np.int64)
    windows = _windows(cells)
    verdict = None  # outside what the compiled check holds (a window not in whole int64 seconds, a negative setup or duration): the Python check
    if windows is not None and not (len(cell_setup) and cell_setup.min() < 0) and not (len(m_dur) and m_dur.min() < 0):
        verdict = fine(cell, start, end, m_start, m_len, m_pool, m_dur, p_ptr, p_idx, task_job, task_release, job_release, job_family, cell_pool,
                       cell_capacity, cell_setup, *windows)
    moved = _moved_pins(columns, cell, start, cells, pinned) if pinned is not None and len(pinned[0]) else []
    if verdict and not moved:
        return
    found = moved + columns_violations(columns(), [(c, s, e) if c >= 0 else None for c, s, e in zip(cell.tolist(), start.tolist(), end.tolist())])
    if found:
        raise InvalidSchedule(found)
    if verdict is False:
        raise RuntimeError("validate_arrays: the compiled check refused a plan the Python check accepts (a bug)")


def _moved_pins(columns: Callable[[], Columns], cell, start, cells: Sequence[Cell], pinned) -> list[str]:
    """A sentence per pinned task not on its cell from time 0."""
    tasks, want = pinned
    if len(tasks) != len(want):
        raise ValueError(f"validate_arrays: pinned has {len(tasks)} tasks and {len(want)} cells")
    _in_range("pinned", tasks, len(cell), lambda k: k)
    bad = ((cell[tasks] != want) | (start[tasks] != 0)).nonzero()[0]
    if not len(bad):
        return []
    name = columns().name

    def cell_id(c: int) -> str:
        return cells[c].id if 0 <= c < len(cells) else f"cell index {c}"

    return [f"{name(t)}: runs on {cell_id(c)} from 0, placed on {cell_id(at)} at {s}"
            for t, c, at, s in zip(tasks[bad].tolist(), want[bad].tolist(), cell[tasks[bad]].tolist(), start[tasks[bad]].tolist())]


def _windows(cells: Sequence[Cell]):
    """Each cell's windows as given (not merged) as flat runs (lo, hi, w_s, w_e), cell c's
    w_s/w_e[lo[c]:hi[c]], read from `cell.unavailable` here: the check shares no helper with what
    builds the plan (calendars.flat_windows feeds the list scheduler's lanes). None when a bound
    is not a whole number of seconds within int64 (the Python check reads those as they are)."""
    import numpy as np

    lo = np.zeros(len(cells), np.int64)
    hi = np.zeros(len(cells), np.int64)
    flat: list = []
    for c, cell in enumerate(cells):
        if cell.unavailable:
            lo[c] = len(flat)
            flat.extend(cell.unavailable)
            hi[c] = len(flat)
    if not flat:
        return lo, hi, np.zeros(0, np.int64), np.zeros(0, np.int64)
    try:
        bounds = np.array(flat)
    except (OverflowError, ValueError):
        return None
    if bounds.dtype.kind != "i" or bounds.shape != (len(flat), 2):  # floats, bounds past int64 (uint64, objects), malformed
        return None
    return lo, hi, bounds[:, 0].astype(np.int64), bounds[:, 1].astype(np.int64)


def _check_indices(cell, start, end, m_start, m_len, m_pool, m_dur, p_ptr, p_idx, task_job, task_release, job_release, job_family) -> None:
    """Every array validate_arrays hands the compiled check sized and every index in its range
    (vectorised): a ValueError naming the field and the task otherwise."""
    n = len(cell)
    for name, values, size in (("start", start, n), ("end", end, n), ("m_start", m_start, n), ("m_len", m_len, n), ("task_job", task_job, n),
                               ("task_release", task_release, n), ("p_ptr", p_ptr, n + 1), ("m_dur", m_dur, len(m_pool)),
                               ("job_family", job_family, len(job_release))):
        if len(values) != size:
            raise ValueError(f"validate_arrays: {name} has {len(values)} entries, must have {size}")
    _in_range("task_job", task_job, len(job_release), lambda k: k)
    _in_range("m_start", m_start, len(m_pool) + 1, lambda k: k)
    _in_range("m_len", m_len, len(m_pool) - m_start + 1, lambda k: k)  # m_start + m_len <= len(m_pool), without a sum that could wrap
    _in_range("p_ptr", p_ptr, len(p_idx) + 1, lambda k: max(k - 1, 0))
    if n and (p_ptr[0] != 0 or (p_ptr[1:] < p_ptr[:-1]).any()):
        raise ValueError("validate_arrays: p_ptr must start at 0 and never decrease (task t's predecessors are p_idx[p_ptr[t]:p_ptr[t + 1]])")
    _in_range("p_idx", p_idx, n, lambda k: int(p_ptr.searchsorted(k, "right")) - 1)


def _in_range(name: str, values, bound, task_of: Callable[[int], int]) -> None:
    """0 <= values < bound (a number, or one per entry), else a ValueError naming the entry and its task."""
    bad = (values < 0) | (values >= bound)
    if bad.any():
        k = int(bad.argmax())
        top = bound if isinstance(bound, int) else int(bound[k])
        raise ValueError(f"validate_arrays: {name}[{k}] = {int(values[k])} (task {task_of(k)}) is outside 0..{top - 1}")
