"""Tabu search on the critical path for large flexible job shops (makespan), on the array
graph of scheduler/graph.py: the neighbourhoods of scheduler/localsearch.py (N5 swaps at the
ends of critical blocks; a critical operation moved to each other eligible machine at every
position where it cannot close a cycle, scored by the Mastrolilli-Gambardella estimate from
heads and tails), but each move re-computes only the heads and tails it changes, and the loop
runs compiled. At 100,000 operations that is thousands of moves a second instead of a few.

Scope as scheduler/graph.applies: makespan, single-job cells, no setups, no windows.
The result is never worse than the start (the best plan is kept, the start if nothing beats it).
"""
from __future__ import annotations

import time

import numpy as np
from numba import njit

from scheduler.graph import INT, applies, full_heads_tails, longest_into, makespan_of, propagate_heads, propagate_tails, reassign, swap
from scheduler.construct import list_schedule
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule

# Iterations without a new best before the search restarts from the best plan with a kick:
# STALL, or one per STALL_PER_OPERATIONS operations if more (a large plan has more critical
# paths to untangle on a plateau; generated 100k shops, 90 s: 20,000 ended at +0.81%, 3,000 at
# +0.89%; at 10k both end within 0.05%).
STALL = 3000
STALL_PER_OPERATIONS = 5
KICK = 3  # random reassignments of critical operations applied by a kick
TENURE = (8, 20)  # tabu tenure range, in iterations
# A move to a slower alternative is scored as if the path through it were this many times its
# extra seconds longer, and alternatives over MAX_EXTRA_PERCENT slower are not tried: extra
# work is capacity lost to every path (measured, 10k generated shops, 8 s: weight 0 / 1 / 2 and
# no limit end at +0.56-0.67%, the limit of 10% at +0.56-0.59%; weight 4 leaves half the extra
# work of weight 1; without the limit and the weight the search drifts onto slow machines).
WORK_WEIGHT = 3.0
MAX_EXTRA_PERCENT = 10
# The dispatcher's weight on a slower alternative's extra seconds for the least-work start.
LEAST_WORK_WEIGHT = 1000.0
# With several starts, each is searched for this share of the time before the best goes on.
PROBE_SHARE = 0.05
# Counters shared with the compiled loop (one int64 array).
_IT, _STALL, _BEST, _CUR, _BEST_IS_CURRENT, _FULL, _TOUCHED, _KICKS, _FOUND_AT, _SEEDED = range(10)


