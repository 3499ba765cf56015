"""A re-plan window's predecessor lists, compiled (scheduler.control.snapshot.open_work).

The carried tasks' predecessors inside the window (carried indices, in routing order), and for
the open ones the sub-problem's: their open predecessors (open indices) and the time they are
ready (the unit's release, raised to the expected ends of running predecessors), as flat runs
(ptr, idx) that the compiled list scheduler and projection read as they are.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def window_preds(order, t_ptr, t_idx, n_tasks, free, pin_end, unit_of, unit_release):
    """(p_ptr, p_idx, sub_ptr, sub_idx, ready_at): `order` the carried tasks (controller task
    each), t_ptr/t_idx every controller task's predecessors, `free` the open carried tasks,
    pin_end each carried task's expected end if running."""
    n = order.shape[0]
    local = np.full(n_tasks, -1, np.int64)
    for i in range(n):
        local[order[i]] = i
    p_ptr = np.zeros(n + 1, np.int64)
    total = 0
    for i in range(n):
        t = order[i]
        total += t_ptr[t + 1] - t_ptr[t]
    p_idx = np.empty(total, np.int64)
    k = 0
    for i in range(n):
        t = order[i]
        for j in range(t_ptr[t], t_ptr[t + 1]):
            q = local[t_idx[j]]
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
    m = 0
    for s in range(n_free):
        i = free[s]
        ready = unit_release[unit_of[i]]
        for j in range(p_ptr[i], p_ptr[i + 1]):
            q = p_idx[j]
            if sub_of[q] >= 0:
                sub_idx[m] = sub_of[q]
                m += 1
            elif pin_end[q] > ready:  # a running predecessor: its expected end
                ready = pin_end[q]
        sub_ptr[s + 1] = m
        ready_at[s] = ready
    return p_ptr, p_idx, sub_ptr, sub_idx[:m], ready_at
