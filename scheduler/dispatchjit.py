"""scheduler.construct.dispatch_lists' event loop compiled (numba), for unseeded runs.

The same dispatcher, decision for decision: the tasks, modes, predecessors and lanes as flat
integer arrays (families as small ints, queues and the event calendar as int heaps), and the
idle lanes of each pool's family buckets in the order CPython's `set` iterates them. That order
decides which idle lane a task takes, so the buckets are CPython's set tables reproduced
(`_set_add`, `_set_discard`: slot = hash & mask, ten linear probes then perturbed jumps, the
last dummy on the probe path reused, growth at 3/5 full to four times the used slots, dummies
dropped by a rebuild in table order); tests/scheduler/test_dispatch_jit.py checks them against
real sets and the whole dispatcher against the Python one on random problems.

Seeded runs (random tie-breaks, keys beyond 64 bits) stay in Python.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_EMPTY, _DUMMY = -1, -2
_LINEAR_PROBES, _PERTURB_SHIFT = 9, 5  # CPython's Objects/setobject.c
_MINSIZE = 8

# Bucket table columns: region offset in the arena, region capacity, mask, fill, used. A region
# holds `capacity` slots, then one bit per slot (a word per 64) saying which hold a key, so an
# iteration skips the empty and dummy stretches of a large table 64 slots at a time.
_OFF, _CAP, _MASK, _FILL, _USED = 0, 1, 2, 3, 4


@njit(cache=True, inline="always")
def _mark(tab, wb, slot, live):
    if live:
        tab[wb + (slot >> 6)] |= np.int64(1) << (slot & 63)
    else:
        tab[wb + (slot >> 6)] &= ~(np.int64(1) << (slot & 63))


@njit(cache=True)
def _insert_clean(tab, off, wb, mask, k):
    perturb = k
    i = k & mask
    while True:
        if tab[off + i] == _EMPTY:
            tab[off + i] = k
            _mark(tab, wb, i, True)
            return
        if i + _LINEAR_PROBES <= mask:
            for j in range(i + 1, i + _LINEAR_PROBES + 1):
                if tab[off + j] == _EMPTY:
                    tab[off + j] = k
                    _mark(tab, wb, j, True)
                    return
        perturb >>= _PERTURB_SHIFT
        i = (i * 5 + 1 + perturb) & mask


@njit(cache=True)
def _new_region(tab, top, meta, b, size):
    """An empty region of `size` slots for bucket b at the arena's top; returns the (maybe grown) arena."""
    need = size + (size >> 6) + 1
    if top[0] + need > tab.shape[0]:
        grown = np.full(max(2 * tab.shape[0], top[0] + need), _EMPTY, np.int64)
        grown[: top[0]] = tab[: top[0]]
        tab = grown
    off = top[0]
    tab[off: off + size] = _EMPTY
    tab[off + size: off + need] = 0
    top[0] += need
    meta[b, _OFF], meta[b, _CAP] = off, size
    return tab


@njit(cache=True)
def _set_new(tab, top, meta, b):
    tab = _new_region(tab, top, meta, b, _MINSIZE)
    meta[b, _MASK], meta[b, _FILL], meta[b, _USED] = _MINSIZE - 1, 0, 0
    return tab


@njit(cache=True)
def _set_resize(tab, top, meta, b, minused):
    size = _MINSIZE
    while size <= minused:
        size <<= 1
    old = tab[meta[b, _OFF]: meta[b, _OFF] + meta[b, _MASK] + 1].copy()
    if size <= meta[b, _CAP]:  # the region holds it: rebuilt in place
        off, cap = meta[b, _OFF], meta[b, _CAP]
        tab[off: off + cap] = _EMPTY
        tab[off + cap: off + cap + (cap >> 6) + 1] = 0
    else:
        tab = _new_region(tab, top, meta, b, size)
    off, wb = meta[b, _OFF], meta[b, _OFF] + meta[b, _CAP]
    meta[b, _MASK] = size - 1
    meta[b, _FILL] = meta[b, _USED]
    for k in old:
        if k >= 0:
            _insert_clean(tab, off, wb, size - 1, k)
    return tab


@njit(cache=True, inline="always")
def _probe(tab, meta, b, k):
    """k's probe path in bucket b: (its slot, -1, -1) if there, else (-1, the empty slot that
    ends the path, the last dummy on it or -1)."""
    off, mask = meta[b, _OFF], meta[b, _MASK]
    i = k & mask
    perturb = k
    free = -1
    while True:
        probes = _LINEAR_PROBES if i + _LINEAR_PROBES <= mask else 0
        j = i
        while True:
            e = tab[off + j]
            if e == _EMPTY:
                return -1, j, free
            if e == k:
                return j, -1, -1
            if e == _DUMMY:
                free = j
            if probes == 0:
                break
            probes -= 1
            j += 1
        perturb >>= _PERTURB_SHIFT
        i = (i * 5 + 1 + perturb) & mask


