"""Re-plan after a disruption: cells go down, the plan adapts, and as little as possible moves.

What has started (start < now) stays exactly as it is. Everything else keeps its cell and its
order on that cell and only shifts right as far as the downtime and its knock-on effects force
it (right-shift repair), except that an operation the downtime would delay may instead drop
into a gap of another cell of its pool that is free at its planned time, so one broken cell
does not hold back a whole queue. A floor supervisor can follow this: few changes, each with
a reason. The result is checked by `scheduler.validate` against the problem with the downtime.

Work already running on a cell that goes down is kept (it finishes or is re-reported by the
cell controller); the cell's downtime starts when that work is done.
"""
from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field, replace

from scheduler.bounds import topological_order
from scheduler.calendars import CellCalendar
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule
from scheduler.subproblem import placements
from scheduler.validate import validate


@dataclass(frozen=True)
class Downtime:
    cell: str
    start: int
    duration: int


@dataclass
class RepairResult:
    schedule: Schedule
    moved: int  # not-yet-started assignments whose cell or start changed
    unstarted: int  # assignments that had not started at `now`
    seconds: float
    problem: Problem | None = field(default=None, repr=False)  # the problem with the downtime added


def with_downtime(problem: Problem, down: list[Downtime], now: int = 0, running_until: dict[int, int] | None = None) -> Problem:
    """A copy of the problem whose cells carry the extra unavailability from `now` on (the past
    is history: what ran then, ran)."""
    index = {c.id: i for i, c in enumerate(problem.cells)}
    cells = list(problem.cells)
    for k, d in enumerate(down):
        if d.cell not in index:
            raise ValueError(f"down[{k}].cell: {d.cell!r} is not a cell of this floor (e.g. {problem.cells[0].id!r})")
        if d.duration < 0:
            raise ValueError(f"down[{k}].duration: must be >= 0 seconds, got {d.duration}")
        c = index[d.cell]
        start = max(d.start, now, (running_until or {}).get(c, d.start))
        if start < d.start + d.duration:
            cells[c] = replace(cells[c], unavailable=sorted(cells[c].unavailable + [(start, d.start + d.duration)]))
    return replace(problem, cells=cells)


def repair(problem: Problem, plan: Schedule, down: list[Downtime], now: int, time_limit: float = 5.0, workers: int = 2) -> RepairResult:
    """Right-shift repair; then, if units that the plan finished in time no longer do, CP-SAT
    re-plans just those units' unstarted work around everything else (up to `time_limit` s)."""
    began = time.perf_counter()
    placed = placements(problem, plan)
    running_until: dict[int, int] = {}
    for c, s, e in placed.values():
        if s < now < e:
            running_until[c] = max(running_until.get(c, 0), e)
    repaired = with_downtime(problem, down, now, running_until)
    calendars = [CellCalendar(c.unavailable) for c in repaired.cells]
    family = [problem.jobs[t.job].family for t in problem.tasks]

    lanes = _lanes_from_plan(problem, placed)  # task -> (cell, lane)
    rank = {t: i for i, t in enumerate(topological_order(problem))}
    order = sorted(placed, key=lambda t: (placed[t][1], placed[t][2], rank[t]))
    # Per lane: planned tasks in order, so a gap before the next one can be tested.
    lane_queue: dict[tuple[int, int], list[int]] = {}
    for t in order:
        lane_queue.setdefault(lanes[t], []).append(t)
    lane_starts = {k: [placed[t][1] for t in ts] for k, ts in lane_queue.items()}
    lane_free: dict[tuple[int, int], tuple[int, str | None]] = {}  # free-from time, last family
    new: dict[int, tuple[int, int, int]] = {}
    moved = unstarted = 0

    def earliest_on(lane: tuple[int, int], t: int, ready: int, duration: int) -> int:
        cell = repaired.cells[lane[0]]
        free_from, last = lane_free.get(lane, (0, None))
        setup = cell.setup if cell.capacity == 1 and last is not None and last != family[t] else 0
        return calendars[lane[0]].earliest_fit(max(ready, free_from + setup), duration)

    def fits_gap(lane: tuple[int, int], t: int, start: int, duration: int, planned: int) -> bool:
        """Can t run at `start` on this lane, before the lane's next planned task, needing no
        shift of anything already there?"""
        cell = repaired.cells[lane[0]]
        free_from, last = lane_free.get(lane, (0, None))
        setup_before = cell.setup if cell.capacity == 1 and last is not None and last != family[t] else 0
        if free_from + setup_before > start or calendars[lane[0]].blocking(start, start + max(duration, 1)) >= 0:
            return False
        queue = lane_queue.get(lane, [])
        k = bisect.bisect_left(lane_starts.get(lane, []), planned)
        nxt = next((q for q in queue[k:] if q not in new), None)
        if nxt is None:
            return True
        setup_after = cell.setup if cell.capacity == 1 and family[nxt] != family[t] else 0
        return start + duration + setup_after <= placed[nxt][1]

    for t in order:
        c, s, e = placed[t]
        lane = lanes[t]
        if s < now:  # started: exactly as planned
            new[t] = (c, s, e)
        else:
            unstarted += 1
            task = problem.tasks[t]
            ready = max([s, task.release, problem.jobs[task.job].release] + [new[p][2] for p in task.predecessors])
            duration = e - s
            start = earliest_on(lane, t, ready, duration)
            if start > s:
                # Delayed: a twin cell of the same pool with room at the planned time avoids it.
                pool = problem.cells[c].pool
                for other in problem.pools[pool].cells:
                    if other == c:
                        continue
                    for k in range(max(1, problem.cells[other].capacity)):
                        if fits_gap((other, k), t, ready, duration, s):
                            lane, start = (other, k), ready
                            break
                    if lane != lanes[t]:
                        break
            new[t] = (lane[0], start, start + duration)
            if (lane[0], start) != (c, s):
                moved += 1
        lane_free[lane] = (max(lane_free.get(lane, (0, None))[0], new[t][2]), family[t])

    assignments = [Assignment(problem.jobs[problem.tasks[t].job].id, problem.tasks[t].op, repaired.cells[c].id, s, e) for t, (c, s, e) in new.items()]
    schedule = Schedule(assignments, plan.horizon, "repaired", plan.objective, name=f"{plan.name}/repaired")
    validate(repaired, schedule)
    if time_limit > 0:
        schedule = _recover_lost_units(repaired, plan, schedule, now, time_limit, workers)
        moved = _count_moved(plan, schedule, now)
    schedule.seconds = time.perf_counter() - began
    schedule.kpis = {**plan.kpis, "moved": moved, "unstarted": unstarted, "repair_now": now}
    return RepairResult(schedule, moved, unstarted, schedule.seconds, repaired)


