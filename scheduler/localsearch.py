"""Tabu search on the critical path for the makespan of a flexible job shop: improves the warm
start before CP-SAT sees it.

Why: on larger job-shop-like instances CP-SAT's LNS spends much of a short budget climbing from
the list schedule; a few thousand cheap critical-path moves get there first, and CP-SAT then
improves and proves from the better hint.

Scope: makespan on floors where every cell holds one job at a time, without family setups and
without unavailability windows (`applies`); anything else is returned unchanged. Precedences
may form any DAG and releases (job and task) are kept.

The plan is a cell per operation plus an order on each cell; its schedule is the earliest
(semi-active) one for that order, computed over the graph of precedence and cell-order arcs.
Neighbourhood of the current plan's critical path:
  - N5-style swaps: the first two and the last two operations of every critical block;
  - reassignment: a critical operation moved to another eligible cell, inserted where its
    current start falls in that cell's order (and one slot either side).
A move that would close a cycle is discarded. The best non-tabu neighbour is taken even when
worse (the tabu list forbids undoing it for a few iterations), a move that beats the best
plan so far is always allowed, and after a run without improvement the search goes back to
the best plan. The result is never worse than the start."""
from __future__ import annotations

import random
import time

from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule

_STALL = 300  # iterations without a new best before the search returns to the best plan
_REASSIGN_SAMPLE = 24  # reassignment moves tried per iteration (all swaps are always tried)


def applies(problem: Problem) -> bool:
    """Capacity-1 cells, no setups, no windows: the cases the disjunctive graph models exactly."""
    return all(c.capacity == 1 and c.setup == 0 and not c.unavailable for c in problem.cells)


def improve(problem: Problem, start: Schedule, seconds: float, *, lower_bound: int = 0, seed: int = 0) -> Schedule:
    """The best plan found within `seconds` from the (valid, complete) `start`; `start` itself
    when the problem is out of scope or nothing better turns up. Stops early at `lower_bound`."""
    if not applies(problem) or not start.assignments or seconds <= 0:
        return start
    search = _Search(problem, start, random.Random(seed))
    if search.starts is None or search.best_makespan <= lower_bound:
        return start
    search.run(time.perf_counter() + seconds, lower_bound)
    if search.best_makespan >= start.makespan:
        return start
    return search.schedule(start)


