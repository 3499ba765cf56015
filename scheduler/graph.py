"""The disjunctive graph of a flexible job shop as flat arrays, with full and incremental head
and tail computation and the two move kinds of the large-shop tabu search
(scheduler/graphtabu.py), compiled with numba.

Why arrays and numba: at 100,000 operations a pure-Python pass over the graph costs ~0.4 s, so
the first, pure-Python tabu search made a few hundred moves in ten minutes. Here
a move re-computes only the heads downstream and the tails upstream of the arcs it changed
(label-correcting from the changed nodes, stopping where a value stays put), so a move costs
what it touches, not the whole plan.

Layout (n operations, m machines, all int64):
  jp_ptr/jp_idx, js_ptr/js_idx  routing predecessors / successors (CSR)
  opt_ptr/opt_m/opt_d           eligible (machine, duration), fastest per machine (CSR)
  release                       earliest start of each operation alone
  mach, dur                     the chosen machine and its duration
  mprev, mnext, mfirst, mlast   each machine's order as a doubly linked list (-1: none)
  head, tail                    earliest start; longest chain after the end (excl. own duration)

A schedule is the earliest (semi-active) one for the machine orders: start = head.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from scheduler.problem import Problem

INT = np.int64


def applies(problem: Problem) -> bool:
    """Capacity-1 cells, no setups, no windows: the floors this graph models exactly."""
    return all(c.capacity == 1 and c.setup == 0 and not c.unavailable for c in problem.cells)


@njit(cache=True)
def full_heads_tails(jp_ptr, jp_idx, js_ptr, js_idx, release, dur, mprev, mnext, head, tail, order):
    """Every head and tail by one topological pass (Kahn); False when the orders close a cycle."""
    n = release.shape[0]
    indeg = np.empty(n, INT)
    stack = np.empty(n, INT)
    top = 0
    for t in range(n):
        indeg[t] = jp_ptr[t + 1] - jp_ptr[t] + (1 if mprev[t] >= 0 else 0)
        head[t] = release[t]
        if indeg[t] == 0:
            stack[top] = t
            top += 1
    k = 0
    while top > 0:
        top -= 1
        t = stack[top]
        order[k] = t
        k += 1
        end = head[t] + dur[t]
        for i in range(js_ptr[t], js_ptr[t + 1]):
            top = _release(js_idx[i], end, head, indeg, stack, top)
        if mnext[t] >= 0:
            top = _release(mnext[t], end, head, indeg, stack, top)
    if k < n:
        return False
    for i in range(n - 1, -1, -1):
        t = order[i]
        tail[t] = 0  # the floor longest_into starts from (its base is read at t only)
        tail[t] = longest_into(t, js_ptr, js_idx, mnext, True, tail, dur, tail)
    return True


@njit(cache=True)
def _release(u, end, head, indeg, stack, top):
    """Kahn's step: u may start after `end`; once its last predecessor is done it is ready."""
    if end > head[u]:
        head[u] = end
    indeg[u] -= 1
    if indeg[u] == 0:
        stack[top] = u
        top += 1
    return top


@njit(cache=True)
def longest_into(t, ptr, idx, link, use_link, base, dur, value):
    """max(base[t], value[u] + dur[u] over the neighbours u of t): its routing neighbours
    idx[ptr[t]:ptr[t + 1]] and, with use_link, its machine neighbour link[t]. Heads read
    predecessors and tails successors; the two are mirror images of one computation."""
    best = base[t]
    for i in range(ptr[t], ptr[t + 1]):
        u = idx[i]
        if value[u] + dur[u] > best:
            best = value[u] + dur[u]
    if use_link:
        u = link[t]
        if u >= 0 and value[u] + dur[u] > best:
            best = value[u] + dur[u]
    return best


@njit(cache=True)
def _push(t, queue, inq, qt, n):
    if t >= 0 and not inq[t]:
        inq[t] = True
        queue[qt] = t
        return (qt + 1) % n, 1
    return qt, 0