class Graph:
    """A plan of `problem` as arrays (scheduler/graph.py layout), built from a valid schedule."""

    def __init__(self, problem: Problem, start: Schedule) -> None:
        n, m = len(problem.tasks), len(problem.cells)
        self.problem = problem
        preds = [sorted(set(t.predecessors)) for t in problem.tasks]
        succs: list[list[int]] = [[] for _ in range(n)]
        for t, ps in enumerate(preds):
            for p in ps:
                succs[p].append(t)
        self.jp_ptr, self.jp_idx = _csr(preds)
        self.js_ptr, self.js_idx = _csr(succs)
        options = []
        for t in problem.tasks:
            fastest: dict[int, int] = {}
            for c, d in problem.cells_for(t):
                fastest[c] = min(d, fastest.get(c, d))
            options.append(sorted(fastest.items()))
        self.opt_ptr, flat = _csr(options, pairs=True)
        self.opt_m, self.opt_d = flat[:, 0].copy(), flat[:, 1].copy()
        self.release = np.array([max(t.release, problem.jobs[t.job].release) for t in problem.tasks], INT)
        self.sinks = np.array([t for t in range(n) if not succs[t]], INT)
        self.zeros = np.zeros(n, INT)
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
        self.mach = np.zeros(n, INT)
        self.dur = np.zeros(n, INT)
        placed: list[list[tuple[int, int, int]]] = [[] for _ in range(m)]
        for a in start.assignments:
            t = task_index[(a.job, a.op)]
            c = cell_index[a.cell]
            self.mach[t] = c
            self.dur[t] = dict(options[t])[c]
            placed[c].append((a.start, a.end, t))
        self.mprev = np.full(n, -1, INT)
        self.mnext = np.full(n, -1, INT)
        self.mfirst = np.full(m, -1, INT)
        self.mlast = np.full(m, -1, INT)
        for c, items in enumerate(placed):
            order = [t for _, _, t in sorted(items)]
            if order:
                self.mfirst[c], self.mlast[c] = order[0], order[-1]
            for a, b in zip(order, order[1:]):
                self.mnext[a], self.mprev[b] = b, a
        self.head = np.zeros(n, INT)
        self.tail = np.zeros(n, INT)
        self.order = np.zeros(n, INT)
        self.acyclic = self.recompute()

    def recompute(self) -> bool:
        return bool(full_heads_tails(self.jp_ptr, self.jp_idx, self.js_ptr, self.js_idx, self.release, self.dur, self.mprev, self.mnext,
                                     self.head, self.tail, self.order))

    @property
    def makespan(self) -> int:
        return int(makespan_of(self.sinks, self.head, self.dur))

    def static(self) -> tuple:
        return (self.jp_ptr, self.jp_idx, self.js_ptr, self.js_idx, self.opt_ptr, self.opt_m, self.opt_d, self.release, self.sinks, self.zeros)

    def state(self) -> tuple:
        return (self.mach, self.dur, self.mprev, self.mnext, self.mfirst, self.mlast, self.head, self.tail)

    def schedule(self, like: Schedule) -> Schedule:
        problem = self.problem
        assignments = [Assignment(problem.jobs[t.job].id, t.op, problem.cells[int(self.mach[i])].id, int(self.head[i]), int(self.head[i] + self.dur[i]))
                       for i, t in enumerate(problem.tasks)]
        return Schedule(assignments, like.horizon, like.status, like.objective, float(self.makespan), name=like.name)


def _csr(rows: list, pairs: bool = False) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(rows) + 1, INT)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    flat = [x for r in rows for x in r]
    idx = np.array(flat, INT).reshape(-1, 2) if pairs else np.array(flat, INT)
    if pairs and not flat:
        idx = np.zeros((0, 2), INT)
    return ptr, idx


def least_work_start(problem: Problem) -> Schedule:
    """The dispatcher with slower alternatives all but forbidden: more idle time than the best
    dispatch, but the least total work. The tabu search removes idle time far better than extra
    work (measured on generated 10k shops, 10 s: from the best dispatch, +5.0%, it ends at
    +1.9% with 1.9% extra work left; from this start, +11%, at +0.6%)."""
    return list_schedule(problem, rule="slack", objective="makespan", work_weight=LEAST_WORK_WEIGHT)


def improve(problem: Problem, start: Schedule | list[Schedule], seconds: float, *, lower_bound: int = 0, seed: int = 0,
            patience: float | None = None) -> Schedule:
    """The best plan found within `seconds` from the (valid, complete) `start`, or from the most
    promising of several starts (each searched for a short probe first); the best start itself
    when out of scope or when nothing better turns up. Stops early at `lower_bound`, and after
    `patience` seconds without a new best."""
    starts = [start] if isinstance(start, Schedule) else list(start)
    first = min(starts, key=lambda s: s.makespan)
    if not applies(problem) or not first.assignments or seconds <= 0:
        return first
    began = time.perf_counter()
    deadline = began + seconds
    searches = []
    for k, plan in enumerate(starts):
        graph = Graph(problem, plan)
        if graph.acyclic:
            searches.append(Search(graph, seed + k))
    if not searches:
        return first
    if len(searches) > 1:
        probe = PROBE_SHARE * seconds
        for search in searches:
            search.run(min(deadline, time.perf_counter() + probe), lower_bound)
    search = min(searches, key=lambda s: s.best_makespan)
    searches = []  # the others' memory goes now
    search.run(deadline, lower_bound, patience)
    kpis = {**first.kpis, "tabu_iterations": int(search.counters[_IT]), "tabu_kicks": int(search.counters[_KICKS]),
            "tabu_seconds": round(time.perf_counter() - began, 1)}
    if search.best_makespan >= first.makespan:
        kept = Schedule(list(first.assignments), first.horizon, first.status, first.objective, first.value, name=first.name)
        kept.kpis = kpis
        return kept
    search.restore_best()
    result = search.graph.schedule(first)
    result.kpis = kpis
    return result