class _Search:
    def __init__(self, problem: Problem, start: Schedule, rng: random.Random) -> None:
        self.problem = problem
        self.rng = rng
        n = len(problem.tasks)
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
        # Each (cell, duration) option of a task, keyed by cell.
        self.options: list[dict[int, int]] = []
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
        self.cell = cell
        self.seq = [[t for _, _, t in sorted(p)] for p in placed]
        # None when zero-length operations tie so that the cell order contradicts a precedence:
        # the start plan is then returned unchanged rather than guessed at.
        evaluated = self.evaluate(self.cell, self.seq)
        self.starts, self.makespan = evaluated if evaluated is not None else (None, start.makespan)
        self.best_cell, self.best_seq, self.best_makespan = list(cell), [list(s) for s in self.seq], self.makespan

    def evaluate(self, cell: list[int], seq: list[list[int]]) -> tuple[list[int], int] | None:
        """Earliest starts for these cell orders, or None when the orders close a cycle."""
        n = len(cell)
        cell_pred = [-1] * n
        cell_succ = [-1] * n
        for order in seq:
            for a, b in zip(order, order[1:]):
                cell_pred[b] = a
                cell_succ[a] = b
        waiting = [len(self.preds[t]) + (cell_pred[t] >= 0) for t in range(n)]
        ready = [t for t in range(n) if waiting[t] == 0]
        starts = list(self.release)
        ends = [0] * n
        options, succs = self.options, self.succs
        done = 0
        while ready:
            t = ready.pop()
            done += 1
            end = starts[t] + options[t][cell[t]]
            ends[t] = end
            for s in succs[t]:
                if end > starts[s]:
                    starts[s] = end
                waiting[s] -= 1
                if waiting[s] == 0:
                    ready.append(s)
            s = cell_succ[t]
            if s >= 0:
                if end > starts[s]:
                    starts[s] = end
                waiting[s] -= 1
                if waiting[s] == 0:
                    ready.append(s)
        if done < n:
            return None
        return starts, max(ends, default=0)

    def critical_path(self) -> list[int]:
        """One longest chain, first operation first: from an operation ending at the makespan,
        back through whichever predecessor (job or cell) ends exactly at its start."""
        starts, cell, options = self.starts, self.cell, self.options
        cell_pred: dict[int, int] = {}
        for order in self.seq:
            for a, b in zip(order, order[1:]):
                cell_pred[b] = a
        ends = [starts[t] + options[t][cell[t]] for t in range(len(starts))]
        t = max(range(len(ends)), key=lambda i: (ends[i], self.rng.random()))
        path = [t]
        while True:
            previous = [p for p in self.preds[t] if ends[p] == starts[t]]
            m = cell_pred.get(t)
            if m is not None and ends[m] == starts[t]:
                previous.append(m)
            if not previous:
                break
            t = self.rng.choice(previous)
            path.append(t)
        path.reverse()
        return path

    def moves(self, path: list[int]) -> list[tuple[tuple, int, int, int]]:
        """(tabu key, task, new cell, new position) for each neighbour of the critical path."""
        found = []
        blocks: list[list[int]] = []
        for t in path:
            if blocks and self.cell[blocks[-1][-1]] == self.cell[t]:
                blocks[-1].append(t)
            else:
                blocks.append([t])
        for block in blocks:
            if len(block) < 2:
                continue
            pairs = {(block[0], block[1]), (block[-2], block[-1])}
            for a, b in pairs:  # b moves in front of a
                position = self.seq[self.cell[b]].index(a)
                found.append((("swap", a, b), b, self.cell[b], position))
        reassign = []
        for t in path:
            for c in self.options[t]:
                if c == self.cell[t]:
                    continue
                order = self.seq[c]
                at = sum(1 for u in order if self.starts[u] < self.starts[t])
                for position in {max(0, at - 1), at, min(len(order), at + 1)}:
                    reassign.append((("cell", t, c), t, c, position))
        if len(reassign) > _REASSIGN_SAMPLE:
            reassign = self.rng.sample(reassign, _REASSIGN_SAMPLE)
        return found + reassign

    def apply(self, task: int, cell: int, position: int) -> tuple[list[int], list[list[int]]]:
        new_cell = list(self.cell)
        new_seq = list(self.seq)
        old = self.cell[task]
        new_seq[old] = [u for u in self.seq[old] if u != task]
        target = list(new_seq[cell]) if cell != old else new_seq[old]
        target.insert(min(position, len(target)), task)
        new_seq[cell] = target
        new_cell[task] = cell
        return new_cell, new_seq

    def run(self, deadline: float, lower_bound: int) -> None:
        tabu: dict[tuple, int] = {}
        iteration = stall = 0
        while time.perf_counter() < deadline and self.best_makespan > lower_bound:
            iteration += 1
            chosen = None
            for key, task, cell, position in self.moves(self.critical_path()):
                new_cell, new_seq = self.apply(task, cell, position)
                evaluated = self.evaluate(new_cell, new_seq)
                if evaluated is None:
                    continue
                makespan = evaluated[1]
                allowed = tabu.get(key, 0) < iteration or makespan < self.best_makespan
                if allowed and (chosen is None or makespan < chosen[0]):
                    chosen = (makespan, key, new_cell, new_seq, evaluated[0])
            if chosen is None:
                break  # every neighbour is tabu or cyclic: nothing left to explore
            makespan, key, new_cell, new_seq, starts = chosen
            # Forbid undoing the move: the swapped pair, or the operation back to its old cell.
            undo = ("swap", key[2], key[1]) if key[0] == "swap" else ("cell", key[1], self.cell[key[1]])
            tabu[undo] = iteration + 8 + self.rng.randrange(8)
            self.cell, self.seq, self.starts, self.makespan = new_cell, new_seq, starts, makespan
            if makespan < self.best_makespan:
                self.best_cell, self.best_seq, self.best_makespan = list(new_cell), [list(s) for s in new_seq], makespan
                stall = 0
            else:
                stall += 1
            if stall >= _STALL:
                self.cell, self.seq = list(self.best_cell), [list(s) for s in self.best_seq]
                self.starts, self.makespan = self.evaluate(self.cell, self.seq)  # type: ignore[misc]
                tabu.clear()
                stall = 0

    def schedule(self, like: Schedule) -> Schedule:
        starts, _ = self.evaluate(self.best_cell, self.best_seq)  # type: ignore[misc]
        problem = self.problem
        assignments = [
            Assignment(problem.jobs[t.job].id, t.op, problem.cells[self.best_cell[i]].id, starts[i],
                       starts[i] + self.options[i][self.best_cell[i]])
            for i, t in enumerate(problem.tasks)
        ]
        result = Schedule(assignments, like.horizon, like.status, like.objective, name=like.name)
        result.kpis = dict(like.kpis)
        return result
