"""A re-plan's projection of the current sequences (scheduler.control.snapshot._project), compiled.

The same pass on arrays: planned starts raised past each predecessor's, the open tasks in that
order (ties in topological order where two share a cell), each on its cell's soonest free lane
after its predecessors, the cell's changeover and outside its windows. Tested against the
Python pass (snapshot._project_reference) on the re-plans of random floors.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from scheduler.dispatchjit import bisect_right, sift_down

CYCLE = -1  # project's status when the predecessors hold a cycle


@njit(cache=True)
def _topological(n, p_ptr, p_idx):
    """scheduler.bounds.predecessors_order: Kahn's, successors in task order, first in first out."""
    indegree = np.empty(n, np.int64)
    count = np.zeros(n + 1, np.int64)
    for t in range(n):
        indegree[t] = p_ptr[t + 1] - p_ptr[t]
        for k in range(p_ptr[t], p_ptr[t + 1]):
            count[p_idx[k] + 1] += 1
    for t in range(n):
        count[t + 1] += count[t]
    succ = np.empty(p_idx.shape[0], np.int64)
    fill = count[:n].copy()
    for t in range(n):
        for k in range(p_ptr[t], p_ptr[t + 1]):
            p = p_idx[k]
            succ[fill[p]] = t
            fill[p] += 1
    order = np.empty(n, np.int64)
    head = 0
    tail = 0
    for t in range(n):
        if indegree[t] == 0:
            order[tail] = t
            tail += 1
    while head < tail:
        t = order[head]
        head += 1
        for k in range(count[t], count[t + 1]):
            s = succ[k]
            indegree[s] -= 1
            if indegree[s] == 0:
                order[tail] = s
                tail += 1
    return order[:tail]


@njit(cache=True)
def project(planned, p_ptr, p_idx, pin_t, pin_c, pin_s, pin_e, free, cur_cell, m_start, m_len, mp, md, cell_pool, cell_capacity, cell_setup,
            cell_wlo, cell_whi, w_s, w_e, first_cell, unit_of, job_release, job_family):
    """Each carried task's start in the current sequences timed forward (snapshot._project);
    returns (starts, status), status CYCLE when the predecessors hold a cycle."""
    n = planned.shape[0]
    n_cells = cell_pool.shape[0]
    # Each cell's lanes as a heap of the times they are free from (lanes are alike).
    lane_off = np.zeros(n_cells + 1, np.int64)
    for c in range(n_cells):
        lane_off[c + 1] = lane_off[c] + max(1, cell_capacity[c])
    lanes = np.zeros(lane_off[n_cells], np.int64)
    made = np.zeros(n_cells, np.bool_)
    family = np.full(n_cells, -1, np.int64)  # -1: no family yet
    end = np.ones(n, np.int64)
    starts = np.zeros(n, np.int64)
    for k in range(pin_t.shape[0]):
        t, c, e = pin_t[k], pin_c[k], pin_e[k]
        end[t], starts[t] = e, pin_s[k]
        made[c] = True
        o = lane_off[c]
        if e > lanes[o]:
            sift_down(lanes, o, lane_off[c + 1] - o, e)  # heapreplace
        family[c] = job_family[unit_of[t]]
    # Planned starts raised past every predecessor's (by 1 ms), in routing order when every
    # predecessor comes first, else in topological order.
    eff = planned.copy()
    in_order = True
    for t in range(n):
        for k in range(p_ptr[t], p_ptr[t + 1]):
            if p_idx[k] > t:
                in_order = False
    order = np.empty(0, np.int64)
    if in_order:
        for t in range(n):
            for k in range(p_ptr[t], p_ptr[t + 1]):
                p = p_idx[k]
                if eff[p] + 1e-3 > eff[t]:
                    eff[t] = eff[p] + 1e-3
    else:
        order = _topological(n, p_ptr, p_idx)
        if order.shape[0] != n:
            return starts, CYCLE
        for u in order:
            for k in range(p_ptr[u], p_ptr[u + 1]):
                p = p_idx[k]
                if eff[p] + 1e-3 > eff[u]:
                    eff[u] = eff[p] + 1e-3
    # Each open task's cell and duration: its current cell's, else the first cell of its first pool.
    n_free = free.shape[0]
    on = np.zeros(n, np.int64)
    lasts = np.zeros(n, np.int64)
    for i in range(n_free):
        t = free[i]
        c = cur_cell[i]
        pool = cell_pool[c]
        d = -1
        for k in range(m_start[i], m_start[i] + m_len[i]):
            if mp[k] == pool:
                d = md[k]
                break
        if d < 0:
            c = first_cell[mp[m_start[i]]]
            d = md[m_start[i]]
        on[t], lasts[t] = c, d
    by_eff = np.argsort(eff[free], kind="mergesort")  # stable, as list.sort
    tasks = free[by_eff]
    # Equal planned starts go in topological order where two of them share a cell.
    mark = np.full(n_cells, -1, np.int64)
    tie = False
    k = 0
    while k < n_free and not tie:
        j = k
        while j + 1 < n_free and eff[tasks[j + 1]] == eff[tasks[k]]:
            j += 1
        if j > k:
            for i in range(k, j + 1):
                c = on[tasks[i]]
                if mark[c] == k:
                    tie = True
                    break
                mark[c] = k
        k = j + 1
    if tie:
        if order.shape[0] == 0:
            order = _topological(n, p_ptr, p_idx)
        rank = np.zeros(n, np.int64)
        for i in range(order.shape[0]):
            rank[order[i]] = i
        keyed = np.empty(n_free, np.float64)
        for i in range(n_free):
            keyed[i] = eff[free[i]]
        # (eff, rank) order: by rank first, then stably by eff.
        by_rank = np.argsort(rank[free], kind="mergesort")
        by_both = by_rank[np.argsort(keyed[by_rank], kind="mergesort")]
        tasks = free[by_both]
    for i in range(n_free):
        t = tasks[i]
        c = on[t]
        u = unit_of[t]
        ready = job_release[u]
        if ready < 1:
            ready = 1
        for k in range(p_ptr[t], p_ptr[t + 1]):
            if end[p_idx[k]] > ready:
                ready = end[p_idx[k]]
        o = lane_off[c]
        size = lane_off[c + 1] - o
        if not made[c]:
            made[c] = True
            lanes[o: o + size] = 1
        at = lanes[o]
        fam = job_family[u]
        if cell_capacity[c] == 1 and cell_setup[c] and family[c] != -1 and family[c] != fam:
            at += cell_setup[c]
        if ready > at:
            at = ready
        duration = lasts[t]
        lo, hi = cell_wlo[c], cell_whi[c]
        if hi > lo and duration > 0:  # CellCalendar.earliest_fit
            while True:
                a = bisect_right(w_e, lo, hi, at)  # the first window not over by `at`
                if a < hi and w_s[a] < at + duration:
                    at = w_e[a]
                else:
                    break
        starts[t] = at
        end[t] = at + duration
        sift_down(lanes, o, size, end[t])  # heapreplace
        family[c] = fam
    return starts, 0
