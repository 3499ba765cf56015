"""Serial schedule generation with insertion: operations taken one by one in priority order
(each after all its predecessors), each placed at the earliest time it fits on the cell that
finishes it first, into a gap left earlier on that cell if one is long enough.

Why beside the dispatcher (scheduler/construct.py): a dispatcher never leaves a cell idle while
work waits, which is right when chains have slack and wrong when they have none. On job shops
whose chains are nearly as long as the optimum (the "long" Da Col-Teppan shops: 1,000 jobs of
about 100 operations, every machine loaded to the optimum) a critical operation arriving one
second after a cell frees finds it taken, and every such delay adds up along its chain: the
dispatcher ends 80% above the optimum there. Ordered by latest start (the optimum's lower bound
minus the chain behind the operation, i.e. time-window propagation along chains), insertion
leaves the gap for the critical operation instead, and fills it with shorter work when it can.

Scope: cells that hold one job at a time and have no family setups (unavailability windows
are blocked-out time; releases and any precedence DAG are kept); `applies` says so.
"""
from __future__ import annotations

import heapq
import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from scheduler.bounds import heads_and_tails
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule

# How much a slower alternative's extra seconds weigh against finishing sooner (as in the
# dispatcher, scheduler/construct.py: capacity a slow cell burns is lost to everyone).
WORK_WEIGHT = 4.0


def applies(problem: Problem) -> bool:
    return all(c.capacity == 1 and c.setup == 0 for c in problem.cells)


def latest_start_priority(problem: Problem) -> list[float]:
    """Per operation: the latest start that still meets the lower bound on the makespan (the
    bound minus the shortest chain from the operation to its job's end), ties by earliest start:
    a window propagated along the chain in both directions."""
    heads = heads_and_tails(problem)
    horizon = max((h + s + q for h, s, q in zip(heads.head, heads.shortest, heads.tail)), default=0)
    # The head breaks ties at a scale below one second of latest start.
    return [horizon - q - s + h / (horizon + 1.0) for h, s, q in zip(heads.head, heads.shortest, heads.tail)]


def earliest_start_priority(problem: Problem) -> list[float]:
    """Per operation: its earliest start along its chain, ties by latest start. Where chains
    are nearly as long as the optimum (no slack), this is nearly the optimum's own order on
    every cell (the long 100k job shop: no cell order by it needs idle time)."""
    heads = heads_and_tails(problem)
    horizon = max((h + s + q for h, s, q in zip(heads.head, heads.shortest, heads.tail)), default=0)
    return [h + (horizon - q - s) / (horizon + 1.0) for h, s, q in zip(heads.head, heads.shortest, heads.tail)]


def serial_schedule(problem: Problem, priority: Sequence[float], objective: str = "makespan", *, work_weight: float = WORK_WEIGHT, name: str = "") -> Schedule:
    """A complete, valid schedule: operations in `priority` order (smaller first) among those
    whose predecessors are placed, each inserted at its earliest fit on its best cell."""
    if not applies(problem):
        raise ValueError("serial_schedule: needs single-job cells without setups")
    began = time.perf_counter()
    tasks, jobs, cells = problem.tasks, problem.jobs, problem.cells
    n = len(tasks)
    # Per cell: starts and ends of its intervals in time order (work placed and windows).
    windows = [merged_windows(c.unavailable) for c in cells]
    starts: list[list[int]] = [[s for s, _ in w] for w in windows]
    ends: list[list[int]] = [[e for _, e in w] for w in windows]
    options = [problem.cells_for(t) for t in tasks]
    shortest = [min(d for _, d in o) for o in options]
    successors: list[list[int]] = [[] for _ in range(n)]
    waiting = [len(t.predecessors) for t in tasks]
    for t, task in enumerate(tasks):
        for p in task.predecessors:
            successors[p].append(t)
    ready = [max(task.release, jobs[task.job].release) for task in tasks]
    heap = [(priority[t], t) for t in range(n) if waiting[t] == 0]
    heapq.heapify(heap)
    placed: list[tuple[int, int, int]] = [(0, 0, 0)] * n
    while heap:
        _, t = heapq.heappop(heap)
        best = None
        for c, d in options[t]:
            s = _earliest_fit(starts[c], ends[c], ready[t], d)
            score = s + d + work_weight * (d - shortest[t])
            if best is None or score < best[0]:
                best = (score, c, s, d)
        _, c, s, d = best  # type: ignore[misc]
        # Zero-length work goes before an interval starting at the same time, so that the
        # cell's ends stay in order too.
        i = (bisect_left if d == 0 else bisect_right)(starts[c], s)
        starts[c].insert(i, s)
        ends[c].insert(i, s + d)
        placed[t] = (c, s, s + d)
        for u in successors[t]:
            waiting[u] -= 1
            if s + d > ready[u]:
                ready[u] = s + d
            if waiting[u] == 0:
                heapq.heappush(heap, (priority[u], u))
    assignments = [Assignment(jobs[task.job].id, task.op, cells[c].id, s, e) for task, (c, s, e) in zip(tasks, placed)]
    schedule = Schedule(assignments, problem.horizon, status="heuristic", objective=objective, name=name or f"{problem.name}/insertion")
    schedule.value = float(schedule.makespan)
    schedule.seconds = time.perf_counter() - began
    return schedule


def merged_windows(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(w for w in windows if w[1] > w[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _earliest_fit(starts: list[int], ends: list[int], ready: int, duration: int) -> int:
    """Earliest s >= ready with [s, s + duration) clear of every interval; zero-length work
    still may not sit strictly inside an interval."""
    need = max(duration, 1)
    i = bisect_right(ends, ready)  # intervals ending at or before `ready` are behind us
    s = ready
    while i < len(starts):
        if s + need <= starts[i] or (duration == 0 and s <= starts[i]):
            return s
        if ends[i] > s:
            s = ends[i]
        i += 1
    return s
