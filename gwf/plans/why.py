"""Why is this unit late, or still open? Its critical chain: starting from its last operation,
what held each operation back — its own predecessor, the cell (busy with which unit, or
changing over), a planned window, or the unit's release — followed back until nothing did."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule
from gwf.plans.units import UnitStatus, unit_statuses

# Seconds of slack still counted as "held": times are integers, setups are rounded.
_TOLERANCE_S = 1


@dataclass(frozen=True)
class Link:
    """One operation on the chain and what it waited for."""

    job: str
    op: str
    cell: str
    start: int
    end: int
    held_by: str  # predecessor | cell | setup | window | release | nothing
    by_job: str = ""
    by_op: str = ""
    ready_s: int = 0  # when what held it let go

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "op": self.op, "cell": self.cell, "start_s": self.start, "end_s": self.end,
                "held_by": self.held_by, "by_job": self.by_job, "by_op": self.by_op, "ready_s": self.ready_s}


@dataclass
class Explanation:
    unit: UnitStatus
    state: str  # done | late | open
    unplanned: list[str]  # operations not in the plan
    past_horizon: list[str]  # planned operations ending after the horizon
    chain: list[Link] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        u = self.unit
        return {"unit": u.id, "product": u.product, "category": u.category, "mw": u.mw, "state": self.state,
                "release_s": u.release, "due_s": u.due, "finish_s": u.finish, "lateness_s": u.lateness_s,
                "unplanned": self.unplanned, "past_horizon": self.past_horizon, "chain": [link.to_dict() for link in self.chain]}


class _Index:
    """The plan indexed for walking back: assignment by (job, op); each cell's assignments by
    end time, and its sorted starts and ends (how many it holds at an instant, in log time)."""

    def __init__(self, problem: Problem, schedule: Schedule) -> None:
        self.problem = problem
        self.by_key = {(a.job, a.op): a for a in schedule.assignments}
        self.by_end: dict[str, list[Assignment]] = {}
        for a in schedule.assignments:
            self.by_end.setdefault(a.cell, []).append(a)
        for seq in self.by_end.values():
            seq.sort(key=lambda a: a.end)
        self.ends = {c: [a.end for a in seq] for c, seq in self.by_end.items()}
        self.starts = {c: sorted(a.start for a in seq) for c, seq in self.by_end.items()}
        self.job_index = {job.id: j for j, job in enumerate(problem.jobs)}
        self.task_of = {(problem.jobs[t.job].id, t.op): t for t in problem.tasks}
        self.cell = {c.id: c for c in problem.cells}
        self.max_setup = max((c.setup for c in problem.cells), default=0)

    def family(self, job_id: str) -> str:
        return self.problem.jobs[self.job_index[job_id]].family

    def cell_holder(self, a: Assignment) -> tuple[Assignment | None, int]:
        """The assignment on a's cell that freed the place a started in, and when a could start
        after it (its end, plus a changeover when the family differs); (None, 0) if none. Only
        assignments ending within a changeover of a's start can have held it."""
        cell = self.cell.get(a.cell)
        capacity = cell.capacity if cell else 1
        ends = self.ends.get(a.cell, [])
        seq = self.by_end.get(a.cell, [])
        lo = bisect.bisect_left(ends, a.start - self.max_setup - _TOLERANCE_S)
        hi = bisect.bisect_right(ends, a.start)
        best, ready = None, -10**18
        for b in seq[lo:hi]:
            if b is a or b.start >= a.start:
                continue
            if capacity > 1 and self._active(a.cell, b.end - 1) < capacity:
                continue  # the cell had a free place before b ended: b did not hold a back
            setup = cell.setup if cell and self.family(b.job) != self.family(a.job) else 0
            if b.end + setup > ready:
                best, ready = b, b.end + setup
        return best, ready if best is not None else 0

    def _active(self, cell: str, t: int) -> int:
        """Assignments on the cell at instant t: started by t and not yet ended."""
        return bisect.bisect_right(self.starts[cell], t) - bisect.bisect_right(self.ends[cell], t)


