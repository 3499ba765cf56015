"""scheduler.validate's rules as one compiled verdict, for a plan held as arrays.

A re-plan inside the twin holds its problem and its placements as arrays already (modes and
predecessors as flat runs, per cell its pool, capacity, setup and windows); `fine` says whether
scheduler.validate would find nothing wrong with them, re-deriving every rule from that data
(eligibility and duration by the first mode of the cell's pool, time 0, releases, precedence,
windows, capacity with setups between families on single-job cells) and trusting nothing the
scheduler says. A plan it refuses is handed to scheduler.validate for the sentences.

Independent of what builds the plan: this module and scheduler.validate read the cells' windows
from `cell.unavailable` themselves and group tasks by cell with their own counting sort; they
share no helper with the re-plan's builder (scheduler.windowjit, subproblem, construct,
calendars, control), so a bug there cannot hide a broken plan from the check
(tests/scheduler/test_validate_independent.py). Every index `fine` reads is range-checked by
validate_arrays first (numba does not bound-check), and it does no arithmetic that can wrap:
times are compared, never summed, except `e - s` with 0 <= s <= e.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fine(cell, start, end, m_start, m_len, m_pool, m_dur, p_ptr, p_idx, task_job, task_release, job_release, job_family,
         cell_pool, cell_capacity, cell_setup, cw_lo, cw_hi, cw_s, cw_e):
    """True when every task is placed by the rules: `cell`/`start`/`end` per task, its modes
    m_pool/m_dur[m_start:m_start + m_len] as (pool, duration), its predecessors p_idx[p_ptr[t]:
    p_ptr[t + 1]], its own release, its job's release and family (any int code); per cell its windows
    cw_s/cw_e[cw_lo:cw_hi] as given (not merged)."""
    n = cell.shape[0]
    n_cells = cell_pool.shape[0]
    for t in range(n):
        c = cell[t]
        if c < 0 or c >= n_cells:
            return False
        s, e = start[t], end[t]
        if s < 0 or s < job_release[task_job[t]] or s < task_release[t]:
            return False
        if e < s:  # durations are >= 0 (validate_arrays sees to it): a wrong duration; also keeps e - s from wrapping
            return False
        # Eligible, for the duration of the first mode of the cell's pool.
        pool = cell_pool[c]
        eligible = False
        for k in range(m_start[t], m_start[t] + m_len[t]):
            if m_pool[k] == pool:
                eligible = e - s == m_dur[k]
                break
        if not eligible:
            return False
        for k in range(p_ptr[t], p_ptr[t + 1]):
            if end[p_idx[k]] > s:
                return False
        if e > s:
            for k in range(cw_lo[c], cw_hi[c]):
                if s < cw_e[k] and cw_s[k] < e and cw_e[k] > cw_s[k]:  # [s, s) holds no time
                    return False
    # Per cell, its tasks by (start, end, task): single-job cells in that order with setups
    # between families, the others by their load over time (ends before starts at a tie).
    count, by_cell = _by_cell(cell, n_cells)
    for c in range(n_cells):
        lo, hi = count[c], count[c + 1]
        if hi - lo < 2:
            # One task: over capacity only if it holds time (a zero-length one's end comes first).
            if hi - lo == 1 and (cell_capacity[c] < 0 or (cell_capacity[c] == 0 and end[by_cell[lo]] > start[by_cell[lo]])):
                return False
            continue
        items = by_cell[lo:hi]
        if cell_capacity[c] == 1:
            if hi - lo <= 32:  # most cells: sorted in place (an argsort allocates)
                keyed = items
                for j in range(1, hi - lo):
                    x = keyed[j]
                    i = j - 1
                    while i >= 0 and (start[keyed[i]] > start[x] or (start[keyed[i]] == start[x] and end[keyed[i]] > end[x])):
                        keyed[i + 1] = keyed[i]
                        i -= 1
                    keyed[i + 1] = x
            else:
                keyed = items[np.argsort(end[items], kind="mergesort")]  # stable: task order within ties
                keyed = keyed[np.argsort(start[keyed], kind="mergesort")]
            setup = cell_setup[c]
            for k in range(keyed.shape[0] - 1):
                a, b = keyed[k], keyed[k + 1]
                gap = setup if setup and job_family[task_job[a]] != job_family[task_job[b]] else 0
                if start[b] - gap < end[a]:  # start[b] >= 0 and 0 <= gap: no wrap (end[a] + gap could)
                    return False
        else:
            starts = np.sort(start[items])
            ends = np.sort(end[items])
            load = 0
            j = 0
            for k in range(starts.shape[0]):
                while j < ends.shape[0] and ends[j] <= starts[k]:
                    j += 1
                    load -= 1
                load += 1
                if load > cell_capacity[c]:
                    return False
    return True


@njit(cache=True)
def _by_cell(key, n_keys):
    """The tasks by cell, each cell's in task order (a counting sort): cell k's tasks are
    order[count[k]:count[k + 1]]. Returns (count, order). The check's own (not shared with the
    builder's windowjit.grouped: see the module's docstring)."""
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