@njit(cache=True, inline="always")
def _set_add(tab, top, meta, b, k):
    """set.add(k) for an int k >= 0 (its hash is itself); returns the arena."""
    found, empty, free = _probe(tab, meta, b, k)
    if found >= 0:
        return tab
    off, mask = meta[b, _OFF], meta[b, _MASK]
    wb = off + meta[b, _CAP]
    if free >= 0:  # the last dummy on the path is reused (as CPython 3.11 does)
        tab[off + free] = k
        _mark(tab, wb, free, True)
        meta[b, _USED] += 1
        return tab
    tab[off + empty] = k
    _mark(tab, wb, empty, True)
    meta[b, _FILL] += 1
    meta[b, _USED] += 1
    if meta[b, _FILL] * 5 >= mask * 3:
        used = meta[b, _USED]
        return _set_resize(tab, top, meta, b, used * 2 if used > 50000 else used * 4)
    return tab


@njit(cache=True, inline="always")
def _set_find(tab, meta, b, k):
    """The slot holding k, or -1."""
    return _probe(tab, meta, b, k)[0]


@njit(cache=True, inline="always")
def _set_discard(tab, meta, b, k):
    j = _set_find(tab, meta, b, k)
    if j >= 0:
        tab[meta[b, _OFF] + j] = _DUMMY
        _mark(tab, meta[b, _OFF] + meta[b, _CAP], j, False)
        meta[b, _USED] -= 1


@njit(cache=True, inline="always")
def _set_next(tab, meta, b, slot):
    """The first slot >= `slot` holding a key, or -1: a set's iteration order."""
    off, mask = meta[b, _OFF], meta[b, _MASK]
    wb = off + meta[b, _CAP]
    while slot <= mask:
        word = tab[wb + (slot >> 6)] >> (slot & 63)
        if word == 0:
            slot = (slot | 63) + 1
            continue
        while not word & 1:
            word >>= 1
            slot += 1
        return slot
    return -1


@njit(cache=True)
def set_ops_order(ops):
    """The iteration order of a set after `ops` (k >= 0: add k; k < 0: discard -k-1), for the
    tests against CPython's own sets."""
    tab = np.full(64, _EMPTY, np.int64)
    top = np.zeros(1, np.int64)
    meta = np.zeros((1, 5), np.int64)
    tab = _set_new(tab, top, meta, 0)
    for k in ops:
        if k >= 0:
            tab = _set_add(tab, top, meta, 0, k)
        else:
            _set_discard(tab, meta, 0, -k - 1)
    out = []
    slot = _set_next(tab, meta, 0, 0)
    while slot >= 0:
        out.append(tab[meta[0, _OFF] + slot])
        slot = _set_next(tab, meta, 0, slot + 1)
    return np.array(out, dtype=np.int64)


_SETS_CHECKED: list[bool] = []  # this process's answer of sets_iterate_as_reproduced, once asked


def sets_iterate_as_reproduced() -> bool:
    """Whether this interpreter's sets iterate as the tables above reproduce them (checked on
    CPython 3.11): asked once per process, on adds and discards that grow, shrink and collide.
    On an interpreter whose sets differ, construct.dispatch_lists keeps to its Python dispatcher
    (the same decisions as its own sets give, only slower) and warns once."""
    if not _SETS_CHECKED:
        import random
        import warnings

        same = True
        for seed in range(24):
            rng = random.Random(seed)
            high = (8, 40, 300, 5_000)[seed % 4]
            real: set[int] = set()
            ops = []
            for _ in range(400):
                k = rng.randrange(high)
                if rng.random() < 0.6:
                    real.add(k)
                    ops.append(k)
                else:
                    real.discard(k)
                    ops.append(-k - 1)
            if set_ops_order(np.array(ops, np.int64)).tolist() != list(real):
                same = False
                break
        if not same:
            warnings.warn("scheduler.dispatchjit: this Python's sets iterate otherwise than the compiled dispatcher reproduces "
                          "(checked on CPython 3.11); the list scheduler runs in Python (same decisions, slower)", RuntimeWarning, stacklevel=2)
        _SETS_CHECKED.append(same)
    return _SETS_CHECKED[0]


# ---- int heaps in an arena: heap h of pool p is arena[base[p]: base[p] + size[p]] ----