def _step(index: _Index, a: Assignment) -> tuple[Link, Assignment | None]:
    """What held `a` back, and the assignment to follow next (None: the chain ends)."""
    problem = index.problem
    task = index.task_of[(a.job, a.op)]
    job = problem.jobs[task.job]
    candidates: list[tuple[int, int, str, Assignment | None]] = []  # (ready, priority, kind, next)
    for p in task.predecessors:
        prev = index.by_key.get((job.id, problem.tasks[p].op))
        if prev is not None:
            candidates.append((prev.end, 3, "predecessor", prev))
    holder, ready = index.cell_holder(a)
    if holder is not None:
        kind = "setup" if ready > holder.end else "cell"
        candidates.append((ready, 2, kind, holder))
    cell = index.cell.get(a.cell)
    for s, e in (cell.unavailable if cell else []):
        if e <= a.start:
            candidates.append((e, 1, "window", None))
    candidates.append((max(job.release, task.release), 0, "release", None))
    ready_at, _, kind, nxt = max(candidates, key=lambda c: (c[0], c[1]))
    if ready_at < a.start - _TOLERANCE_S:
        return Link(a.job, a.op, a.cell, a.start, a.end, "nothing", ready_s=ready_at), None
    link = Link(a.job, a.op, a.cell, a.start, a.end, kind, nxt.job if nxt else "", nxt.op if nxt else "", ready_at)
    return link, nxt


def critical_chain(index: _Index, last: Assignment, max_links: int = 40) -> list[Link]:
    chain: list[Link] = []
    seen: set[tuple[str, str]] = set()
    current: Assignment | None = last
    while current is not None and len(chain) < max_links and (current.job, current.op) not in seen:
        seen.add((current.job, current.op))
        link, current = _step(index, current)
        chain.append(link)
    return chain


def explain(problem: Problem, schedule: Schedule, unit_id: str, *, statuses: list[UnitStatus] | None = None,
            index: _Index | None = None) -> Explanation:
    """The unit's state and critical chain; ValueError (naming the unit) if it is not in the plan."""
    statuses = statuses or unit_statuses(problem, schedule)
    index = index or _Index(problem, schedule)
    j = index.job_index.get(unit_id)
    if j is None:
        sample = ", ".join(job.id for job in problem.jobs[:3])
        raise ValueError(f"unit: {unit_id!r} is not a unit of this plan (units look like {sample}, ...)")
    unit = statuses[j]
    job = problem.jobs[j]
    ops = [problem.tasks[t].op for t in job.tasks]
    unplanned = [op for op in ops if (job.id, op) not in index.by_key]
    past = [op for op in ops if (job.id, op) in index.by_key and index.by_key[(job.id, op)].end > problem.horizon]
    planned = [index.by_key[(job.id, op)] for op in ops if (job.id, op) in index.by_key]
    chain = critical_chain(index, max(planned, key=lambda a: (a.end, a.start))) if planned else []
    return Explanation(unit, unit.state(problem.horizon), unplanned, past, chain)


def explain_all(problem: Problem, schedule: Schedule, states: tuple[str, ...] = ("late", "open"), limit: int = 2000) -> list[Explanation]:
    """Explanations of every late or open unit (the first `limit`, latest finishers first)."""
    statuses = unit_statuses(problem, schedule)
    index = _Index(problem, schedule)
    chosen = [u for u in statuses if u.state(problem.horizon) in states]
    chosen.sort(key=lambda u: (-(u.lateness_s), u.finish is not None, u.id))
    return [explain(problem, schedule, u.id, statuses=statuses, index=index) for u in chosen[:limit]]


def describe(link: Link, at) -> str:
    """One line in a planner's words; `at(seconds)` formats a plan time."""
    where = f"{link.op} on {link.cell}, {at(link.start)} → {at(link.end)}"
    reason = {
        "predecessor": f"waited for its own {link.by_op} (ended {at(link.ready_s)})",
        "cell": f"waited for the cell: {link.by_job} / {link.by_op} held it until {at(link.ready_s)}",
        "setup": f"waited for the cell: {link.by_job} / {link.by_op}, then a changeover, until {at(link.ready_s)}",
        "window": f"waited for the cell's planned window to end at {at(link.ready_s)}",
        "release": f"started at the unit's release ({at(link.ready_s)})",
        "nothing": f"ready at {at(link.ready_s)}; started later by the plan's choice (no single cause)",
    }[link.held_by]
    return f"{where}: {reason}"
