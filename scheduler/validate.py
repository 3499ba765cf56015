"""Independent checker of a Schedule against its Problem. Written apart from the solver:
it re-derives every rule from the problem data and trusts nothing the solver says."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from scheduler.problem import Problem
from scheduler.schedule import Schedule


class InvalidSchedule(ValueError):
    def __init__(self, violations: list[str]) -> None:
        self.violations = violations
        more = f" (+{len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__("; ".join(violations[:5]) + more)


@dataclass(frozen=True)
class _Placed:
    task: int
    cell: int
    start: int
    end: int


def violations(problem: Problem, schedule: Schedule, complete: bool = True) -> list[str]:
    """Every broken rule, as sentences. `complete=False` allows tasks to be left unscheduled
    (a partial plan) as long as nothing scheduled depends on an unscheduled task."""
    out: list[str] = []
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
    placed: dict[int, _Placed] = {}
    for a in schedule.assignments:
        key = (a.job, a.op)
        if key not in task_index:
            out.append(f"{a.job}/{a.op}: no such operation in the problem")
            continue
        if a.cell not in cell_index:
            out.append(f"{a.job}/{a.op}: unknown cell {a.cell!r}")
            continue
        t = task_index[key]
        if t in placed:
            out.append(f"{a.job}/{a.op}: scheduled more than once")
            continue
        placed[t] = _Placed(t, cell_index[a.cell], a.start, a.end)
    out += _check_modes(problem, placed)
    out += _check_precedence_and_release(problem, placed, complete)
    out += _check_cells(problem, placed)
    return out


def validate(problem: Problem, schedule: Schedule, complete: bool = True) -> None:
    """Raise InvalidSchedule listing what is wrong; return quietly when the schedule is valid."""
    found = violations(problem, schedule, complete)
    if found:
        raise InvalidSchedule(found)


def _name(problem: Problem, t: int) -> str:
    return f"{problem.jobs[problem.tasks[t].job].id}/{problem.tasks[t].op}"


def _check_modes(problem: Problem, placed: dict[int, _Placed]) -> list[str]:
    out = []
    for t, p in placed.items():
        pool = problem.cells[p.cell].pool
        durations = [d for mp, d in problem.tasks[t].modes if mp == pool]
        if not durations:
            out.append(f"{_name(problem, t)}: cell {problem.cells[p.cell].id} is not eligible")
        elif p.end - p.start != durations[0]:
            out.append(f"{_name(problem, t)}: lasts {p.end - p.start}s on {problem.cells[p.cell].id}, must be {durations[0]}s")
        if p.start < 0:
            out.append(f"{_name(problem, t)}: starts before time 0")
    return out


def _check_precedence_and_release(problem: Problem, placed: dict[int, _Placed], complete: bool) -> list[str]:
    out = []
    for t, task in enumerate(problem.tasks):
        p = placed.get(t)
        if p is None:
            if complete:
                out.append(f"{_name(problem, t)}: not scheduled")
            continue
        release = max(problem.jobs[task.job].release, task.release)
        if p.start < release:
            out.append(f"{_name(problem, t)}: starts at {p.start} before its release {release}")
        for pred in task.predecessors:
            q = placed.get(pred)
            if q is None:
                out.append(f"{_name(problem, t)}: scheduled but its predecessor {_name(problem, pred)} is not")
            elif q.end > p.start:
                out.append(f"{_name(problem, t)}: starts at {p.start} before predecessor {_name(problem, pred)} ends at {q.end}")
    return out


def _check_cells(problem: Problem, placed: dict[int, _Placed]) -> list[str]:
    """Capacity (with setups between families on single-job cells) and unavailability."""
    out = []
    per_cell: dict[int, list[_Placed]] = defaultdict(list)
    for p in placed.values():
        per_cell[p.cell].append(p)
    for c, items in per_cell.items():
        cell = problem.cells[c]
        for p in items:
            for w_start, w_end in cell.unavailable:
                if p.start < w_end and w_start < p.end and p.end > p.start:
                    out.append(f"{_name(problem, p.task)}: runs on {cell.id} during its unavailability [{w_start}, {w_end})")
        if cell.capacity == 1:
            items.sort(key=lambda p: (p.start, p.end))
            for a, b in zip(items, items[1:]):
                gap = cell.setup if problem.jobs[problem.tasks[a.task].job].family != problem.jobs[problem.tasks[b.task].job].family else 0
                if b.start < a.end + gap:
                    what = "overlaps" if b.start < a.end else f"leaves less than the {gap}s setup after"
                    out.append(f"{cell.id}: {_name(problem, b.task)} {what} {_name(problem, a.task)}")
        else:
            events = sorted([(p.start, 1) for p in items] + [(p.end, -1) for p in items], key=lambda e: (e[0], e[1]))
            load = 0
            for time, delta in events:
                load += delta
                if load > cell.capacity:
                    out.append(f"{cell.id}: {load} jobs at time {time}, capacity {cell.capacity}")
                    break
    return out
