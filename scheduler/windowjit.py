"""A re-plan window built in one compiled pass (scheduler.control.snapshot.open_work).

From the window's controller tasks (in task order) and the plan's per-task arrays: its units
(in order of their first task, each read from its first task's planned job), the running work
pinned (cell, expected rest) with its unit's release lowered to its start, every carried task's
modes as flat runs (running work: its cell's pool and rest; open work that is there or on its
way: narrowed to its pool), and the predecessors inside the window as flat runs, carried and,
for the open tasks, the sub-problem's (open indices) with the time each is ready (its unit's
release, raised to the expected ends of running predecessors). What the list scheduler, the
check and the projection read, as they read it; snapshot._Window makes lists of it only for the
general (Python) paths and tests.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def window_build(order, t_job, n_jobs, task_job, job_release, tm_start, tm_len, fm_pool, fm_dur, t_ptr, t_idx,
                 free, running, started_at, ran_on, narrow, cur_cell, cell_pool, t_pool0, cut):
    """`order`: the carried tasks (controller task each); `free`/`running` their open and running
    positions; per running position its start (`started_at`) and cell (`ran_on`); `narrow`: the
    open tasks kept to their current pool; `cur_cell`: each carried task's cell (-1: none).
    Returns (unit_of, src_job, release, pin_cell, pin_rest, m_start, m_len, m_pool, m_dur,
    p_ptr, p_idx, sub_ptr, sub_idx, ready_at, sub_in_order): release per unit in the carried
    frame (time 0 is the cut), pin_* per running position, sub_in_order whether every open
    predecessor of an open task comes before it."""
    n = order.shape[0]
    # Units in order of their first task.
    unit_at = np.full(n_jobs, -1, np.int64)
    unit_of = np.empty(n, np.int64)
    src = np.empty(n, np.int64)
    n_units = 0
    for i in range(n):
        t = order[i]
        u = unit_at[t_job[t]]
        if u < 0:
            u = n_units
            unit_at[t_job[t]] = u
            src[u] = task_job[t]
            n_units += 1
        unit_of[i] = u
    src_job = src[:n_units].copy()
    release = np.empty(n_units, np.int64)
    for u in range(n_units):
        release[u] = job_release[src_job[u]]
    # Running work: pinned to its cell from 0 with its expected rest (at least a second past the cut).
    n_run = running.shape[0]
    pin_cell = np.empty(n_run, np.int64)
    pin_rest = np.empty(n_run, np.int64)
    pin_pool = np.full(n, -1, np.int64)
    pin_end = np.zeros(n, np.int64)
    last = cut - 1
    soonest = cut + 1
    for k in range(n_run):
        i = running[k]
        t = order[i]
        began_s = started_at[k]
        # Started this very second still counts as running at the cut.
        began = int(began_s)
        if began > last:
            began = last
        if began < 0:
            began = 0
        u = unit_of[i]
        if began < release[u]:  # a unit may start a little before its plan
            release[u] = began
        c = ran_on[k]
        pool = cell_pool[c]
        s0 = tm_start[t]
        duration = fm_dur[s0]  # its first mode's, where its cell's pool has none
        for q in range(s0, s0 + tm_len[t]):
            if fm_pool[q] == pool:
                duration = fm_dur[q]
                break
        rest = int(began_s + duration)
        rest = (rest if rest > soonest else soonest) - cut
        pin_cell[k] = c
        pin_rest[k] = rest
        pin_pool[i] = pool
        pin_end[i] = rest
    for u in range(n_units):  # into the carried frame
        release[u] = release[u] - cut if release[u] > cut else 0
    # Modes as flat runs: the list scheduler's sub-problem and the projection read them (the check reads the plan's own).
    total = 0
    for i in range(n):
        total += tm_len[order[i]] + 1
    m_start = np.empty(n, np.int64)
    m_len = np.empty(n, np.int64)
    m_pool = np.empty(total, np.int64)
    m_dur = np.empty(total, np.int64)
    f = 0
    for i in range(n):
        m_start[i] = f
        if pin_pool[i] >= 0:
            m_pool[f] = pin_pool[i]
            m_dur[f] = pin_end[i]
            f += 1
        else:
            t = order[i]
            s0 = tm_start[t]
            e0 = s0 + tm_len[t]
            if narrow[i]:  # there or on its way: it stays in its current pool (if eligible there)
                c = cur_cell[i]
                here = cell_pool[c] if c >= 0 else t_pool0[t]
                for q in range(s0, e0):
                    if fm_pool[q] == here:
                        m_pool[f] = fm_pool[q]
                        m_dur[f] = fm_dur[q]
                        f += 1
            if f == m_start[i]:
                for q in range(s0, e0):
                    m_pool[f] = fm_pool[q]
                    m_dur[f] = fm_dur[q]
                    f += 1
        m_len[i] = f - m_start[i]
    # Predecessors inside the window (carried indices), then the open tasks' (open indices).
    p_ptr = np.zeros(n + 1, np.int64)
    size = 0
    for i in range(n):
        t = order[i]
        size += t_ptr[t + 1] - t_ptr[t]
    p_idx = np.empty(size, np.int64)
    k = 0
    for i in range(n):
        t = order[i]
        for j in range(t_ptr[t], t_ptr[t + 1]):
            q = _position(order, i, t_idx[j])
            if q >= 0:
                p_idx[k] = q
                k += 1
        p_ptr[i + 1] = k
    p_idx = p_idx[:k]
    n_free = free.shape[0]
    sub_of = np.full(n, -1, np.int64)
    for s in range(n_free):
        sub_of[free[s]] = s
    sub_ptr = np.zeros(n_free + 1, np.int64)
    sub_idx = np.empty(k, np.int64)
    ready_at = np.empty(n_free, np.int64)
    sub_in_order = True
    m = 0
    for s in range(n_free):
        i = free[s]
        ready = release[unit_of[i]]
        for j in range(p_ptr[i], p_ptr[i + 1]):
            q = p_idx[j]
            if sub_of[q] >= 0:
                sub_idx[m] = sub_of[q]
                if sub_of[q] >= s:
                    sub_in_order = False
                m += 1
            elif pin_end[q] > ready:  # a running predecessor: its expected end
                ready = pin_end[q]
        sub_ptr[s + 1] = m
        ready_at[s] = ready
    return (unit_of, src_job, release, pin_cell, pin_rest, m_start, m_len, m_pool[:f], m_dur[:f], p_ptr, p_idx, sub_ptr, sub_idx[:m], ready_at,
            sub_in_order)


@njit(cache=True, inline="always")
def _position(order, i, p):
    """Where task p is in `order` (sorted, order[i] its successor), -1 if not there: looked for
    among the few entries before i first (a task's predecessors are its unit's tasks just
    before it), else by bisection. (A table of every controller task's position would be
    ~600 KB filled per re-plan, which evicts the floor's working set from the cache.)"""
    if p < order[i]:
        stop = i - 8 if i > 8 else 0
        k = i - 1
        while k >= stop:
            o = order[k]
            if o <= p:
                return k if o == p else -1
            k -= 1
    q = np.searchsorted(order, p)
    return q if q < order.shape[0] and order[q] == p else -1


@njit(cache=True)
def lane_windows(n_lanes, first_lane, cell_capacity, cell_setup, cw_lo, cw_hi, cw_s, cw_e, f_cell, f_s, f_e, f_fam, fam_present):
    """subproblem.lane_arrays' windows per lane, compiled: each lane of a cell of the pools used
    (first_lane[c] >= 0; a bay's k lanes follow it) gets the cell's windows that end after 0
    (cw_s/cw_e[cw_lo:cw_hi]) and the fixed work (f_*, in the caller's order) it holds: a
    single-job cell all of it, padded by the setup where a free family (fam_present) other than
    its own could sit next to it and at least a second long; a bay's places it coloured greedily
    in (start, end) order, the lowest free place first, zero-length work left out. Each lane's
    windows merged as scheduler.calendars.CellCalendar merges them. Returns (lane_lo, lane_hi,
    w_s, w_e, bad): bad the fixed entry a full bay had no place for, else -1."""
    n_cells = first_lane.shape[0]
    n_fixed = f_cell.shape[0]
    n_present = 0
    for f in range(fam_present.shape[0]):
        if fam_present[f]:
            n_present += 1
    # The fixed work per cell, in the caller's order.
    count, by_cell = grouped(f_cell, n_cells)
    size = n_fixed
    for c in range(n_cells):
        if first_lane[c] >= 0:
            size += max(1, cell_capacity[c]) * (cw_hi[c] - cw_lo[c])
    lane_lo = np.zeros(n_lanes, np.int64)
    lane_hi = np.zeros(n_lanes, np.int64)
    w_s = np.empty(size, np.int64)
    w_e = np.empty(size, np.int64)
    out = 0
    b_s = np.empty(size, np.int64)  # one lane's windows before merging
    b_e = np.empty(size, np.int64)
    place = np.empty(n_fixed, np.int64)  # a bay's fixed entry -> its lane
    for c in range(n_cells):
        first = first_lane[c]
        lo, hi = count[c], count[c + 1]
        if first < 0 or (lo == hi and cw_hi[c] == cw_lo[c]):
            continue
        k_lanes = cell_capacity[c] if cell_capacity[c] > 1 else 1
        if k_lanes > 1:  # colour the bay: by (start, end), each on the lowest place free by its start
            items = by_cell[lo:hi]
            items = items[np.argsort(f_e[items], kind="mergesort")]
            items = items[np.argsort(f_s[items], kind="mergesort")]
            last_end = np.full(k_lanes, -9223372036854775808, np.int64)  # per place the end of its last work: none yet
            for k in items:
                place[k] = -1
                if f_e[k] <= f_s[k]:
                    continue
                for lane in range(k_lanes):
                    if last_end[lane] <= f_s[k]:
                        place[k] = lane
                        last_end[lane] = f_e[k]
                        break
                if place[k] < 0:
                    return lane_lo, lane_hi, w_s[:0], w_e[:0], k
        for lane in range(k_lanes):
            m = 0
            for j in range(cw_lo[c], cw_hi[c]):
                if cw_e[j] > 0:
                    b_s[m] = cw_s[j]
                    b_e[m] = cw_e[j]
                    m += 1
            for j in range(lo, hi):
                k = by_cell[j]
                if k_lanes > 1:
                    if place[k] == lane:
                        b_s[m] = f_s[k]
                        b_e[m] = f_e[k]
                        m += 1
                else:
                    other = n_present - (1 if fam_present[f_fam[k]] else 0)  # a free family other than its own
                    pad = cell_setup[c] if cell_setup[c] and other > 0 else 0
                    b_s[m] = max(0, f_s[k] - pad)
                    b_e[m] = max(f_e[k] + pad, f_s[k] + 1)
                    m += 1
            lane_lo[first + lane] = out
            if m:
                # By (start, end): a lane holds a few windows, sorted in place (an argsort
                # allocates, per lane).
                for j in range(1, m):
                    s, e = b_s[j], b_e[j]
                    i = j - 1
                    while i >= 0 and (b_s[i] > s or (b_s[i] == s and b_e[i] > e)):
                        b_s[i + 1] = b_s[i]
                        b_e[i + 1] = b_e[i]
                        i -= 1
                    b_s[i + 1] = s
                    b_e[i + 1] = e
                for j in range(m):
                    s, e = b_s[j], b_e[j]
                    if e <= s:
                        continue
                    if out > lane_lo[first + lane] and s <= w_e[out - 1]:
                        if e > w_e[out - 1]:
                            w_e[out - 1] = e
                    else:
                        w_s[out] = s
                        w_e[out] = e
                        out += 1
            lane_hi[first + lane] = out
    return lane_lo, lane_hi, w_s[:out], w_e[:out], -1


@njit(cache=True)
def grouped(key, n_keys):
    """The entries by key, each key's in entry order (a counting sort): key k's entries are
    order[count[k]:count[k + 1]]. Returns (count, order). (scheduler.validatejit has its own:
    the check shares nothing with what builds the plan.)"""
    count = np.zeros(n_keys + 1, np.int64)
    for i in range(key.shape[0]):
        count[key[i] + 1] += 1
    for k in range(n_keys):
        count[k + 1] += count[k]
    fill = count[:n_keys].copy()
    order = np.empty(key.shape[0], np.int64)
    for i in range(key.shape[0]):
        order[fill[key[i]]] = i
        fill[key[i]] += 1
    return count, order


@njit(cache=True)
def new_predecessors(mark, tasks, t_ptr, t_idx):
    """Marks `tasks` kept (mark 1) and returns their predecessors not kept yet, each once."""
    for t in tasks:
        mark[t] = 1
    size = 0
    for t in tasks:
        size += t_ptr[t + 1] - t_ptr[t]
    out = np.empty(size, np.int64)
    k = 0
    for t in tasks:
        for j in range(t_ptr[t], t_ptr[t + 1]):
            p = t_idx[j]
            if mark[p] == 0:
                mark[p] = 2  # met: once
                out[k] = p
                k += 1
    for i in range(k):
        mark[out[i]] = 0
    return out[:k]