@njit(cache=True, inline="always")
def _push(h, base, size, p, x):
    i = size[p]
    o = base[p]
    while i > 0:
        q = (i - 1) >> 1
        if h[o + q] <= x:
            break
        h[o + i] = h[o + q]
        i = q
    h[o + i] = x
    size[p] += 1


@njit(cache=True, inline="always")
def sift_down(h, o, n, x):
    """x into the root of the heap h[o: o + n] (its old root gone), sifted down to its place."""
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and h[o + c + 1] < h[o + c]:
            c += 1
        if h[o + c] >= x:
            break
        h[o + i] = h[o + c]
        i = c
    h[o + i] = x


@njit(cache=True, inline="always")
def _pop(h, base, size, p):
    o = base[p]
    top = h[o]
    n = size[p] - 1
    size[p] = n
    sift_down(h, o, n, h[o + n])
    return top


@njit(cache=True, inline="always")
def bisect_right(a, lo, hi, x):
    """bisect.bisect_right(a[lo:hi], x) + lo: the first index whose value is above x."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, inline="always")
def _duration(m_start, m_len, mp, md, t, pool):
    """Task t's duration on `pool`: its first mode there (as validate reads modes)."""
    s = m_start[t]
    for k in range(s, s + m_len[t]):
        if mp[k] == pool:
            return md[k]
    return -1


