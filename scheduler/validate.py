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


# A placed task: (task, cell index, start, end). Plain tuples: a re-plan inside the twin checks
# thousands of them a few dozen times a week, and every schedule is checked in full.
_Placed = tuple[int, int, int, int]


def violations(problem: Problem, schedule: Schedule, complete: bool = True) -> list[str]:
    """Every broken rule, as sentences. `complete=False` allows tasks to be left unscheduled
    (a partial plan) as long as nothing scheduled depends on an unscheduled task."""
    out: list[str] = []
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    job_ids = [job.id for job in problem.jobs]
    task_index = {(job_ids[t.job], t.op): i for i, t in enumerate(problem.tasks)}
    placed: dict[int, _Placed] = {}
    for a in schedule.assignments:
        t = task_index.get((a.job, a.op))
        if t is None:
            out.append(f"{a.job}/{a.op}: no such operation in the problem")
            continue
        c = cell_index.get(a.cell)
        if c is None:
            out.append(f"{a.job}/{a.op}: unknown cell {a.cell!r}")
            continue
        if t in placed:
            out.append(f"{a.job}/{a.op}: scheduled more than once")
            continue
        placed[t] = (t, c, a.start, a.end)
    return out + _check_placed(problem, placed, complete)


def placed_violations(problem: Problem, placements: Sequence[tuple[int, int, int] | None], complete: bool = True) -> list[str]:
    """violations() of a plan given as (cell index, start, end) per task (None: not placed), in
    the problem's task order: the same checks, without naming each operation by its ids first
    (a re-plan inside the twin holds its plan so, and checks it a few dozen times a week)."""
    out: list[str] = []
    if len(placements) != len(problem.tasks):
        return [f"placements: {len(placements)} entries for {len(problem.tasks)} operations"]
    n_cells = len(problem.cells)
    placed: dict[int, _Placed] = {}
    for t, p in enumerate(placements):
        if p is None:
            continue
        c, start, end = p
        if not 0 <= c < n_cells:
            out.append(f"{_name(problem, t)}: unknown cell index {c}")
            continue
        placed[t] = (t, c, start, end)
    return out + _check_placed(problem, placed, complete)


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


def _check_placed(problem: Problem, placed: dict[int, _Placed], complete: bool) -> list[str]:
    return _check_modes(problem, placed) + _check_precedence_and_release(problem, placed, complete) + _check_cells(problem, placed)


def _name(problem: Problem, t: int) -> str:
    return f"{problem.jobs[problem.tasks[t].job].id}/{problem.tasks[t].op}"


def _check_modes(problem: Problem, placed: dict[int, _Placed]) -> list[str]:
    out = []
    tasks, cells = problem.tasks, problem.cells
    for t, c, start, end in placed.values():
        pool = cells[c].pool
        for mp, d in tasks[t].modes:
            if mp == pool:  # the first mode of the cell's pool is the one that counts
                if end - start != d:
                    out.append(f"{_name(problem, t)}: lasts {end - start}s on {cells[c].id}, must be {d}s")
                break
        else:
            out.append(f"{_name(problem, t)}: cell {cells[c].id} is not eligible")
        if start < 0:
            out.append(f"{_name(problem, t)}: starts before time 0")
    return out


def _check_precedence_and_release(problem: Problem, placed: dict[int, _Placed], complete: bool) -> list[str]:
    out = []
    jobs = problem.jobs
    for t, task in enumerate(problem.tasks):
        p = placed.get(t)
        if p is None:
            if complete:
                out.append(f"{_name(problem, t)}: not scheduled")
            continue
        start = p[2]
        release = jobs[task.job].release
        if task.release > release:
            release = task.release
        if start < release:
            out.append(f"{_name(problem, t)}: starts at {start} before its release {release}")
        for pred in task.predecessors:
            q = placed.get(pred)
            if q is None:
                out.append(f"{_name(problem, t)}: scheduled but its predecessor {_name(problem, pred)} is not")
            elif q[3] > start:
                out.append(f"{_name(problem, t)}: starts at {start} before predecessor {_name(problem, pred)} ends at {q[3]}")
    return out


def _check_cells(problem: Problem, placed: dict[int, _Placed]) -> list[str]:
    """Capacity (with setups between families on single-job cells) and unavailability."""
    out = []
    per_cell: dict[int, list[_Placed]] = defaultdict(list)
    for p in placed.values():
        per_cell[p[1]].append(p)
    jobs, tasks = problem.jobs, problem.tasks
    for c, items in per_cell.items():
        cell = problem.cells[c]
        windows = cell.unavailable
        for t, _, start, end in items if windows else ():
            for w_start, w_end in windows:
                if start < w_end and w_start < end and end > start:
                    out.append(f"{_name(problem, t)}: runs on {cell.id} during its unavailability [{w_start}, {w_end})")
        if cell.capacity == 1:
            items.sort(key=_start_end)  # stable: equal intervals keep the schedule's order
            setup = cell.setup
            for a, b in zip(items, items[1:]):
                gap = setup if setup and jobs[tasks[a[0]].job].family != jobs[tasks[b[0]].job].family else 0
                if b[2] < a[3] + gap:
                    what = "overlaps" if b[2] < a[3] else f"leaves less than the {gap}s setup after"
                    out.append(f"{cell.id}: {_name(problem, b[0])} {what} {_name(problem, a[0])}")
        else:
            events = sorted([(p[2], 1) for p in items] + [(p[3], -1) for p in items])
            load = 0
            for time, delta in events:
                load += delta
                if load > cell.capacity:
                    out.append(f"{cell.id}: {load} jobs at time {time}, capacity {cell.capacity}")
                    break
    return out


def _start_end(p: _Placed) -> tuple[int, int]:
    return p[2], p[3]