def _lanes_from_plan(problem: Problem, placed: dict[int, tuple[int, int, int]]) -> dict[int, tuple[int, int]]:
    """Each task's (cell, lane): a capacity-k cell's work packed onto k lanes in start order."""
    by_cell: dict[int, list[tuple[int, int, int]]] = {}
    for t, (c, s, e) in placed.items():
        by_cell.setdefault(c, []).append((s, e, t))
    out: dict[int, tuple[int, int]] = {}
    for c, items in by_cell.items():
        ends = [0] * max(1, problem.cells[c].capacity)
        for s, e, t in sorted(items):
            k = next((k for k, end in enumerate(ends) if end <= s), None)
            if k is None:
                raise ValueError(f"plan: cell {problem.cells[c].id} holds more than its capacity at {s}")
            ends[k] = max(e, s)
            out[t] = (c, k)
    return out


def _count_moved(plan: Schedule, schedule: Schedule, now: int) -> int:
    after = {(a.job, a.op): (a.cell, a.start) for a in schedule.assignments}
    return sum(1 for a in plan.assignments if a.start >= now and after.get((a.job, a.op)) != (a.cell, a.start))


def _recover_lost_units(problem: Problem, plan: Schedule, shifted: Schedule, now: int, time_limit: float, workers: int) -> Schedule:
    """Local CP-SAT: the units the shift pushed past the horizon, their unstarted work free
    (closed under successors: a unit's work only waits for its own), everything else fixed."""
    from scheduler.cpsat import solve
    from scheduler.delivery import delivered_mw, finished_jobs
    from scheduler.engine import complete
    from scheduler.subproblem import glue, restrict

    lost = finished_jobs(problem, plan) - finished_jobs(problem, shifted)
    if not lost:
        return shifted
    fixed = placements(problem, shifted)
    free = {t for j in lost for t in problem.jobs[j].tasks if fixed[t][1] >= now}
    for t in free:
        del fixed[t]
    if not free:
        return shifted
    sub = restrict(problem, fixed, free, name=f"{problem.name}/repair", not_before=now)
    found = solve(sub.problem, objective="mw", time_limit=time_limit, workers=workers)
    if not found.assignments:
        return shifted
    candidate = Schedule(glue(problem, fixed, sub, complete(sub.problem, found)), shifted.horizon, "repaired", shifted.objective, name=shifted.name)
    if delivered_mw(problem, candidate) <= delivered_mw(problem, shifted) + 1e-9:
        return shifted
    validate(problem, candidate)
    return candidate


# ---------------------------------------------------------------------------------------------
# One pool's repair, for the floor controller: a cell stops, only its pool's queues are read.


@dataclass
class QueuedTask:
    """An unstarted task in a cell's queue: `ready` is the earliest it may start (the unit there,
    its planned start come), `planned` its planned start, `duration` on this pool's cells."""
    key: int
    ready: int
    planned: int
    duration: int
    family: str | None = None


@dataclass
class PoolCell:
    """One cell of the pool as the controller sees it now: when each slot's running work ends
    (`free`, one entry per slot), the family it last ran, its unavailability and its queue in
    sequence order."""
    capacity: int
    free: list[int]
    queue: list[QueuedTask]
    setup: int = 0
    family: str | None = None
    windows: list[tuple[int, int]] = field(default_factory=list)


