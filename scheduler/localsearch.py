"""Tabu search on the critical path for the makespan of a small flexible job shop: improves the
warm start before CP-SAT sees it (scheduler/cpsat/warmstart.py runs it, one restart per worker).

Why: on flexible job shops CP-SAT's LNS with two workers makes few, slow steps; what closes
these instances in the literature is a tabu search over critical operations. Hundreds of
thousands of cheap moves get near the best known plans; CP-SAT then proves from that hint where
it can (and on job shops improves it).

The moves and their scoring are those of the compiled large-shop search (scheduler/graphtabu.py,
on the arrays of scheduler/graph.py; Dauzere-Peres & Paulli 1997, Mastrolilli & Gambardella
2000): N5 swaps at the ends of critical blocks, and every critical operation moved to each other
eligible cell at every position where it cannot close a cycle, each scored in O(1) from heads
and tails; the best admissible one is made and its heads and tails updated incrementally. What
differs here is the tuning for a few hundred operations: any alternative cell is tried, scored
by the makespan estimate alone (the large shops' penalty on slower cells keeps a 100k search off
them, but on Brandimarte the best plans use slower cells: mk06 73 in 10 s with the large shops'
tuning, 59 with this one), with short tabu tenures and kicks back to the best plan that grow the
longer the search goes without a new best.

Before this module ran the same neighbourhoods in pure Python (evaluating each move by a full
pass over the plan): measured in the fifth session, the compiled loop makes about 30 times more
iterations per CPU second (mk10 107,000 against 3,700).

Scope: makespan on floors where every cell holds one job at a time, without family setups and
without unavailability windows (`applies`); anything else is returned unchanged. Precedences
may form any DAG and releases (job and task) are kept. The result is never worse than the start,
and with an iteration limit it depends on the seed alone."""
from __future__ import annotations

import time

from scheduler.graph import applies
from scheduler.graphtabu import Graph, Search
from scheduler.problem import Problem
from scheduler.schedule import Schedule

__all__ = ["applies", "improve"]

TENURE = (6, 14)  # tabu tenure range, in iterations
STALL = 5_000  # iterations without a new best before a kick back to the best plan
KICK = 3  # random reassignments of critical operations applied by a kick
# Every this many iterations without a new best, kicks grow by one more reassignment: the
# search stays close to its best plan first and goes further afield the longer it is stuck.
ESCALATE = 20_000
MAX_KICK = 30
# With `stall_stop` the search ends once it has gone this many iterations, or as many as it took
# to find its best plan if more, without a new best: on near-job-shops new bests come in a burst
# and the time after it serves CP-SAT's proofs better (Hurink la16: none after 1,477 of 99,383
# Python iterations). 40,000 compiled iterations cost about what 1,600 Python ones did.
PATIENCE = 40_000
ANY_CELL = 1 << 40  # "slower by at most this many percent": every eligible cell is tried
CHUNK_SECONDS = 0.05  # compiled iterations between clock checks take about this long


def improve(problem: Problem, start: Schedule, seconds: float, *, lower_bound: int = 0, seed: int = 0, stall_stop: bool = True,
            iterations: int | None = None) -> Schedule:
    """The best plan found within `seconds` (and `iterations`, when given) from the (valid,
    complete) `start`; `start` itself when the problem is out of scope or nothing better turns up.
    Stops early at `lower_bound`, and with `stall_stop` once stalled (see PATIENCE) so the
    caller's CP-SAT gets the rest."""
    if not applies(problem) or not start.assignments or seconds <= 0:
        return start
    graph = Graph(problem, start)
    # Not acyclic when zero-length operations tie so that a cell order contradicts a precedence:
    # the start plan is then returned unchanged rather than guessed at.
    if not graph.acyclic or graph.makespan <= lower_bound:
        return start
    search = Search(graph, seed, tenure=TENURE, stall=STALL, kick=KICK, work_weight=0.0, max_extra=ANY_CELL,
                    escalate=ESCALATE, max_kick=MAX_KICK)
    _run(search, time.perf_counter() + seconds, lower_bound, stall_stop, iterations)
    if search.best_makespan >= start.makespan:
        kept = Schedule(list(start.assignments), start.horizon, start.status, start.objective, start.value, name=start.name)
        kept.kpis = {**start.kpis, "tabu_iterations": search.iterations}
        return kept
    search.restore_best()
    result = graph.schedule(start)
    result.kpis = {**start.kpis, "tabu_iterations": search.iterations}
    return result


def _run(search: Search, deadline: float, lower_bound: int, stall_stop: bool, iterations: int | None) -> None:
    """Compiled chunks until the deadline, the bound, the iteration limit or the stall rule. Chunks
    end exactly where the limit or the stall rule falls, so both act at the same iteration
    whatever the clock (the clock only decides how many chunks fit)."""
    chunk = 64
    while time.perf_counter() < deadline and search.best_makespan > lower_bound:
        left = iterations - search.iterations if iterations is not None else ANY_CELL
        if stall_stop:
            left = min(left, search.found_at + max(PATIENCE, search.found_at) + 1 - search.iterations)
        if left <= 0:
            break
        began = time.perf_counter()
        search.advance(min(chunk, left), lower_bound)
        spent = time.perf_counter() - began
        chunk = max(16, min(1_000_000, int(chunk * CHUNK_SECONDS / max(spent, 1e-5))))
