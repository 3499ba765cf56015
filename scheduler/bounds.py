"""Lower bounds on a Problem computed without any solver: what can this floor do at best?

Two classic relaxations, both valid for flexible assignment (a task may use any eligible pool):

* path: a job cannot finish before its release plus its longest chain of shortest durations;
* load: the tasks that can ONLY run on a set S of pools need at least their total shortest
  work divided by the number of cell slots in S, after the earliest of them may start, plus the
  shortest remaining chain behind the last of them (parallel-machine relaxation with heads and
  tails, tightened by trying every head threshold).

Setups and unavailability windows are relaxed away: the bounds stay valid, just weaker.
"""
from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass

from scheduler.problem import Problem

# Above these counts of distinct eligible-pool sets the pairwise-union and per-set candidates
# would cost O(sets^2 * tasks); a 100k-operation FJSP has ~one distinct set per operation.
_MAX_SETS = 400
_MAX_SETS_FOR_UNIONS = 60


@dataclass(frozen=True)
class Heads:
    """Per task: shortest duration, earliest start (head) and shortest work after it (tail)."""

    shortest: list[int]
    head: list[int]
    tail: list[int]


def topological_order(problem: Problem) -> list[int]:
    """Task indices with every predecessor first; ValueError names a cycle's task if there is one."""
    order = predecessors_order([t.predecessors for t in problem.tasks])
    if len(order) != len(problem.tasks):
        stuck = min(set(range(len(problem.tasks))) - set(order))
        raise ValueError(f"tasks[{stuck}] ({problem.jobs[problem.tasks[stuck].job].id}/{problem.tasks[stuck].op}): precedence cycle")
    return order


def predecessors_order(preds: list[list[int]]) -> list[int]:
    """topological_order of tasks given as their predecessor lists (Kahn's: successors in task
    order, first in first out), for callers that hold no Problem; tasks on a cycle are left out."""
    indegree = [len(mine) for mine in preds]
    successors: list[list[int]] = [[] for _ in preds]
    for t, mine in enumerate(preds):
        for p in mine:
            successors[p].append(t)
    queue = deque(t for t, d in enumerate(indegree) if d == 0)
    order: list[int] = []
    while queue:
        t = queue.popleft()
        order.append(t)
        for s in successors[t]:
            indegree[s] -= 1
            if indegree[s] == 0:
                queue.append(s)
    return order


def heads_and_tails(problem: Problem) -> Heads:
    order = topological_order(problem)
    shortest = [min(d for _, d in t.modes) for t in problem.tasks]
    head = [max(problem.jobs[t.job].release, t.release) for t in problem.tasks]
    tail = [0] * len(problem.tasks)
    for t in order:
        for p in problem.tasks[t].predecessors:
            head[t] = max(head[t], head[p] + shortest[p])
    for t in reversed(order):
        for p in problem.tasks[t].predecessors:
            tail[p] = max(tail[p], shortest[t] + tail[t])
    return Heads(shortest, head, tail)


def path_bound(problem: Problem, heads: Heads) -> int:
    """Longest job chain of shortest durations, counting releases."""
    return max((h + p + q for h, p, q in zip(heads.head, heads.shortest, heads.tail)), default=0)


def _slots(problem: Problem, pools: frozenset[int]) -> int:
    return sum(problem.cells[c].capacity for p in pools for c in problem.pools[p].cells)


def _set_bound(items: list[tuple[int, int, int]], slots: int) -> int:
    """Parallel-machine bound for (head, work, tail) items on `slots` identical slots: for every
    head threshold h, the work released at or after h ends no earlier than h + ceil(work/slots),
    and the task finishing it still has at least the smallest tail among them to go. Same
    argument mirrored on tails."""
    best = 0
    for key, other in ((0, 2), (2, 0)):
        work, closest = 0, math.inf
        for item in sorted(items, key=lambda it: -it[key]):
            work += item[1]
            closest = min(closest, item[other])
            best = max(best, item[key] + -(-work // slots) + int(closest))
    return best


def load_bound(problem: Problem, heads: Heads) -> int:
    """Best parallel-machine bound over candidate pool sets: every single pool, every distinct
    eligible set, unions of overlapping pairs of those (when few), and all pools together."""
    groups: dict[frozenset[int], list[int]] = defaultdict(list)
    for t, task in enumerate(problem.tasks):
        groups[frozenset(p for p, _ in task.modes)].append(t)
    candidates: set[frozenset[int]] = {frozenset([p]) for p in range(len(problem.pools))}
    candidates.add(frozenset(range(len(problem.pools))))
    distinct = list(groups)
    if len(distinct) <= _MAX_SETS:
        candidates.update(distinct)
    if len(distinct) <= _MAX_SETS_FOR_UNIONS:
        candidates.update(a | b for i, a in enumerate(distinct) for b in distinct[i + 1 :] if a & b)
    # A set's members are the groups whose every pool lies in it; indexing groups by their
    # lowest pool visits each group once per candidate pool instead of once per candidate
    # (100k-operation shops have ~one group per operation and ~1,700 candidates: 45 s -> <1 s).
    by_lowest: dict[int, list[frozenset[int]]] = defaultdict(list)
    for key in groups:
        by_lowest[min(key)].append(key)
    best = 0
    for pools in candidates:
        slots = _slots(problem, pools)
        members = [t for p in pools for key in by_lowest.get(p, ()) if key <= pools for t in groups[key]]
        if not members or slots == 0:
            continue
        items = [(heads.head[t], heads.shortest[t], heads.tail[t]) for t in members]
        best = max(best, _set_bound(items, slots))
    return best


def job_completion_bounds(problem: Problem, heads: Heads) -> list[int]:
    """Earliest possible completion of each job (its path bound alone)."""
    out = [0] * len(problem.jobs)
    for t, task in enumerate(problem.tasks):
        out[task.job] = max(out[task.job], heads.head[t] + heads.shortest[t])
    return out


@dataclass(frozen=True)
class Bounds:
    path: int
    load: int
    heads: Heads

    @property
    def makespan(self) -> int:
        return max(self.path, self.load)


def compute_bounds(problem: Problem) -> Bounds:
    heads = heads_and_tails(problem)
    return Bounds(path_bound(problem, heads), load_bound(problem, heads), heads)


def objective_bound(problem: Problem, objective: str, bounds: Bounds | None = None) -> float:
    """Our own bound on an objective: a lower bound for makespan and weighted_tardiness, an
    upper bound for mw (MW of the jobs that could each finish by the horizon on their own)."""
    bounds = bounds or compute_bounds(problem)
    if objective == "makespan":
        return float(bounds.makespan)
    completion = job_completion_bounds(problem, bounds.heads)
    if objective == "weighted_tardiness":
        return float(sum(job.weight * max(0, completion[j] - job.due) for j, job in enumerate(problem.jobs) if job.due is not None))
    if objective == "mw":
        return float(sum(job.mw for j, job in enumerate(problem.jobs) if job.tasks and completion[j] <= problem.horizon))
    raise ValueError(f"objective: {objective!r} is not one of makespan, weighted_tardiness, mw")