def repair_pool(cells: list[PoolCell], down: int, until: int, now: int) -> list[tuple[int, int, int]]:
    """The right-shift repair of one pool when cell `down` stops from `now` until `until`:
    (key, cell, start) for every task of the down cell's queue that another cell of the pool
    can start sooner than the stopped cell could.

    The other cells' queues are projected forward in their order (each task on the slot free
    first, after its ready time and any changeover, outside windows); the stopped cell's queue
    is then taken in its order and each task either stays (when the stop does not delay it
    past its ready time) or goes to the earliest gap of a twin cell's projection it fits in
    without moving anything there, if that start is earlier than the stopped cell's. Cost:
    the pool's queues only, so a decision does not grow with the floor."""
    if not 0 <= down < len(cells):
        raise ValueError(f"down: {down} is not a cell of the pool (0..{len(cells) - 1})")
    if until < now:
        raise ValueError(f"until: the stop ends at {until}, before now ({now})")
    cell = cells[down]
    calendar = CellCalendar(cell.windows + [(now, until)])
    slots = calendars = None  # the twins' projection: made when a task is first delayed (often none is)
    free = [max(at, until) for at in _slot_starts(cell, now)]
    last = [cell.family] * len(free)
    moves = []
    for task in cell.queue:
        i = free.index(min(free))  # the slot free first (the first such)
        setup = cell.setup if cell.capacity == 1 and last[i] not in (None, task.family) else 0
        here = calendar.earliest_fit(max(task.ready, free[i] + setup), task.duration)
        if here > max(task.ready, task.planned):
            if slots is None:
                calendars, slots = _twin_slots(cells, down, now)
            best, bound, ready = None, here, task.ready
            for (k, j), work in slots.items():
                # No gap of a slot starts before its first work ends (nor before the task may):
                # a slot that cannot start it before the best so far is not searched. Once a gap
                # at the task's ready time is found, none can be sooner.
                if work[0][1] >= bound or ready >= bound:
                    continue
                start = _earliest_gap(work, cells[k], calendars[k], task)
                if start < bound:
                    best, bound = (start, k, j), start
                    if start == ready:
                        break
            if best is not None:
                start, k, j = best
                bisect.insort(slots[(k, j)], (start, start + task.duration, task.family))
                moves.append((task.key, k, start))
                continue
        free[i], last[i] = here + task.duration, task.family
    return moves


def _twin_slots(cells: list[PoolCell], down: int, now: int) -> tuple[dict, dict]:
    """The twin cells' calendars and, per twin slot (cell, slot), its projected work: sorted
    (start, end, family), running work (or nothing) first, then the cell's queue in its order,
    each task on the slot free first after its ready time and any changeover, outside windows.
    Slots keyed in the order repair_pool searches them (ties go to the first)."""
    calendars: dict[int, CellCalendar] = {}
    slots: dict[tuple[int, int], list[tuple[int, int, str | None]]] = {}
    for k, cell in enumerate(cells):
        if k == down:
            continue
        calendar = calendars[k] = CellCalendar(cell.windows)
        starts = _slot_starts(cell, now)
        work = [[(now, at, cell.family)] for at in starts]
        free = list(starts)
        last = [cell.family] * len(free)
        used = []  # the slots in the order the queue first uses them, then the rest: the order gaps are searched in
        for task in cell.queue:
            i = free.index(min(free))
            setup = cell.setup if cell.capacity == 1 and last[i] not in (None, task.family) else 0
            start = calendar.earliest_fit(max(task.ready, free[i] + setup), task.duration)
            if len(work[i]) == 1:
                used.append(i)
            work[i].append((start, start + task.duration, task.family))
            free[i], last[i] = start + task.duration, task.family
        for i in used + [i for i, w in enumerate(work) if len(w) == 1]:
            slots[(k, i)] = work[i]
    return calendars, slots


def _slot_starts(cell: PoolCell, now: int) -> list[int]:
    """When each slot of the cell can take new work: its running work's end, or now."""
    free = sorted(max(now, at) for at in cell.free)[:max(1, cell.capacity)]
    return free + [now] * (max(1, cell.capacity) - len(free))


def _earliest_gap(work: list[tuple[int, int, str | None]], cell: PoolCell, calendar: CellCalendar, task: QueuedTask) -> int:
    """Earliest start >= task.ready on a slot holding `work` (sorted) at which the task fits
    between two pieces of work (changeovers included) without moving either."""
    single = cell.capacity == 1 and cell.setup > 0

    def setup(a: str | None, b: str | None) -> int:
        return cell.setup if single and a is not None and b is not None and a != b else 0

    prev_end, prev_family = None, None
    for start, end, family in work:
        if prev_end is not None:
            at = calendar.earliest_fit(max(task.ready, prev_end + setup(prev_family, task.family)), task.duration)
            if at + task.duration + setup(task.family, family) <= start:
                return at
        prev_end, prev_family = end if prev_end is None else max(prev_end, end), family
    return calendar.earliest_fit(max(task.ready, (prev_end or 0) + setup(prev_family, task.family)), task.duration)