@njit(cache=True)
def propagate(seeds, nseeds, in_ptr, in_idx, in_link, out_ptr, out_idx, out_link, base, dur, value, queue, inq, limit):
    """Re-compute `value` (heads or tails) at `seeds`, the nodes whose neighbours on the
    reading side or a neighbour's duration changed, and at everything on the other side whose
    value changes as a result (label-correcting: a node is read again when a neighbour
    changed). Returns the number of nodes read, or -1 past `limit` (a cycle never settles)."""
    n = value.shape[0]
    qh = 0
    qt = 0
    size = 0
    for i in range(nseeds):
        qt, added = _push(seeds[i], queue, inq, qt, n)
        size += added
    done = 0
    while size > 0:
        t = queue[qh]
        qh = (qh + 1) % n
        size -= 1
        inq[t] = False
        done += 1
        if done > limit:
            while size > 0:  # leave the flags clean for the caller's full recompute
                inq[queue[qh]] = False
                qh = (qh + 1) % n
                size -= 1
            return -1
        new = longest_into(t, in_ptr, in_idx, in_link, True, base, dur, value)
        if new == value[t]:
            continue
        value[t] = new
        for i in range(out_ptr[t], out_ptr[t + 1]):
            qt, added = _push(out_idx[i], queue, inq, qt, n)
            size += added
        qt, added = _push(out_link[t], queue, inq, qt, n)
        size += added
    return done


@njit(cache=True)
def propagate_heads(seeds, nseeds, jp_ptr, jp_idx, js_ptr, js_idx, release, dur, mprev, mnext, head, queue, inq, limit):
    """Heads of `seeds` (predecessors or a predecessor's duration changed) and downstream."""
    return propagate(seeds, nseeds, jp_ptr, jp_idx, mprev, js_ptr, js_idx, mnext, release, dur, head, queue, inq, limit)


@njit(cache=True)
def propagate_tails(seeds, nseeds, jp_ptr, jp_idx, js_ptr, js_idx, zeros, dur, mprev, mnext, tail, queue, inq, limit):
    """Tails of `seeds` (successors or a successor's duration changed) and upstream; `zeros`
    stands where heads have releases (a tail has no floor but 0)."""
    return propagate(seeds, nseeds, js_ptr, js_idx, mnext, jp_ptr, jp_idx, mprev, zeros, dur, tail, queue, inq, limit)


@njit(cache=True)
def _link(a, b, m, mprev, mnext, mfirst, mlast):
    """Make b follow a on machine m (a = -1: b goes first; b = -1: a goes last)."""
    if a >= 0:
        mnext[a] = b
    else:
        mfirst[m] = b
    if b >= 0:
        mprev[b] = a
    else:
        mlast[m] = a


@njit(cache=True)
def swap(u, v, mach, mprev, mnext, mfirst, mlast, head_seeds, tail_seeds):
    """v, the machine successor of u, moves in front of it. Fills the nodes whose predecessors
    (head_seeds) and successors (tail_seeds) changed; returns how many of each."""
    a = mprev[u]
    b = mnext[v]
    m = mach[u]
    _link(a, v, m, mprev, mnext, mfirst, mlast)
    _link(v, u, m, mprev, mnext, mfirst, mlast)
    _link(u, b, m, mprev, mnext, mfirst, mlast)
    head_seeds[0] = v
    head_seeds[1] = u
    head_seeds[2] = b
    tail_seeds[0] = u
    tail_seeds[1] = v
    tail_seeds[2] = a
    return 3


@njit(cache=True)
def reassign(v, k, x, new_d, jp_ptr, jp_idx, js_ptr, js_idx, mach, dur, mprev, mnext, mfirst, mlast, head_seeds, tail_seeds):
    """v leaves its machine and goes onto machine k right after x (x = -1: first), at duration
    new_d. Fills head/tail seeds as `swap` does; returns their count (same for both)."""
    a = mprev[v]
    b = mnext[v]
    _link(a, b, mach[v], mprev, mnext, mfirst, mlast)
    y = mnext[x] if x >= 0 else mfirst[k]
    _link(x, v, k, mprev, mnext, mfirst, mlast)
    _link(v, y, k, mprev, mnext, mfirst, mlast)
    mach[v] = k
    dur[v] = new_d
    h = 0
    head_seeds[h] = b
    head_seeds[h + 1] = v
    head_seeds[h + 2] = y
    h = 3
    for i in range(js_ptr[v], js_ptr[v + 1]):  # v's end moved with its duration
        head_seeds[h] = js_idx[i]
        h += 1
    t = 0
    tail_seeds[t] = a
    tail_seeds[t + 1] = v
    tail_seeds[t + 2] = x
    t = 3
    for i in range(jp_ptr[v], jp_ptr[v + 1]):
        tail_seeds[t] = jp_idx[i]
        t += 1
    for i in range(t, h):
        tail_seeds[i] = -1
    for i in range(h, t):
        head_seeds[i] = -1
    return max(h, t)


@njit(cache=True)
def makespan_of(sinks, head, dur):
    """The latest end: it is at an operation without routing successors."""
    best = 0
    for i in range(sinks.shape[0]):
        t = sinks[i]
        if head[t] + dur[t] > best:
            best = head[t] + dur[t]
    return best
