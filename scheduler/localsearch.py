"""Tabu search on the critical path for the makespan of a flexible job shop: improves the warm
start before CP-SAT sees it.

Why: on flexible job shops CP-SAT's LNS with two workers makes few, slow steps; what closes
these instances in the literature is a tabu search over critical operations. A few tens of
thousands of cheap moves get near the best known plans, and CP-SAT then improves and proves
from that hint.

Scope: makespan on floors where every cell holds one job at a time, without family setups and
without unavailability windows (`applies`); anything else is returned unchanged. Precedences
may form any DAG and releases (job and task) are kept.

The plan is a cell per operation plus an order on each cell; its schedule is the earliest
(semi-active) one for that order. Each iteration computes every operation's head r (earliest
start) and tail q (longest chain after it), takes one critical path and scores its neighbours
by estimate, in O(1) each, from r and q (Dauzere-Peres & Paulli 1997, Mastrolilli &
Gambardella 2000):
  - swaps of the first two and the last two operations of every critical block (N5);
  - reassignment: a critical operation moved to another eligible cell, at every position of
    that cell's order where it cannot close a cycle: after the operations that cannot follow
    it (r[x] < r[v] + p[v]) and before those that cannot precede it (q[x] < q[v] + p[v]).
The best-scored neighbour that is not tabu (or would beat the best plan) is made, even when
worse, and evaluated exactly; undoing it is tabu for a random tenure. After a long run without
a new best, the search restarts from the best plan with a few random moves (a kick); once it has
gone as long without a new best as it took to find it, it stops and leaves the time to CP-SAT. The result
is never worse than the start."""
from __future__ import annotations

import bisect
import random
import time

from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule

_STALL = 400  # iterations without a new best before the kick
_KICK = 3  # random reassignments applied to the best plan by a kick
_TENURE = (6, 14)  # tabu tenure range, in iterations
# The search stops once it has gone this many iterations, or as many as it took to find its
# best plan if more, without a new best. Measured (20 s runs, docs/scheduling.md): new bests
# come in a burst (mk10 none after iteration 1,856 of 26,451; Hurink la16 none after 1,477 of
# 99,383), and the time after the burst serves CP-SAT better, which improves and proves.
_PATIENCE = 4 * _STALL


def applies(problem: Problem) -> bool:
    """Capacity-1 cells, no setups, no windows: the cases the disjunctive graph models exactly."""
    return all(c.capacity == 1 and c.setup == 0 and not c.unavailable for c in problem.cells)


def improve(problem: Problem, start: Schedule, seconds: float, *, lower_bound: int = 0, seed: int = 0, stall_stop: bool = True) -> Schedule:
    """The best plan found within `seconds` from the (valid, complete) `start`; `start` itself
    when the problem is out of scope or nothing better turns up. Stops early at `lower_bound`,
    and with `stall_stop` once stalled (see _PATIENCE) so the caller's CP-SAT gets the rest."""
    if not applies(problem) or not start.assignments or seconds <= 0:
        return start
    search = _Search(problem, start, random.Random(seed))
    if search.plan is None or search.best.makespan <= lower_bound:
        return start
    search.run(time.perf_counter() + seconds, lower_bound, stall_stop)
    if search.best.makespan >= start.makespan:
        kept = Schedule(list(start.assignments), start.horizon, start.status, start.objective, start.value, name=start.name)
        kept.kpis = {**start.kpis, "tabu_iterations": search.iterations}
        return kept
    return search.schedule(start)


class _Plan:
    """A cell per operation and an order per cell, with the heads, tails and makespan of its
    earliest schedule."""

    __slots__ = ("cell", "seq", "head", "tail", "makespan")

    def __init__(self, cell: list[int], seq: list[list[int]], head: list[int], tail: list[int], makespan: int) -> None:
        self.cell, self.seq, self.head, self.tail, self.makespan = cell, seq, head, tail, makespan