class Search:
    """The tabu search's state between compiled chunks of iterations."""

    def __init__(self, graph: Graph, seed: int = 0, tenure: tuple[int, int] = TENURE, stall: int | None = None, kick: int = KICK,
                 work_weight: float = WORK_WEIGHT, max_extra: int = MAX_EXTRA_PERCENT, escalate: int = 0, max_kick: int = KICK) -> None:
        """`escalate`: every this many iterations without a new best a kick applies one more
        reassignment, up to `max_kick` (0: kicks stay at `kick`)."""
        n = len(graph.release)
        stall = stall if stall is not None else max(STALL, n // STALL_PER_OPERATIONS)
        self.graph = graph
        self.best = tuple(a.copy() for a in graph.state()[:6])
        self.tabu = (np.full(n, -1, INT), np.zeros(n, INT), np.full(n, -1, INT), np.zeros(n, INT))
        most = int(max(np.diff(graph.jp_ptr).max(initial=0), np.diff(graph.js_ptr).max(initial=0)))
        self.work = (np.zeros(n, INT), np.zeros(n, np.bool_), np.zeros(n, INT), np.zeros(n + 1, INT), np.zeros(most + 4, INT), np.zeros(most + 4, INT))
        self.counters = np.zeros(10, INT)
        self.counters[_BEST] = self.counters[_CUR] = graph.makespan
        self.counters[_SEEDED] = 0
        self.params = np.array([tenure[0], tenure[1], stall, kick, seed, int(round(4 * work_weight)), max_extra, escalate, max_kick,
                                int(graph.opt_d.min(initial=1) == 0)], INT)

    @property
    def best_makespan(self) -> int:
        return int(self.counters[_BEST])

    @property
    def iterations(self) -> int:
        return int(self.counters[_IT])

    @property
    def found_at(self) -> int:
        """The iteration that found the best plan (0: the start)."""
        return int(self.counters[_FOUND_AT])

    def advance(self, iterations: int, lower_bound: int) -> None:
        """Exactly `iterations` more iterations (fewer once the best plan reaches `lower_bound`)."""
        run_chunk(self.graph.static(), self.graph.state(), self.best, self.tabu, self.work, self.counters, self.params, iterations, lower_bound)

    def run(self, deadline: float, lower_bound: int, patience: float | None = None) -> None:
        """Iterate until `deadline`, the `lower_bound`, or `patience` seconds without a new best."""
        chunk = 50
        last_best, since = self.best_makespan, time.perf_counter()
        while time.perf_counter() < deadline and self.best_makespan > lower_bound:
            if self.best_makespan < last_best:
                last_best, since = self.best_makespan, time.perf_counter()
            elif patience is not None and time.perf_counter() - since > patience:
                break
            began = time.perf_counter()
            self.advance(chunk, lower_bound)
            spent = time.perf_counter() - began
            # About a fifth of a second per chunk: the deadline is checked often, calls stay rare.
            chunk = max(10, min(200_000, int(chunk * 0.2 / max(spent, 1e-4))))

    def restore_best(self) -> None:
        """Make the best plan the graph's state (heads and tails recomputed)."""
        if not self.counters[_BEST_IS_CURRENT]:
            for target, saved in zip(self.graph.state()[:6], self.best):
                target[:] = saved
            self.graph.recompute()
            self.counters[_BEST_IS_CURRENT] = 1
            self.counters[_CUR] = self.counters[_BEST]


@njit(cache=True)
def _routes_to(u, v, jp_ptr, jp_idx):
    for i in range(jp_ptr[v], jp_ptr[v + 1]):
        if jp_idx[i] == u:
            return True
    return False


@njit(cache=True)
def _critical_path(static, state, path):
    """One longest chain into `path`, first operation first; returns its length."""
    jp_ptr, jp_idx, js_ptr, js_idx, opt_ptr, opt_m, opt_d, release, sinks, zeros = static
    mach, dur, mprev, mnext, mfirst, mlast, head, tail = state
    mk = makespan_of(sinks, head, dur)
    t = -1
    seen = 0
    for i in range(sinks.shape[0]):
        s = sinks[i]
        if head[s] + dur[s] == mk:
            seen += 1
            if np.random.randint(seen) == 0:
                t = s
    k = 0
    while t >= 0 and k < path.shape[0]:  # bounded: see _apply on zero-length operations
        path[k] = t
        k += 1
        nxt = -1
        seen = 0
        for i in range(jp_ptr[t], jp_ptr[t + 1]):
            p = jp_idx[i]
            if head[p] + dur[p] == head[t]:
                seen += 1
                if np.random.randint(seen) == 0:
                    nxt = p
        p = mprev[t]
        if p >= 0 and head[p] + dur[p] == head[t]:
            seen += 1
            if np.random.randint(seen) == 0:
                nxt = p
        t = nxt
    for i in range(k // 2):
        path[i], path[k - 1 - i] = path[k - 1 - i], path[i]
    return k


@njit(cache=True)
def _apply(static, state, work, counters, kind, a, b, c, d, exact):
    """Make a move (kind 0: swap a, b; kind 1: a to machine b after c at duration d) and bring
    heads and tails up to date; False when it closed a cycle (the caller restores the best).
    `exact`: always by a full pass. A cycle through zero-length operations raises no head, so the
    incremental update settles without seeing it (and a critical path walk would go round it);
    on plans with zero-length operations every move gets the full pass, which sees every cycle."""
    jp_ptr, jp_idx, js_ptr, js_idx, opt_ptr, opt_m, opt_d, release, sinks, zeros = static
    mach, dur, mprev, mnext, mfirst, mlast, head, tail = state
    queue, inq, order, path, head_seeds, tail_seeds = work
    n = head.shape[0]
    if kind == 0:
        count = swap(a, b, mach, mprev, mnext, mfirst, mlast, head_seeds, tail_seeds)
    else:
        count = reassign(a, b, c, d, jp_ptr, jp_idx, js_ptr, js_idx, mach, dur, mprev, mnext, mfirst, mlast, head_seeds, tail_seeds)
    if exact:
        counters[_FULL] += 1
        return full_heads_tails(jp_ptr, jp_idx, js_ptr, js_idx, release, dur, mprev, mnext, head, tail, order)
    limit = 4 * n + 100
    done = propagate_heads(head_seeds, count, jp_ptr, jp_idx, js_ptr, js_idx, release, dur, mprev, mnext, head, queue, inq, limit)
    if done >= 0:
        counters[_TOUCHED] += done
        done = propagate_tails(tail_seeds, count, jp_ptr, jp_idx, js_ptr, js_idx, zeros, dur, mprev, mnext, tail, queue, inq, limit)
        counters[_TOUCHED] += max(done, 0)
    if done < 0:
        counters[_FULL] += 1
        return full_heads_tails(jp_ptr, jp_idx, js_ptr, js_idx, release, dur, mprev, mnext, head, tail, order)
    return True


@njit(cache=True)
def _save(state, best):
    for i in range(6):
        best[i][:] = state[i]


@njit(cache=True)
def _restore(static, state, best, work):
    jp_ptr, jp_idx, js_ptr, js_idx, opt_ptr, opt_m, opt_d, release, sinks, zeros = static
    for i in range(6):
        state[i][:] = best[i]
    full_heads_tails(jp_ptr, jp_idx, js_ptr, js_idx, release, state[1], state[2], state[3], state[6], state[7], work[2])


@njit(cache=True)
def _positions(v, k, static, state, pv, lo_hi):
    """The first and last node after which v may go on machine k without closing a cycle
    (-1 = in front of the first), as (x_first, count); positions follow mnext from x_first."""
    mach, dur, mprev, mnext, mfirst, mlast, head, tail = state
    # Along a machine's order heads rise and tails fall, so the admissible x (no path from v
    # to x: head[x] < head[v] + pv) form a prefix and the admissible successors y (no path
    # from y to v: tail[y] < tail[v] + pv) a suffix.
    x = -1
    y = mfirst[k]
    while y >= 0 and tail[y] >= tail[v] + pv:  # y must not precede v
        x = y
        y = mnext[y]
    lo_hi[0] = x
    count = 0
    while True:
        if x >= 0 and head[x] >= head[v] + pv:
            break
        count += 1
        if y < 0:
            break
        x = y
        y = mnext[y]
    lo_hi[1] = count


@njit(cache=True)
def run_chunk(static, state, best, tabu, work, counters, params, iterations, lower_bound):
    jp_ptr, jp_idx, js_ptr, js_idx, opt_ptr, opt_m, opt_d, release, sinks, zeros = static
    mach, dur, mprev, mnext, mfirst, mlast, head, tail = state
    queue, inq, order, path, head_seeds, tail_seeds = work
    swap_over, swap_until, cell_back, cell_until = tabu
    t_lo, t_hi, stall_limit, kicks, seed, work4, max_extra = params[0], params[1], params[2], params[3], params[4], params[5], params[6]
    escalate, max_kick, exact = params[7], params[8], params[9]
    if counters[_SEEDED] == 0:
        np.random.seed(seed)
        counters[_SEEDED] = 1
        counters[_BEST_IS_CURRENT] = 1
    lo_hi = np.zeros(2, INT)
    big = 1 << 62
    for _ in range(iterations):
        if counters[_BEST] <= lower_bound:
            return
        it = counters[_IT] + 1
        counters[_IT] = it
        best_mk = counters[_BEST]
        k = _critical_path(static, state, path)
        chosen_est = big
        ties = 0
        ck, ca, cb, cc, cd = -1, -1, -1, -1, -1
        # N5: the first two and the last two operations of each critical block.
        start = 0
        while start < k:
            end = start
            while end + 1 < k and mprev[path[end + 1]] == path[end]:
                end += 1
            if end > start:
                for which in range(2):
                    i = start if which == 0 else end - 1
                    if which == 1 and i == start:
                        break
                    u = path[i]
                    v = path[i + 1]
                    if _routes_to(u, v, jp_ptr, jp_idx):
                        continue  # u also precedes v in its job: swapping them closes a cycle
                    a = mprev[u]
                    b = mnext[v]
                    pu = dur[u]
                    pv = dur[v]
                    head_v = longest_into(v, jp_ptr, jp_idx, mprev, False, release, dur, head)
                    if a >= 0 and head[a] + dur[a] > head_v:
                        head_v = head[a] + dur[a]
                    head_u = max(longest_into(u, jp_ptr, jp_idx, mprev, False, release, dur, head), head_v + pv)
                    tail_u = longest_into(u, js_ptr, js_idx, mnext, False, zeros, dur, tail)
                    if b >= 0 and dur[b] + tail[b] > tail_u:
                        tail_u = dur[b] + tail[b]
                    tail_v = max(longest_into(v, js_ptr, js_idx, mnext, False, zeros, dur, tail), tail_u + pu)
                    est = max(head_v + pv + tail_v, head_u + pu + tail_u)
                    if swap_over[v] == u and swap_until[v] >= it and est >= best_mk:
                        continue
                    est = 4 * est
                    if est < chosen_est:
                        chosen_est, ties = est, 1
                        ck, ca, cb = 0, u, v
                    elif est == chosen_est:
                        ties += 1
                        if np.random.randint(ties) == 0:
                            ck, ca, cb = 0, u, v
            start = end + 1
        # Reassignment of each critical operation to each other eligible machine.
        for i in range(k):
            v = path[i]
            pv = dur[v]
            rh = longest_into(v, jp_ptr, jp_idx, mprev, False, release, dur, head)
            rt = longest_into(v, js_ptr, js_idx, mnext, False, zeros, dur, tail)
            fastest = big
            for o in range(opt_ptr[v], opt_ptr[v + 1]):
                fastest = min(fastest, opt_d[o])
            for o in range(opt_ptr[v], opt_ptr[v + 1]):
                m = opt_m[o]
                if m == mach[v]:
                    continue
                nd = opt_d[o]
                if nd - fastest > max_extra * fastest // 100:
                    continue
                is_tabu = cell_back[v] == m and cell_until[v] >= it
                _positions(v, m, static, state, pv, lo_hi)
                x = lo_hi[0]
                for _p in range(lo_hi[1]):
                    y = mnext[x] if x >= 0 else mfirst[m]
                    s = rh
                    if x >= 0 and head[x] + dur[x] > s:
                        s = head[x] + dur[x]
                    after = rt
                    if y >= 0 and dur[y] + tail[y] > after:
                        after = dur[y] + tail[y]
                    est = s + nd + after
                    if not (is_tabu and est >= best_mk):
                        est = 4 * est + work4 * (nd - pv)
                        if est < chosen_est:
                            chosen_est, ties = est, 1
                            ck, ca, cb, cc, cd = 1, v, m, x, nd
                        elif est == chosen_est:
                            ties += 1
                            if np.random.randint(ties) == 0:
                                ck, ca, cb, cc, cd = 1, v, m, x, nd
                    x = y
        stalled = counters[_STALL] >= stall_limit
        if ck < 0 or stalled:
            # Nothing admissible, or long without a new best: back to the best plan, shaken.
            if counters[_BEST_IS_CURRENT] == 1:
                _save(state, best)
            else:
                _restore(static, state, best, work)
            counters[_BEST_IS_CURRENT] = 0
            swap_until[:] = 0
            cell_until[:] = 0
            counters[_KICKS] += 1
            counters[_STALL] = 0
            strength = kicks
            if escalate > 0:
                strength = min(max_kick, kicks + (it - counters[_FOUND_AT]) // escalate)
            for _k in range(strength):
                kk = _critical_path(static, state, path)
                v = path[np.random.randint(kk)]
                n_opt = opt_ptr[v + 1] - opt_ptr[v]
                if n_opt < 2:
                    continue
                o = opt_ptr[v] + np.random.randint(n_opt)
                m = opt_m[o]
                if m == mach[v]:
                    continue
                _positions(v, m, static, state, dur[v], lo_hi)
                if lo_hi[1] == 0:
                    continue
                x = lo_hi[0]
                for _p in range(np.random.randint(lo_hi[1])):
                    x = mnext[x] if x >= 0 else mfirst[m]
                if not _apply(static, state, work, counters, 1, v, m, x, opt_d[o], exact):
                    _restore(static, state, best, work)
                    break
            counters[_CUR] = makespan_of(sinks, head, dur)
            continue
        if counters[_BEST_IS_CURRENT] == 1:
            _save(state, best)  # about to leave the best plan
            counters[_BEST_IS_CURRENT] = 0
        old_cell = mach[ca]
        if not _apply(static, state, work, counters, ck, ca, cb, cc, cd, exact):
            _restore(static, state, best, work)
            counters[_BEST_IS_CURRENT] = 1
            counters[_CUR] = counters[_BEST]
            continue
        tenure = t_lo + np.random.randint(t_hi - t_lo + 1)
        if ck == 0:
            swap_over[ca] = cb  # u may not jump in front of v again for a while
            swap_until[ca] = it + tenure
        else:
            cell_back[ca] = old_cell
            cell_until[ca] = it + tenure
        mk = makespan_of(sinks, head, dur)
        counters[_CUR] = mk
        if mk < counters[_BEST]:
            counters[_BEST] = mk
            counters[_BEST_IS_CURRENT] = 1
            counters[_STALL] = 0
            counters[_FOUND_AT] = it
        else:
            counters[_STALL] += 1
