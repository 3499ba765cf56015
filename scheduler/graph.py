"""The disjunctive graph of a flexible job shop as flat arrays, with full and incremental head
and tail computation and the two move kinds of the large-shop tabu search
(scheduler/graphtabu.py), compiled with numba.

Why arrays and numba: at 100,000 operations a pure-Python pass over the graph costs ~0.4 s, so
the Python tabu search (scheduler/localsearch.py) makes a few hundred moves in ten minutes. Here
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

INT = np.int64


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
            u = js_idx[i]
            if end > head[u]:
                head[u] = end
            indeg[u] -= 1
            if indeg[u] == 0:
                stack[top] = u
                top += 1
        u = mnext[t]
        if u >= 0:
            if end > head[u]:
                head[u] = end
            indeg[u] -= 1
            if indeg[u] == 0:
                stack[top] = u
                top += 1
    if k < n:
        return False
    for i in range(n - 1, -1, -1):
        t = order[i]
        best = 0
        s = mnext[t]
        if s >= 0:
            best = dur[s] + tail[s]
        for j in range(js_ptr[t], js_ptr[t + 1]):
            u = js_idx[j]
            if dur[u] + tail[u] > best:
                best = dur[u] + tail[u]
        tail[t] = best
    return True


@njit(cache=True)
def _head_of(t, jp_ptr, jp_idx, release, dur, mprev, head):
    best = release[t]
    for i in range(jp_ptr[t], jp_ptr[t + 1]):
        p = jp_idx[i]
        if head[p] + dur[p] > best:
            best = head[p] + dur[p]
    p = mprev[t]
    if p >= 0 and head[p] + dur[p] > best:
        best = head[p] + dur[p]
    return best


@njit(cache=True)
def _tail_of(t, js_ptr, js_idx, dur, mnext, tail):
    best = 0
    for i in range(js_ptr[t], js_ptr[t + 1]):
        s = js_idx[i]
        if dur[s] + tail[s] > best:
            best = dur[s] + tail[s]
    s = mnext[t]
    if s >= 0 and dur[s] + tail[s] > best:
        best = dur[s] + tail[s]
    return best


@njit(cache=True)
def propagate_heads(seeds, nseeds, jp_ptr, jp_idx, js_ptr, js_idx, release, dur, mprev, mnext, head, queue, inq, limit):
    """Re-compute the heads of `seeds` (nodes whose predecessors or a predecessor's duration
    changed) and of everything downstream whose head changes as a result. Returns the number of
    nodes processed, or -1 past `limit` (a cycle never settles)."""
    n = head.shape[0]
    qh = 0
    qt = 0
    size = 0
    for i in range(nseeds):
        t = seeds[i]
        if t >= 0 and not inq[t]:
            inq[t] = True
            queue[qt] = t
            qt = (qt + 1) % n
            size += 1
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
        new = _head_of(t, jp_ptr, jp_idx, release, dur, mprev, head)
        if new == head[t]:
            continue
        head[t] = new
        for i in range(js_ptr[t], js_ptr[t + 1]):
            u = js_idx[i]
            if not inq[u]:
                inq[u] = True
                queue[qt] = u
                qt = (qt + 1) % n
                size += 1
        u = mnext[t]
        if u >= 0 and not inq[u]:
            inq[u] = True
            queue[qt] = u
            qt = (qt + 1) % n
            size += 1
    return done


@njit(cache=True)
def propagate_tails(seeds, nseeds, jp_ptr, jp_idx, js_ptr, js_idx, dur, mprev, mnext, tail, queue, inq, limit):
    """The mirror of propagate_heads: tails of `seeds` (nodes whose successors or a successor's
    duration changed) and of everything upstream whose tail changes."""
    n = tail.shape[0]
    qh = 0
    qt = 0
    size = 0
    for i in range(nseeds):
        t = seeds[i]
        if t >= 0 and not inq[t]:
            inq[t] = True
            queue[qt] = t
            qt = (qt + 1) % n
            size += 1
    done = 0
    while size > 0:
        t = queue[qh]
        qh = (qh + 1) % n
        size -= 1
        inq[t] = False
        done += 1
        if done > limit:
            while size > 0:
                inq[queue[qh]] = False
                qh = (qh + 1) % n
                size -= 1
            return -1
        new = _tail_of(t, js_ptr, js_idx, dur, mnext, tail)
        if new == tail[t]:
            continue
        tail[t] = new
        for i in range(jp_ptr[t], jp_ptr[t + 1]):
            u = jp_idx[i]
            if not inq[u]:
                inq[u] = True
                queue[qt] = u
                qt = (qt + 1) % n
                size += 1
        u = mprev[t]
        if u >= 0 and not inq[u]:
            inq[u] = True
            queue[qt] = u
            qt = (qt + 1) % n
            size += 1
    return done


@njit(cache=True)
def swap(u, v, mach, mprev, mnext, mfirst, mlast, head_seeds, tail_seeds):
    """v, the machine successor of u, moves in front of it. Fills the nodes whose predecessors
    (head_seeds) and successors (tail_seeds) changed; returns how many of each."""
    a = mprev[u]
    b = mnext[v]
    m = mach[u]
    if a >= 0:
        mnext[a] = v
    else:
        mfirst[m] = v
    mprev[v] = a
    mnext[v] = u
    mprev[u] = v
    mnext[u] = b
    if b >= 0:
        mprev[b] = u
    else:
        mlast[m] = u
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
    m = mach[v]
    if a >= 0:
        mnext[a] = b
    else:
        mfirst[m] = b
    if b >= 0:
        mprev[b] = a
    else:
        mlast[m] = a
    y = mnext[x] if x >= 0 else mfirst[k]
    mprev[v] = x
    mnext[v] = y
    if x >= 0:
        mnext[x] = v
    else:
        mfirst[k] = v
    if y >= 0:
        mprev[y] = v
    else:
        mlast[k] = v
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