class _Search:
    def __init__(self, problem: Problem, start: Schedule, rng: random.Random) -> None:
        self.problem = problem
        self.rng = rng
        n = len(problem.tasks)
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
        self.options: list[dict[int, int]] = []  # per task: cell -> duration (the fastest mode on it)
        for t in problem.tasks:
            fastest: dict[int, int] = {}
            for c, d in problem.cells_for(t):
                fastest[c] = min(d, fastest.get(c, d))
            self.options.append(fastest)
        self.preds = [tuple(t.predecessors) for t in problem.tasks]
        succs: list[list[int]] = [[] for _ in range(n)]
        for t, ps in enumerate(self.preds):
            for p in ps:
                succs[p].append(t)
        self.succs = [tuple(s) for s in succs]
        self.release = [max(t.release, problem.jobs[t.job].release) for t in problem.tasks]
        cell = [0] * n
        placed: list[list[tuple[int, int, int]]] = [[] for _ in problem.cells]
        for a in start.assignments:
            t = task_index[(a.job, a.op)]
            cell[t] = cell_index[a.cell]
            placed[cell[t]].append((a.start, a.end, t))
        # None when zero-length operations tie so that a cell order contradicts a precedence:
        # the start plan is then returned unchanged rather than guessed at.
        self.plan = self.evaluate(cell, [[t for _, _, t in sorted(p)] for p in placed])
        self.best = self.plan if self.plan is not None else _Plan(cell, [], [], [], start.makespan)
        self.iterations = 0

    def evaluate(self, cell: list[int], seq: list[list[int]]) -> _Plan | None:
        """Heads, tails and makespan of these cell orders, or None when they close a cycle."""
        n = len(cell)
        cell_pred = [-1] * n
        cell_succ = [-1] * n
        for order in seq:
            for a, b in zip(order, order[1:]):
                cell_pred[b] = a
                cell_succ[a] = b
        options, succs, preds = self.options, self.succs, self.preds
        duration = [options[t][cell[t]] for t in range(n)]
        waiting = [len(preds[t]) + (cell_pred[t] >= 0) for t in range(n)]
        ready = [t for t in range(n) if waiting[t] == 0]
        head = list(self.release)
        order = []
        while ready:
            t = ready.pop()
            order.append(t)
            end = head[t] + duration[t]
            s = cell_succ[t]
            for u in succs[t] if s < 0 else succs[t] + (s,):
                if end > head[u]:
                    head[u] = end
                waiting[u] -= 1
                if waiting[u] == 0:
                    ready.append(u)
        if len(order) < n:
            return None
        tail = [0] * n
        for t in reversed(order):
            s = cell_succ[t]
            best = duration[s] + tail[s] if s >= 0 else 0
            for u in succs[t]:
                after = duration[u] + tail[u]
                if after > best:
                    best = after
            tail[t] = best
        makespan = max((head[t] + duration[t] + tail[t] for t in range(n)), default=0)
        return _Plan(cell, seq, head, tail, makespan)

    def duration(self, plan: _Plan, t: int) -> int:
        return self.options[t][plan.cell[t]]

    def critical_path(self, plan: _Plan) -> tuple[list[int], list[bool]]:
        """One longest chain, first operation first, and for each step whether it is a cell arc
        (same cell, adjacent in its order) rather than a routing arc."""
        head, cell = plan.head, plan.cell
        ends = [h + options[c] for h, c, options in zip(head, cell, self.options)]
        cell_pred = {b: a for order in plan.seq for a, b in zip(order, order[1:])}
        last = max(ends)
        t = self.rng.choice([i for i, end in enumerate(ends) if end == last])
        path, links = [t], []  # links[i]: is the step from path[i + 1] to path[i] a cell arc?
        while True:
            previous = [(p, False) for p in self.preds[t] if ends[p] == head[t]]
            m = cell_pred.get(t)
            if m is not None and ends[m] == head[t]:
                previous.append((m, True))
            if not previous:
                break
            t, arc = self.rng.choice(previous)
            path.append(t)
            links.append(arc)
        path.reverse()
        links.reverse()
        return path, [False] + links

    def routing_head(self, plan: _Plan, t: int) -> int:
        """Earliest start of t from its release and routing predecessors alone."""
        best = self.release[t]
        for p in self.preds[t]:
            end = plan.head[p] + self.duration(plan, p)
            if end > best:
                best = end
        return best

    def routing_tail(self, plan: _Plan, t: int) -> int:
        best = 0
        for s in self.succs[t]:
            after = self.duration(plan, s) + plan.tail[s]
            if after > best:
                best = after
        return best

    def moves(self, plan: _Plan) -> list[tuple[int, float, tuple, tuple]]:
        """(estimated makespan, tie-break, tabu key, move) for the neighbours of one critical path."""
        path, by_cell = self.critical_path(plan)
        found = []
        blocks: list[list[int]] = []
        for t, arc in zip(path, by_cell):
            if arc:
                blocks[-1].append(t)
            else:
                blocks.append([t])
        for block in blocks:
            if len(block) < 2:
                continue
            for u, v in {(block[0], block[1]), (block[-2], block[-1])}:
                found.append((self.swap_estimate(plan, u, v), self.rng.random(), ("swap", v, u), ("swap", u, v)))
        lines: dict[int, tuple] = {}
        for v in path:
            for k in self.options[v]:
                if k != plan.cell[v]:
                    found.extend(self.reassignments(plan, v, k, lines))
        return found

    def swap_estimate(self, plan: _Plan, u: int, v: int) -> int:
        """Makespan estimate after v moves in front of its cell predecessor u."""
        head, tail = plan.head, plan.tail
        order = plan.seq[plan.cell[u]]
        i = order.index(u)
        a = order[i - 1] if i > 0 else -1
        b = order[i + 2] if i + 2 < len(order) else -1
        pu, pv = self.duration(plan, u), self.duration(plan, v)
        head_v = max(self.routing_head(plan, v), head[a] + self.duration(plan, a) if a >= 0 else 0)
        head_u = max(self.routing_head(plan, u), head_v + pv)
        tail_u = max(self.routing_tail(plan, u), self.duration(plan, b) + tail[b] if b >= 0 else 0)
        tail_v = max(self.routing_tail(plan, v), tail_u + pu)
        return max(head_v + pv + tail_v, head_u + pu + tail_u)

    def reassignments(self, plan: _Plan, v: int, k: int, lines: dict[int, tuple]) -> list[tuple[int, float, tuple, tuple]]:
        """The best-estimated move of v onto cell k among the positions that cannot close a cycle
        (all positions share one tabu key, so only the best of them would ever be made).
        `lines` caches per cell the heads, negated tails, ends and (duration + tail) along its order."""
        if k not in lines:
            order = plan.seq[k]
            head, tail = plan.head, plan.tail
            durations = [self.duration(plan, x) for x in order]
            lines[k] = ([head[x] for x in order], [-tail[x] for x in order],
                        [head[x] + d for x, d in zip(order, durations)], [d + tail[x] for x, d in zip(order, durations)])
        heads, neg_tails, ends, afters = lines[k]
        pv = self.duration(plan, v)
        # Along a cell's order heads rise and tails fall, so both sets are a prefix / suffix.
        latest = bisect.bisect_left(heads, plan.head[v] + pv)
        earliest = bisect.bisect_right(neg_tails, -(plan.tail[v] + pv))
        if earliest > latest:
            return []
        own_head, own_tail, new_pv = self.routing_head(plan, v), self.routing_tail(plan, v), self.options[v][k]
        n = len(heads)
        best, where = None, earliest
        for i in range(earliest, latest + 1):
            start = ends[i - 1] if i > 0 and ends[i - 1] > own_head else own_head
            after = afters[i] if i < n and afters[i] > own_tail else own_tail
            estimate = start + new_pv + after
            if best is None or estimate < best:
                best, where = estimate, i
        return [(best, self.rng.random(), ("cell", v, k), ("cell", v, k, where))]

    def apply(self, plan: _Plan, move: tuple) -> _Plan | None:
        cell, seq = list(plan.cell), list(plan.seq)
        if move[0] == "swap":
            _, u, v = move
            order = list(seq[cell[u]])
            i = order.index(u)
            order[i], order[i + 1] = v, u
            seq[cell[u]] = order
        else:
            _, v, k, i = move
            seq[cell[v]] = [u for u in seq[cell[v]] if u != v]
            target = list(seq[k])
            target.insert(i, v)
            seq[k] = target
            cell[v] = k
        return self.evaluate(cell, seq)

    def step(self, plan: _Plan, tabu: dict[tuple, int], iteration: int) -> tuple[_Plan, tuple] | None:
        """The best-estimated admissible neighbour that does not close a cycle, and its undo key."""
        for estimate, _, key, move in sorted(self.moves(plan)):
            if tabu.get(key, 0) >= iteration and estimate >= self.best.makespan:
                continue
            moved = self.apply(plan, move)
            if moved is None:
                continue
            undo = ("swap", move[1], move[2]) if move[0] == "swap" else ("cell", move[1], plan.cell[move[1]])
            return moved, undo
        return None

    def kick(self, plan: _Plan) -> _Plan:
        """The plan after a few random reassignments of critical operations (a diversification)."""
        for _ in range(_KICK):
            candidates = [move for _, _, _, move in self.moves(plan) if move[0] == "cell"]
            if not candidates:
                break
            moved = self.apply(plan, self.rng.choice(candidates))
            if moved is not None:
                plan = moved
        return plan

    def run(self, deadline: float, lower_bound: int, stall_stop: bool = True) -> None:
        tabu: dict[tuple, int] = {}
        plan = self.plan
        iteration = stall = 0
        found_at = 0  # iteration of the last new best
        while time.perf_counter() < deadline and self.best.makespan > lower_bound:
            if stall_stop and iteration - found_at > max(_PATIENCE, found_at):
                break  # stalled for as long as it took to find the best: the rest is CP-SAT's
            iteration += 1
            stepped = self.step(plan, tabu, iteration)
            if stepped is None:
                stall = _STALL  # every neighbour is tabu or cyclic: kick
            else:
                plan, undo = stepped
                tabu[undo] = iteration + self.rng.randint(*_TENURE)
                if plan.makespan < self.best.makespan:
                    self.best, stall, found_at = plan, 0, iteration
                else:
                    stall += 1
            if stall >= _STALL:
                plan, stall = self.kick(self.best), 0
                tabu.clear()
        self.iterations = iteration

    def schedule(self, like: Schedule) -> Schedule:
        problem, best = self.problem, self.best
        assignments = [
            Assignment(problem.jobs[t.job].id, t.op, problem.cells[best.cell[i]].id, best.head[i],
                       best.head[i] + self.duration(best, i))
            for i, t in enumerate(problem.tasks)
        ]
        result = Schedule(assignments, like.horizon, like.status, like.objective, float(best.makespan), name=like.name)
        result.kpis = {**like.kpis, "tabu_iterations": self.iterations}
        return result