@njit(cache=True)
def run(n_pools, n_fam, m_start, m_len, mp, md, succ_ptr, succ_idx, waiting, ready_at, family, rank, n_ranks, tails_in, own_tails,
        horizon, demote_lost, work_weight, lane_pool, lane_setup, lane_report, lane_wlo, lane_whi, w_s, w_e, lookahead):
    """The dispatcher (see scheduler.construct.dispatch_lists); returns (cell, start, end) per
    task and whether every task was placed. `own_tails`: tails by one backward pass (every
    predecessor before its task), else `tails_in`."""
    n = m_start.shape[0]
    n_lanes = lane_pool.shape[0]
    NONE = n_fam  # the family bucket of lanes that never ran (or have no setups): None
    # Per task: shortest duration, more than one mode; per pool: read by another pool's
    # flexible tasks (watched), mode occurrences (queue capacity).
    shortest = np.empty(n, np.int64)
    flexible = np.zeros(n, np.bool_)
    watched = np.zeros(n_pools, np.bool_)
    q_cap = np.zeros(n_pools, np.int64)
    for t in range(n):
        s = m_start[t]
        best = md[s]
        for k in range(s, s + m_len[t]):
            if md[k] < best:
                best = md[k]
            q_cap[mp[k]] += 1
        shortest[t] = best
        if m_len[t] > 1:
            flexible[t] = True
            for k in range(s, s + m_len[t]):
                watched[mp[k]] = True
    if own_tails:  # construct._tails: one backward pass
        tails = shortest.copy()
        for t in range(n - 1, -1, -1):
            a, b = succ_ptr[t], succ_ptr[t + 1]
            if b > a:
                longest = tails[succ_idx[a]]
                for k in range(a + 1, b):
                    if tails[succ_idx[k]] > longest:
                        longest = tails[succ_idx[k]]
                if longest > 0:
                    tails[t] += longest
    else:
        tails = tails_in
    lost = n_ranks * n
    q_base = np.zeros(n_pools, np.int64)
    acc = 0
    for p in range(n_pools):
        q_base[p] = acc
        acc += q_cap[p]
    queue = np.empty(max(acc, 1), np.int64)
    q_size = np.zeros(n_pools, np.int64)
    busy = np.empty(max(acc, 1), np.int64)  # (end, lane) as end * n_lanes + lane
    b_size = np.zeros(n_pools, np.int64)

    placed_c = np.full(n, -1, np.int64)
    placed_s = np.zeros(n, np.int64)
    placed_e = np.zeros(n, np.int64)

    lane_family = np.full(n_lanes, NONE, np.int64)
    lane_wake = np.full(n_lanes, -1, np.int64)
    lane_inside = np.full(n_lanes, -1, np.int64)
    lane_busy_until = np.zeros(n_lanes, np.int64)

    # Idle lanes per pool and family: set tables in one arena.
    n_buckets = n_pools * (n_fam + 1)
    bucket_of = np.full((n_pools, n_fam + 1), -1, np.int64)
    pool_fams = np.empty((n_pools, n_fam + 1), np.int64)  # each pool's buckets in creation order
    pool_nf = np.zeros(n_pools, np.int64)
    meta = np.zeros((n_buckets, 5), np.int64)
    tab = np.full(max(64, 32 * n_lanes), _EMPTY, np.int64)
    top = np.zeros(1, np.int64)
    n_made = 0
    idle_count = np.zeros(n_pools, np.int64)
    for lane in range(n_lanes):
        p = lane_pool[lane]
        if bucket_of[p, NONE] < 0:
            bucket_of[p, NONE] = n_made
            pool_fams[p, 0] = NONE
            pool_nf[p] = 1
            tab = _set_new(tab, top, meta, n_made)
            n_made += 1
        tab = _set_add(tab, top, meta, bucket_of[p, NONE], lane)
        idle_count[p] += 1
    idle_version = np.zeros(n_pools, np.int64)
    asleep_v = np.full(n_pools, -1, np.int64)
    asleep_t = np.zeros(n_pools, np.int64)

    # The event calendar: (time, kind, id) as time * 2m + kind * m + id; kind 0 a task gets
    # ready, 1 a lane frees up or leaves a window (ready first, each kind in index order).
    m = max(n, n_lanes) + 1
    ev_cap = 2 * n + 1
    for lane in range(n_lanes):
        ev_cap += lane_whi[lane] - lane_wlo[lane]
    events = np.empty(ev_cap, np.int64)
    ev_base = np.zeros(1, np.int64)
    ev_size = np.zeros(1, np.int64)
    for t in range(n):
        if waiting[t] == 0:
            _push(events, ev_base, ev_size, 0, ready_at[t] * 2 * m + t)

    deferred = np.empty(lookahead, np.int64)
    touched = np.zeros(n_pools, np.bool_)
    touched_list = np.empty(n_pools, np.int64)
    batch = np.empty(ev_cap, np.int64)
    eft = True
    # One function, no calls taking arrays in the loop: numba counts references to every array
    # passed to a call (atomically), which cost more than the dispatching itself.
    while True:
        n_touched = 0
        if ev_size[0] == 0:
            # Every cell is idle yet work waits (see dispatch_lists): its pools, in order.
            for p in range(n_pools):
                o = q_base[p]
                for k in range(q_size[p]):
                    if placed_c[queue[o + k] % n] < 0:
                        touched_list[n_touched] = p
                        n_touched += 1
                        break
            if n_touched == 0:
                break
            eft = False
            now = lane_busy_until.max()
            lane_inside[:] = -1
        else:
            first = _pop(events, ev_base, ev_size, 0)
            now = first // (2 * m)
            nb = 0
            batch[nb] = first
            nb += 1
            while ev_size[0] and events[0] // (2 * m) == now:
                batch[nb] = _pop(events, ev_base, ev_size, 0)
                nb += 1
            for k in range(nb):
                rest = batch[k] - now * 2 * m
                if rest < m:  # a task gets ready
                    x = rest
                    key = rank[x] * n + x
                    for j in range(m_start[x], m_start[x] + m_len[x]):
                        p = mp[j]
                        _push(queue, q_base, q_size, p, key)
                        if not touched[p]:
                            touched[p] = True
                            touched_list[n_touched] = p
                            n_touched += 1
                else:
                    x = rest - m
                    if now >= lane_busy_until[x]:  # else a stale window wake-up for a lane busy since
                        p = lane_pool[x]
                        f = lane_family[x]
                        b = bucket_of[p, f]
                        if b < 0:
                            b = bucket_of[p, f] = n_made
                            pool_fams[p, pool_nf[p]] = f
                            pool_nf[p] += 1
                            tab = _set_new(tab, top, meta, b)
                            n_made += 1
                        if _set_find(tab, meta, b, x) < 0:
                            tab = _set_add(tab, top, meta, b, x)
                            idle_count[p] += 1
                        idle_version[p] += 1
                        if not touched[p]:
                            touched[p] = True
                            touched_list[n_touched] = p
                            n_touched += 1
            if n_touched > 1:
                touched_list[:n_touched].sort()
        for k in range(n_touched):
            pool = touched_list[k]
            touched[pool] = False
            if not (idle_count[pool] and q_size[pool]):
                continue  # dispatch would start nothing and change nothing
            if asleep_v[pool] == idle_version[pool] and now >= asleep_t[pool]:
                continue  # every entry would find no lane (see dispatch_lists' asleep_at)
            # ---- dispatch(pool, now) ----
            n_def = 0
            while q_size[pool] and idle_count[pool]:
                entry = _pop(queue, q_base, q_size, pool)
                t = entry % n
                if placed_c[t] >= 0:
                    continue
                if demote_lost and entry < lost and now + tails[t] > horizon:
                    _push(queue, q_base, q_size, pool, entry + lost)
                    continue
                lane = -1
                start = 0
                if not (eft and flexible[t] and _finishes_sooner_elsewhere(t, pool, now, m_start, m_len, mp, md, shortest, work_weight, idle_count,
                                                                             busy, q_base, b_size, lane_busy_until, n_lanes)):
                    # ---- find_lane(pool, t, now): same family first, then fresh lanes, then the others ----
                    fam = family[t]
                    d = _duration(m_start, m_len, mp, md, t, pool)
                    if d < 1:
                        d = 1
                    asleep = True
                    for step in range(pool_nf[pool] + 2):
                        if step == 0:
                            bf = fam
                        elif step == 1:
                            bf = NONE
                        else:
                            bf = pool_fams[pool, step - 2]
                            if bf == fam or bf == NONE:
                                continue
                        b = bucket_of[pool, bf]
                        if b < 0 or meta[b, _USED] == 0:
                            continue
                        with_setup = not (bf == NONE or bf == fam)
                        tried = 0
                        off = meta[b, _OFF]
                        slot = -1
                        while True:
                            slot = _set_next(tab, meta, b, slot + 1)
                            if slot < 0:
                                break
                            x = tab[off + slot]
                            if now < lane_inside[x]:
                                tried += 1
                                if tried >= 4:
                                    break
                                continue
                            setup_s = lane_setup[x] if with_setup else 0
                            lo, hi = lane_wlo[x], lane_whi[x]
                            if lo == hi:
                                lane, start = x, now + setup_s
                                break
                            a = bisect_right(w_e, lo, hi, now)  # the first window not over by now
                            if a == hi or w_s[a] >= now + setup_s + d:
                                lane, start = x, now + setup_s
                                break
                            wake = w_e[a]
                            if w_s[a] > now:
                                asleep = False
                            else:
                                lane_inside[x] = wake
                            if lane_wake[x] < wake:  # retry this lane once the window is over
                                lane_wake[x] = wake
                                _push(events, ev_base, ev_size, 0, wake * 2 * m + m + x)
                            tried += 1
                            if tried >= 4:
                                break
                        if lane >= 0:
                            break
                    if lane < 0 and asleep:
                        asleep_v[pool] = idle_version[pool]
                        asleep_t[pool] = now
                if lane < 0:
                    deferred[n_def] = entry
                    n_def += 1
                    if n_def >= lookahead or asleep_v[pool] == idle_version[pool]:
                        break
                    continue
                # Assign t to the lane.
                _set_discard(tab, meta, bucket_of[pool, lane_family[lane]], lane)
                idle_count[pool] -= 1
                if lane_setup[lane]:
                    lane_family[lane] = family[t]
                end = start + _duration(m_start, m_len, mp, md, t, pool)
                placed_c[t], placed_s[t], placed_e[t] = lane_report[lane], start, end
                if watched[pool]:
                    _push(busy, q_base, b_size, pool, end * n_lanes + lane)
                lane_busy_until[lane] = end
                _push(events, ev_base, ev_size, 0, end * 2 * m + m + lane)
                for k2 in range(succ_ptr[t], succ_ptr[t + 1]):
                    s = succ_idx[k2]
                    waiting[s] -= 1
                    if end > ready_at[s]:
                        ready_at[s] = end
                    if waiting[s] == 0:
                        _push(events, ev_base, ev_size, 0, ready_at[s] * 2 * m + s)
            for k2 in range(n_def):
                _push(queue, q_base, q_size, pool, deferred[k2])
    ok = True
    for t in range(n):
        if placed_c[t] < 0:
            ok = False
    return placed_c, placed_s, placed_e, ok


@njit(cache=True, inline="always")
def _finishes_sooner_elsewhere(t, pool, now, m_start, m_len, mp, md, shortest, work_weight, idle_count, busy, q_base, b_size, lane_busy_until, n_lanes):
    fastest = shortest[t]
    d0 = _duration(m_start, m_len, mp, md, t, pool)
    mine = (now + d0) + work_weight * (d0 - fastest)
    for k in range(m_start[t], m_start[t] + m_len[t]):
        other = mp[k]
        d = md[k]
        if other == pool:
            continue
        if idle_count[other]:
            free = now
        else:
            o = q_base[other]
            while b_size[other] and lane_busy_until[busy[o] % n_lanes] != busy[o] // n_lanes:
                _pop(busy, q_base, b_size, other)  # the lane has been given later work since
            if b_size[other]:
                end = busy[o] // n_lanes
                free = end if end > now else now
            else:
                free = now
        if (free + d) + work_weight * (d - fastest) < mine:
            return True
    return False
