"""Independent checker of a Schedule against its Problem. Written apart from the solver:
it re-derives every rule from the problem data and trusts nothing the solver says."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from scheduler.problem import Problem
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
    return out + _check_placed(problem, order, at, complete)


def placed_violations(problem: Problem, placements: Sequence[tuple[int, int, int] | None], complete: bool = True) -> list[str]:
    """violations() of a plan given as (cell index, start, end) per task (None: not placed), in
    the problem's task order: the same checks, without naming each operation by its ids first
    (a re-plan inside the twin holds its plan so, and checks it a few dozen times a week)."""
    out: list[str] = []
    if len(placements) != len(problem.tasks):
        return [f"placements: {len(placements)} entries for {len(problem.tasks)} operations"]
    n_cells = len(problem.cells)
    at = placements
    for t, p in enumerate(placements):
        if p is not None and not 0 <= p[0] < n_cells:
            if at is placements:
                at = list(placements)
            out.append(f"{_name(problem, t)}: unknown cell index {p[0]}")
            at[t] = None  # type: ignore[index]
    order = [t for t, p in enumerate(at) if p is not None]
    return out + _check_placed(problem, order, at, complete)


def validate_placed(problem: Problem, placements: Sequence[tuple[int, int, int] | None], complete: bool = True) -> None:
    """validate() for a plan held as placements per task (see placed_violations)."""
    found = placed_violations(problem, placements, complete)
    if found:
        raise InvalidSchedule(found)


def validate(problem: Problem, schedule: Schedule, complete: bool = True) -> None:
    """Raise InvalidSchedule listing what is wrong; return quietly when the schedule is valid."""
    found = violations(problem, schedule, complete)
    if found:
        raise InvalidSchedule(found)


def _check_placed(problem: Problem, order: list[int], at: _At, complete: bool) -> list[str]:
    return _check_modes(problem, order, at) + _check_precedence_and_release(problem, at, complete) + _check_cells(problem, order, at)


def _name(problem: Problem, t: int) -> str:
    return f"{problem.jobs[problem.tasks[t].job].id}/{problem.tasks[t].op}"


def _check_modes(problem: Problem, order: list[int], at: _At) -> list[str]:
    out = []
    tasks, cells = problem.tasks, problem.cells
    cell_pool = [cell.pool for cell in cells]
    for t in order:
        c, start, end = at[t]  # type: ignore[misc]
        pool = cell_pool[c]
        modes = tasks[t].modes
        if len(modes) == 1:  # most tasks, and all running work
            mp, d = modes[0]
            if mp != pool:
                out.append(f"{_name(problem, t)}: cell {cells[c].id} is not eligible")
            elif end - start != d:
                out.append(f"{_name(problem, t)}: lasts {end - start}s on {cells[c].id}, must be {d}s")
        else:
            for mp, d in modes:
                if mp == pool:  # the first mode of the cell's pool is the one that counts
                    if end - start != d:
                        out.append(f"{_name(problem, t)}: lasts {end - start}s on {cells[c].id}, must be {d}s")
                    break
            else:
                out.append(f"{_name(problem, t)}: cell {cells[c].id} is not eligible")
        if start < 0:
            out.append(f"{_name(problem, t)}: starts before time 0")
    return out


def _check_precedence_and_release(problem: Problem, at: _At, complete: bool) -> list[str]:
    out = []
    job_release = [job.release for job in problem.jobs]
    for t, task in enumerate(problem.tasks):
        p = at[t]
        if p is None:
            if complete:
                out.append(f"{_name(problem, t)}: not scheduled")
            continue
        start = p[1]
        release = job_release[task.job]
        if task.release > release:
            release = task.release
        if start < release:
            out.append(f"{_name(problem, t)}: starts at {start} before its release {release}")
        for pred in task.predecessors:
            q = at[pred]
            if q is None:
                out.append(f"{_name(problem, t)}: scheduled but its predecessor {_name(problem, pred)} is not")
            elif q[2] > start:
                out.append(f"{_name(problem, t)}: starts at {start} before predecessor {_name(problem, pred)} ends at {q[2]}")
    return out


def _check_cells(problem: Problem, order: list[int], at: _At) -> list[str]:
    """Capacity (with setups between families on single-job cells) and unavailability."""
    out = []
    per_cell: dict[int, list[int]] = defaultdict(list)
    for t in order:
        per_cell[at[t][0]].append(t)  # type: ignore[index]
    jobs, tasks = problem.jobs, problem.tasks
    for c, items in per_cell.items():
        cell = problem.cells[c]
        windows = cell.unavailable
        for t in items if windows else ():
            _, start, end = at[t]  # type: ignore[misc]
            for w_start, w_end in windows:
                if start < w_end and w_start < end and end > start:
                    out.append(f"{_name(problem, t)}: runs on {cell.id} during its unavailability [{w_start}, {w_end})")
        if cell.capacity == 1:
            # By (start, end): the cell is the same for all, and the sort is stable, so equal
            # intervals keep the schedule's order.
            items.sort(key=at.__getitem__)
            setup = cell.setup
            for a, b in zip(items, items[1:]):
                a_end, b_start = at[a][2], at[b][1]  # type: ignore[index]
                gap = setup if setup and jobs[tasks[a].job].family != jobs[tasks[b].job].family else 0
                if b_start < a_end + gap:
                    what = "overlaps" if b_start < a_end else f"leaves less than the {gap}s setup after"
                    out.append(f"{cell.id}: {_name(problem, b)} {what} {_name(problem, a)}")
        else:
            events = sorted([(at[t][1], 1) for t in items] + [(at[t][2], -1) for t in items])  # type: ignore[index]
            load = 0
            for time, delta in events:
                load += delta
                if load > cell.capacity:
                    out.append(f"{cell.id}: {load} jobs at time {time}, capacity {cell.capacity}")
                    break
    return out
