"""A fast constructive schedule: the floor simulated as a dispatcher. Whenever a cell frees up
it takes the most urgent waiting operation by a priority rule, the way a cell controller would.

Why a time-driven dispatcher and not a serial scheme in priority order: cell timelines stay
append-only (a cell only ever needs "free from"), so 100k operations on 1,000 cells cost a few
heap operations each, and the rule really decides who goes first when a pool is congested.

Modelled exactly as `scheduler.validate` checks them: job and task releases, the precedence
DAG, unavailability windows (an operation and the setup before it never overlap one), setups
between product families on single-job cells (idle cells are chosen to avoid them), cells of
capacity k as k lanes, and flexible operations (an operation goes to the eligible pool whose
idle cell finishes it first). The plan may run past the horizon: units that cannot finish in
time are still planned (next week's work in progress) and are simply not counted as delivered.
"""
from __future__ import annotations

import heapq
import random
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import chain, compress, count, repeat
from operator import add, itemgetter, mul, ne, not_

from scheduler.calendars import flat_windows, merged_windows
from scheduler.delivery import delivered_mw
from scheduler.bounds import heads_and_tails
from scheduler.problem import Cell, Problem
from scheduler.schedule import Assignment, Schedule

RULES = ("slack", "fifo", "edd", "mwkr", "spt", "lpt")

# How many queued operations a freed cell looks past the head of its queue for one that fits
# before its next maintenance window; beyond this it waits for the window to end.
_LOOKAHEAD = 16

# How much a slower alternative's extra seconds weigh against finishing sooner (measured on
# generated job shops, see docs/scheduling.md "Scale").
WORK_WEIGHT = 4.0

_TIE = 2**53  # random.random() returns k / 2**53


def task_tails(problem: Problem) -> list[int]:
    """Each task's remaining work including itself, at the fastest durations: a job cannot
    finish sooner than this after the task starts."""
    heads = heads_and_tails(problem)
    return [s + q for s, q in zip(heads.shortest, heads.tail)]


def _tails(successors: list[list[int] | None], shortest: list[int]) -> list[int]:
    """task_tails for tasks whose successors all have higher indices: one backward pass."""
    tails = list(shortest)
    for t in range(len(tails) - 1, -1, -1):
        after = successors[t]
        if after:
            longest = tails[after[0]] if len(after) == 1 else max([tails[s] for s in after])
            if longest > 0:
                tails[t] += longest
    return tails


def _priority(problem: Problem, rule: str, tails: list[int]) -> Callable[[int], float]:
    """Smaller key = dispatched first."""
    jobs, tasks, horizon = problem.jobs, problem.tasks, problem.horizon

    def due(t: int) -> int:
        d = jobs[tasks[t].job].due
        return d if d is not None else horizon

    if rule == "slack":  # latest start that still meets the due date: least slack first
        return lambda t: due(t) - tails[t]
    if rule == "fifo":
        return lambda t: jobs[tasks[t].job].release
    if rule == "edd":
        return lambda t: due(t)
    if rule == "mwkr":
        return lambda t: -tails[t]
    if rule == "spt":
        return lambda t: min(d for _, d in tasks[t].modes)
    if rule == "lpt":
        return lambda t: -min(d for _, d in tasks[t].modes)
    raise ValueError(f"rule: {rule!r} is not a dispatching rule; valid: {', '.join(RULES)}")


def list_schedule(
    problem: Problem,
    rule: str = "slack",
    seed: int = 0,
    objective: str = "mw",
    work_weight: float = WORK_WEIGHT,
    priority: Sequence[float] | None = None,
) -> Schedule:
    """A complete, valid schedule built by dispatching. `seed` > 0 breaks priority ties at
    random (for multi-start); `objective` only labels the result's value (MW or makespan);
    `priority` (one number per task, smaller first) replaces the rule, e.g. times from an
    earlier plan."""
    began = time.perf_counter()
    tasks, jobs, cells = problem.tasks, problem.jobs, problem.cells
    family: list[str] = []
    ready_at: list[int] = []
    for task in tasks:
        job = jobs[task.job]
        family.append(job.family)
        ready_at.append(job.release if job.release >= task.release else task.release)
    placed = dispatch_lists(cells, len(problem.pools), [task.modes for task in tasks], [task.predecessors for task in tasks], ready_at, family,
                            problem.horizon, seed, objective, work_weight, priority,
                            rule_key=lambda tails: _priority(problem, rule, tails), tails_of=lambda: task_tails(problem))
    assignments = [Assignment(jobs[task.job].id, task.op, cells[p[0]].id, p[1], p[2]) for task, p in zip(tasks, placed)]
    schedule = Schedule(assignments, problem.horizon, status="heuristic", objective=objective, name=f"{problem.name}/{rule}")
    schedule.value = delivered_mw(problem, schedule) if objective == "mw" else schedule.makespan
    schedule.seconds = time.perf_counter() - began
    schedule.kpis["rule"] = rule
    return schedule


def dispatch_lists(
    cells: Sequence[Cell],
    n_pools: int,
    t_modes: Sequence[list[tuple[int, int]]],
    t_preds: Sequence[list[int]],
    ready_at: list[int],
    family: Sequence[str],
    horizon: int,
    seed: int = 0,
    objective: str = "mw",
    work_weight: float = WORK_WEIGHT,
    priority: Sequence[float] | None = None,
    rule_key: Callable[[list[int]], Callable[[int], float]] | None = None,
    tails_of: Callable[[], list[int]] | None = None,
    report_cell: Sequence[int] | None = None,
    compiled: bool | None = None,
) -> list[tuple[int, int, int]]:
    """The dispatcher itself, on the problem as lists per task (eligible (pool, duration) modes,
    predecessors, earliest start: the job's and the task's release, product family) and its
    cells, so a caller that holds the work so (a re-plan's open window) builds no Problem for it.
    `priority` (numbers, smaller first) or `rule_key(tails)` orders the queues; `tails_of()` gives the
    tails when predecessors are not in index order (else they come from one backward pass).
    Placements name `cells` by index, or by `report_cell[index]` when given (a sub-problem's
    lanes as the whole problem's cells). `ready_at` is used as working space.

    Unseeded runs of COMPILED_FROM tasks or more (or `compiled=True`) run the same dispatcher
    compiled (scheduler.dispatchjit: same placements, 1.6-4x less time: random floors to the 1 GW week); `compiled=False` keeps
    this Python one, the reference it is tested against."""
    _check_pools(cells, n_pools, t_modes)
    if compiled is None:
        compiled = len(t_modes) >= COMPILED_FROM
    if compiled and not seed:
        placed = _dispatch_compiled(cells, n_pools, t_modes, t_preds, ready_at, family, horizon, objective, work_weight, priority, rule_key, tails_of,
                                    report_cell)
        if placed is not None:
            return placed
    # The loop below is also written compiled, rule for rule: scheduler.dispatchjit.run. A change
    # to a rule here must be made there too (tests/scheduler/test_dispatch_jit.py compares them).
    heappush, heappop = heapq.heappush, heapq.heappop
    # For MW a unit that can no longer finish inside the horizon is worth nothing this week:
    # it drops behind every unit that still can, and only soaks up otherwise idle cells.
    demote_lost = objective == "mw"
    rng = random.Random(seed) if seed else None
    n = len(t_modes)
    for name, values in (("t_preds", t_preds), ("ready_at", ready_at), ("family", family), ("priority", priority)):
        if values is not None and len(values) != n:  # one entry per task, as t_modes
            raise ValueError(f"dispatch_lists: {name} has {len(values)} entries, t_modes {n}: one per task")

    # Lanes: one per job a cell can hold at once; a capacity-k bay is k lanes sharing windows.
    # A re-plan's cells are mostly lanes of bays, each with one window (its pinned work), so the
    # per-cell set-up is kept to a few list passes.
    if all(cell.capacity <= 1 for cell in cells):
        lane_cell = list(range(len(cells)))
    else:
        lane_cell = []
        for c, cell in enumerate(cells):
            lane_cell.extend([c] * max(1, cell.capacity))
    w_starts, w_ends = _cell_windows(cells)
    lane_starts = [w_starts[c] for c in lane_cell]
    lane_ends = [w_ends[c] for c in lane_cell]
    # Setups only exist on single-job cells (that is how validate reads them).
    lane_setup = [cell.setup if cell.capacity == 1 else 0 for cell in map(cells.__getitem__, lane_cell)]
    lane_family: list[str | None] = [None] * len(lane_cell)
    lane_wake = [-1] * len(lane_cell)
    # Till when a lane is known to be inside a window (its end, a wake-up already asked for):
    # a lane tried there again fails whatever the task, so find_lane counts it without a look.
    lane_inside = [-1] * len(lane_cell)
    lane_busy_until = [0] * len(lane_cell)
    lane_report = lane_cell if report_cell is None else [report_cell[c] for c in lane_cell]  # what a placement names
    # Idle lanes per pool, bucketed by the family they last ran, to pick a setup-free one in O(1).
    lane_pool = [cells[c].pool for c in lane_cell]
    fresh: list[set[int]] = [set() for _ in range(n_pools)]
    for lane, pool in enumerate(lane_pool):
        fresh[pool].add(lane)
    idle: list[dict[str | None, set[int]]] = [{None: lanes} if lanes else {} for lanes in fresh]
    idle_count = [len(lanes) for lanes in fresh]  # idle lanes per pool
    family_order: list[dict[str | None, tuple]] = [{} for _ in range(n_pools)]  # see find_lane
    # A pool whose idle lanes find_lane tried were all inside a window at `now` (the first four
    # of each bucket, in the sets' order) starts nothing, whatever the task, until a lane joins
    # its idle sets: a window's end does so (its wake-up event), and so does a lane freeing up.
    # Its dispatches until then would only pop and push back the same queue: skipped, the queue's
    # lazy parts (demotion, placed entries) happen at its next real dispatch, the same way.
    idle_version = [0] * n_pools
    asleep_at = [(-1, 0)] * n_pools  # (idle_version, now) when the pool was found asleep

    # One pass over the tasks. Duration by pool (first mode per pool wins, as in validate) and
    # shortest are made once per distinct modes list (a capability's tasks share theirs).
    # Whole-list passes where they do (maps, C-level): a re-plan's open work is ~3,400 tasks.
    modes_ids = list(map(id, t_modes))
    distinct = dict(zip(modes_ids, t_modes))
    per_modes = {k: (dict(reversed(modes)), min(d for _, d in modes), len(modes) > 1) for k, modes in distinct.items()}
    made = list(map(per_modes.__getitem__, modes_ids))
    duration: list[dict[int, int]] = list(map(itemgetter(0), made))
    shortest: list[int] = list(map(itemgetter(1), made))
    flexible: list[bool] = list(map(itemgetter(2), made))
    successors: list[list[int] | None] = [None] * n  # a list only where there are some
    waiting: list[int] = list(map(len, t_preds))
    in_order = True  # every predecessor has a lower index (a built problem's routing order)
    for t in compress(range(n), waiting):  # the tasks with predecessors
        for p in t_preds[t]:
            after = successors[p]
            if after is None:
                successors[p] = [t]
            else:
                after.append(t)
            if p >= t:
                in_order = False
    # finishes_sooner_elsewhere reads a pool's work in hand only as another pool of a flexible operation.
    watched = [False] * n_pools
    for modes in distinct.values():
        if len(modes) > 1:
            for pool, _ in modes:
                watched[pool] = True
    if not in_order and tails_of is None:
        raise ValueError("t_preds: a predecessor after its task needs tails_of")
    tails = _tails(successors, shortest) if in_order else tails_of()  # type: ignore[misc]
    if priority is None and rule_key is None:
        raise ValueError("priority: give priority or rule_key")
    keys = priority if priority is not None else list(map(rule_key(tails), range(n)))  # type: ignore[misc]
    # A queue entry is one int ordered as (lost, key, tie-break, task) would be: the key's rank
    # among the distinct keys, the seeded tie-break (random() is k/2**53: its k, drawn when the
    # task gets ready, as ever) and the task; a lost unit's entry is moved past every other.
    # Ints keep the queues' heaps cheap: they are popped ~2 times per task.
    rank_of = _key_ranks(keys)
    if rng is None:
        entry_of = list(map(add, map(mul, map(rank_of.__getitem__, keys), repeat(n)), range(n)))
        lost = len(rank_of) * n
    else:
        key_rank = [rank_of[key] for key in keys]
        lost = len(rank_of) * _TIE * n
    placed: list[tuple[int, int, int] | None] = [None] * n
    queues: list[list[int]] = [[] for _ in range(n_pools)]
    busy: list[list[tuple[int, int]]] = [[] for _ in range(n_pools)]  # (end, lane) of work handed out

    # Events by time: a heap of the distinct times, and per time the tasks that become ready and
    # the lanes that free up or leave a window then (a list only for the kinds that happen).
    # Handled as a heap of (time, kind, task or lane) would pop them: ready tasks first, each
    # group in index order (the order lanes join the idle sets, which the sets' iteration order
    # keeps, and seeded tie-breaks are drawn).
    ready_due: dict[int, list[int]] = {}
    lanes_due: dict[int, list[int]] = {}
    for t in compress(range(n), map(not_, waiting)):
        at = ready_due.get(ready_at[t])
        if at is None:
            ready_due[ready_at[t]] = [t]
        else:
            at.append(t)
    times = list(ready_due)
    heapq.heapify(times)

    def find_lane(pool: int, t: int, now: int) -> tuple[int, int] | None:
        """An idle lane of `pool` that can run task t from `now` without crossing a window,
        preferring one that needs no setup; returns (lane, start)."""
        fam = family[t]
        d = duration[t][pool]
        if d < 1:
            d = 1  # even zero-length work keeps out of windows: a sub-problem's windows are other work
        buckets = idle[pool]
        asleep = True  # every lane tried is inside a window right now: no task could start
        # Same-family lanes first, then fresh ones, then the others (with a setup), in the
        # buckets' order: kept per family until the pool gets a bucket for a new family.
        if len(buckets) == 1:
            families = buckets
        else:
            families = family_order[pool].get(fam)  # type: ignore[assignment]
            if families is None:
                families = family_order[pool][fam] = (fam, None, *[f for f in buckets if f not in (fam, None)])
        for bucket_family in families:
            bucket = buckets.get(bucket_family)
            if not bucket:
                continue
            setup = 0 if bucket_family is None or bucket_family == fam else -1
            tried = 0
            for lane in bucket:
                if now < lane_inside[lane]:
                    tried += 1
                    if tried >= 4:
                        break
                    continue
                lane_setup_s = lane_setup[lane] if setup else 0
                starts = lane_starts[lane]
                if starts is None:
                    return lane, now + lane_setup_s
                ends = lane_ends[lane]
                w = bisect_right(ends, now)  # the first window not over by now (CellCalendar.blocking)
                if w == len(starts) or starts[w] >= now + lane_setup_s + d:
                    return lane, now + lane_setup_s
                wake = ends[w]  # type: ignore[index]
                if starts[w] > now:
                    asleep = False
                else:
                    lane_inside[lane] = wake
                if lane_wake[lane] < wake:  # retry this lane once the window is over
                    lane_wake[lane] = wake
                    at = lanes_due.get(wake)
                    if at is not None:
                        at.append(lane)
                    else:
                        lanes_due[wake] = [lane]
                        if wake not in ready_due:
                            heappush(times, wake)
                tried += 1
                if tried >= 4:
                    break
        if asleep:
            asleep_at[pool] = (idle_version[pool], now)
        return None

    def finishes_sooner_elsewhere(t: int, pool: int, now: int) -> bool:
        """Earliest-finish choice for flexible operations: leave t to another eligible pool
        that will finish it earlier, even if that pool is busy right now. Extra duration on a
        slower cell counts `work_weight` times more, since it is capacity lost to everyone."""
        fastest = shortest[t]
        mine = now + duration[t][pool] + work_weight * (duration[t][pool] - fastest)
        for other, d in t_modes[t]:
            if other == pool:
                continue
            # When the other pool's first lane is free: now if one is idle, else its earliest end.
            if idle_count[other]:
                free = now
            else:
                heap = busy[other]
                while heap and lane_busy_until[heap[0][1]] != heap[0][0]:
                    heappop(heap)  # the lane has been given later work since
                free = max(now, heap[0][0]) if heap else now
            if free + d + work_weight * (d - fastest) < mine:
                return True
        return False

    def dispatch(pool: int, now: int) -> None:
        version, at = asleep_at[pool]
        if version == idle_version[pool] and now >= at:
            return  # as below, every entry would find no lane (see asleep_at)
        queue = queues[pool]
        pool_idle, pool_busy = idle[pool], busy[pool] if watched[pool] else None
        deferred = []
        while queue and idle_count[pool]:
            entry = heappop(queue)
            t = entry % n
            if placed[t] is not None:
                continue
            if demote_lost and entry < lost and now + tails[t] > horizon:
                heappush(queue, entry + lost)
                continue
            choice = None
            if not (eft and flexible[t] and finishes_sooner_elsewhere(t, pool, now)):
                choice = find_lane(pool, t, now)
            if choice is None:
                deferred.append(entry)
                if len(deferred) >= _LOOKAHEAD or asleep_at[pool][0] == idle_version[pool]:
                    break
                continue
            # Assign t to the lane (inline: once per task, the hottest path of a re-plan).
            lane, start = choice
            pool_idle[lane_family[lane]].discard(lane)  # it was idle: in its family's bucket
            idle_count[pool] -= 1
            if lane_setup[lane]:
                lane_family[lane] = family[t]
            end = start + duration[t][pool]
            placed[t] = (lane_report[lane], start, end)
            if pool_busy is not None:
                heappush(pool_busy, (end, lane))
            lane_busy_until[lane] = end
            at = lanes_due.get(end)
            if at is not None:
                at.append(lane)
            else:
                lanes_due[end] = [lane]
                if end not in ready_due:
                    heappush(times, end)
            for s in successors[t] or ():
                waiting[s] -= 1
                if end > ready_at[s]:
                    ready_at[s] = end
                if waiting[s] == 0:
                    at = ready_due.get(ready_at[s])
                    if at is not None:
                        at.append(s)
                    else:
                        ready_due[ready_at[s]] = [s]
                        if ready_at[s] not in lanes_due:
                            heappush(times, ready_at[s])
        for entry in deferred:
            heappush(queue, entry)

    eft = True
    while True:
        if not times:
            # Every cell is idle yet work waits: it was all left to pools that never came back
            # for it. Dispatch it plainly to whichever eligible cell takes it.
            stranded = [p for p, q in enumerate(queues) if any(placed[e % n] is None for e in q)]
            if not stranded:
                break
            eft = False
            now = max(lane_busy_until)
            # Time may step back here: a lane's "inside a window till" mark was set at a later
            # time, so every lane is looked at again.
            lane_inside[:] = [-1] * len(lane_cell)
            for pool in stranded:
                dispatch(pool, now)
            continue
        now = heappop(times)
        # Popped first: work of zero length ends at `now` again, a batch of its own.
        ready = ready_due.pop(now, ())
        lanes = lanes_due.pop(now, ())
        touched: set[int] = set()
        if len(ready) > 1:
            ready.sort()  # type: ignore[union-attr]
        for x in ready:
            key = entry_of[x] if rng is None else (key_rank[x] * _TIE + int(rng.random() * _TIE)) * n + x
            for pool, _ in t_modes[x]:
                heappush(queues[pool], key)
                touched.add(pool)
        if len(lanes) > 1:
            lanes.sort()  # type: ignore[union-attr]
        for x in lanes:
            if now >= lane_busy_until[x]:  # else a stale window wake-up for a lane busy since
                pool = lane_pool[x]
                bucket = idle[pool].get(lane_family[x])
                if bucket is None:
                    bucket = idle[pool][lane_family[x]] = set()
                    family_order[pool].clear()
                if x not in bucket:  # a window's end for a lane idle all along: it is there
                    bucket.add(x)
                    idle_count[pool] += 1
                idle_version[pool] += 1
                touched.add(pool)
        for pool in sorted(touched) if len(touched) > 1 else touched:
            if idle_count[pool] and queues[pool]:  # else dispatch would start nothing and change nothing
                dispatch(pool, now)

    if None in placed:
        raise RuntimeError("list_schedule: some operations were never dispatched (a bug)")
    return placed  # type: ignore[return-value]


# Below this many tasks a dispatch is too short for the compiled one's set-up to pay.
COMPILED_FROM = 200


def _cell_windows(cells: Sequence[Cell]) -> tuple[list[list[int] | None], list[list[int] | None]]:
    """Each cell's merged windows as CellCalendar holds them (starts, ends; None: no window):
    find_lane asks CellCalendar.blocking's question inline."""
    w_starts: list[list[int] | None] = []
    w_ends: list[list[int] | None] = []
    for cell in cells:
        starts, ends = merged_windows(cell.unavailable) if cell.unavailable else ([], [])
        w_starts.append(starts or None)
        w_ends.append(ends or None)
    return w_starts, w_ends


def mode_runs(t_modes: Sequence[list[tuple[int, int]]]):
    """Each task's (pool, duration) modes as one flat run per distinct list (a capability's tasks
    share theirs): per task its run's start and length, and the runs as a (k, 2) array (of
    Python objects where a number does not fit an int64)."""
    import numpy as np

    ids = list(map(id, t_modes))
    start_of: dict[int, int] = {}
    flat: list[tuple[int, int]] = []
    for k, modes in dict(zip(ids, t_modes)).items():
        start_of[k] = len(flat)
        flat.extend(modes)
    m_start = np.fromiter(map(start_of.__getitem__, ids), np.int64, len(ids))
    m_len = np.fromiter(map(len, t_modes), np.int64, len(ids))
    return m_start, m_len, np.array(flat).reshape(-1, 2)


def pred_runs(t_preds: Sequence[list[int]]):
    """Each task's predecessors as flat runs (ptr, idx): task t's are idx[ptr[t]:ptr[t + 1]]."""
    import numpy as np

    ptr = np.zeros(len(t_preds) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, t_preds), np.int64, len(t_preds)), out=ptr[1:])
    return ptr, np.fromiter(chain.from_iterable(t_preds), np.int64, int(ptr[-1]))


def _key_ranks(keys: Sequence[float]) -> dict[float, int]:
    """Each distinct key's rank (smallest 0)."""
    if any(map(ne, keys, keys)):  # a NaN has no rank: sorted() would place it by chance
        raise ValueError(f"priority: task {next(t for t, key in enumerate(keys) if key != key)} has a NaN key; keys must be ordered numbers")
    return dict(zip(sorted(set(keys)), count()))


def dispatch_on_lanes(lanes, sub_cells: Callable, t_modes: Sequence[list[tuple[int, int]]], t_preds: Sequence[list[int]], ready_at: list[int],
                      family: Sequence[str], horizon: int, objective: str = "mw", priority: Sequence[float] | None = None,
                      tails_of: Callable[[], list[int]] | None = None, preds_runs=None) -> list[tuple[int, int, int]]:
    """dispatch_lists on a sub-problem whose cells are given as lanes (scheduler.subproblem.
    LaneArrays: a re-plan builds no Cell per lane); placements name the whole problem's cells.
    Where the compiled dispatcher declines, `sub_cells()` makes the lanes as
    scheduler.subproblem.Lanes for the Python one. `preds_runs`: t_preds as flat runs (ptr, idx)
    already, as scheduler.windowjit makes them."""
    placed = _dispatch_compiled(None, lanes.n_pools, t_modes, t_preds, ready_at, family, horizon, objective, WORK_WEIGHT, priority, None, tails_of,
                                None, lanes, preds_runs)
    if placed is None:
        sub = sub_cells()
        placed = dispatch_lists(sub.cells, len(sub.pools), t_modes, t_preds, ready_at, family, horizon, objective=objective, priority=priority,
                                tails_of=tails_of, report_cell=sub.cell_index, compiled=False)
    return placed


def _dispatch_compiled(cells, n_pools, t_modes, t_preds, ready_at, family, horizon, objective, work_weight, priority, rule_key, tails_of,
                       report_cell, lanes=None, preds_runs=None) -> list[tuple[int, int, int]] | None:
    """dispatch_lists on scheduler.dispatchjit, or None where the problem is outside what it
    holds (no tasks or cells, a task without modes, a time that is not an int: the Python
    dispatcher takes those, and raises where it should). `lanes` (subproblem.LaneArrays) stand
    for `cells` and `report_cell` when given."""
    import numpy as np

    from scheduler.dispatchjit import sets_iterate_as_reproduced

    n = len(t_modes)
    if not n or (not cells if lanes is None else not len(lanes.lane_pool)) or not sets_iterate_as_reproduced():
        return None
    for name, values in (("t_preds", t_preds), ("ready_at", ready_at), ("family", family), ("priority", priority)):
        if values is not None and len(values) != n:  # one entry per task, as t_modes
            raise ValueError(f"dispatch_lists: {name} has {len(values)} entries, t_modes {n}: one per task")
    if priority is None and rule_key is None:
        raise ValueError("priority: give priority or rule_key")
    m_start, m_len, mode_arr = mode_runs(t_modes)
    if not m_len.all() or mode_arr.dtype.kind != "i":
        return None
    ptr, flat_preds = preds_runs if preds_runs is not None else pred_runs(t_preds)
    task_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
    in_order = bool((flat_preds < task_of).all())
    if flat_preds.size and (flat_preds.min() < 0 or flat_preds.max() >= n):
        return None
    ready = np.array(ready_at)
    if ready.dtype.kind != "i":
        return None
    if rule_key is not None or not in_order:
        if not in_order and tails_of is None:
            raise ValueError("t_preds: a predecessor after its task needs tails_of")
        if in_order:
            successors: list[list[int] | None] = [None] * n
            for p, t in zip(flat_preds.tolist(), task_of.tolist()):
                if successors[p] is None:
                    successors[p] = [t]
                else:
                    successors[p].append(t)  # type: ignore[union-attr]
            shortest = [min(d for _, d in modes) for modes in t_modes]
            tails = _tails(successors, shortest)
        else:
            tails = tails_of()
    else:
        tails = None
    keys = priority if priority is not None else list(map(rule_key(tails), range(n)))
    rank_of = _key_ranks(keys)
    rank = np.array(list(map(rank_of.__getitem__, keys)), np.int64)
    codes = {f: i for i, f in enumerate(dict.fromkeys(family))}
    if None in codes:  # the Python dispatcher reads a None family as a fresh lane's: a bucket the compiled one keeps apart
        return None
    fam = np.array(list(map(codes.__getitem__, family)), np.int64)
    if lanes is None:
        lanes = _cell_lanes(cells, report_cell)
        if lanes is None:
            return None
    placed = run_arrays(n_pools, m_start, m_len, mode_arr[:, 0].copy(), mode_arr[:, 1].copy(), ptr, flat_preds, task_of, ready.astype(np.int64), fam,
                        len(codes), rank, len(rank_of), tails, horizon, objective, work_weight, lanes)
    if placed is None:
        return None
    return list(zip(*(a.tolist() for a in placed)))


def run_arrays(n_pools, m_start, m_len, mp, md, ptr, flat_preds, task_of, ready, fam, n_fam, rank, n_ranks, tails, horizon, objective, work_weight,
               lanes):
    """The compiled dispatcher on a problem held as arrays already (modes and predecessors as flat
    runs, `task_of` each predecessor entry's task, families and priorities as small ints, the cells
    as lanes): (cell, start, end) arrays per task, or None when its times do not fit the compiled
    keys (see _times_fit: the Python dispatcher takes the problem). `tails` None: the dispatcher's
    own (every predecessor before its task)."""
    import numpy as np

    from scheduler.dispatchjit import run

    n = m_start.shape[0]
    if not _times_fit(ready, md, lanes, n):
        return None
    waiting = np.diff(ptr)
    succ_idx = task_of[np.argsort(flat_preds, kind="stable")]  # per predecessor its tasks, in task order
    succ_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(flat_preds, minlength=n), out=succ_ptr[1:])
    placed_c, placed_s, placed_e, ok = run(n_pools, n_fam, m_start, m_len, mp, md, succ_ptr, succ_idx, waiting, ready, fam, rank, n_ranks,
                                           np.array(tails if tails is not None else [0] * n, np.int64), tails is None, horizon,
                                           objective == "mw", float(work_weight), lanes.lane_pool, lanes.lane_setup, lanes.lane_report, lanes.lane_wlo,
                                           lanes.lane_whi, lanes.w_s, lanes.w_e, _LOOKAHEAD)
    if not ok:
        raise RuntimeError("list_schedule: some operations were never dispatched (a bug)")
    return placed_c, placed_s, placed_e


def _check_pools(cells: Sequence[Cell], n_pools: int, t_modes: Sequence[list[tuple[int, int]]]) -> None:
    """Every task can run somewhere: one of its modes names a pool with a cell. (A task that can
    run nowhere would wait forever in the stranded-work pass; an unknown pool index would fail
    on an index in Python, and read past an array compiled.)"""
    staffed = {cell.pool for cell in cells}
    for t_id, modes in {id(modes): modes for modes in t_modes}.items():
        for pool, _ in modes:
            if not 0 <= pool < n_pools:
                raise ValueError(f"t_modes: pool {pool} is not one of the {n_pools} pools (0..{n_pools - 1})")
        if not any(pool in staffed for pool, _ in modes):
            task = next(t for t, m in enumerate(t_modes) if id(m) == t_id)
            raise ValueError(f"t_modes[{task}]: its modes {modes} name no pool with a cell (pools with cells: {sorted(staffed)})")


def _times_fit(ready, durations, lanes, n: int) -> bool:
    """Whether every time the compiled dispatcher can meet fits its int64 keys: an event is
    time * 2m + kind * m + id (m = max(tasks, lanes) + 1) and a busy lane end * lanes + lane, so a
    time must stay below 2**62 / 2m. Bounded by the largest ready time or window bound plus
    every task's longest mode and a setup (no lane runs past that); beyond, the Python dispatcher
    (arbitrary ints) takes the problem. Negative durations go there too."""
    if durations.min() < 0:
        return False
    bounds = [abs(int(ready.min())), abs(int(ready.max()))]
    for values in (lanes.w_s, lanes.w_e):
        if values.size:
            bounds += [abs(int(values.min())), abs(int(values.max()))]
    setup = int(lanes.lane_setup.max()) if lanes.lane_setup.size else 0
    top = max(bounds) + n * (int(durations.max()) + setup) + 1
    m = max(n, len(lanes.lane_pool)) + 1
    return top * 2 * m + 2 * m < 2**62 and top * (len(lanes.lane_pool) + 1) < 2**62


def _cell_lanes(cells: Sequence[Cell], report_cell: Sequence[int] | None):
    """The cells as subproblem.LaneArrays: a capacity-k cell is k lanes sharing its windows (None
    when a window bound is not whole seconds within int64: the Python dispatcher takes that problem)."""
    import numpy as np

    from scheduler.subproblem import LaneArrays

    lane_cell = []
    for c, cell in enumerate(cells):
        lane_cell.extend([c] * max(1, cell.capacity))
    try:
        cell_lo, cell_hi, w_s, w_e = flat_windows(cells, merged=True)
    except (OverflowError, ValueError):  # past int64, or not whole seconds: the Python dispatcher reads them as they are
        return None
    lanes = np.array(lane_cell, np.int64)
    lane_pool = np.array([cell.pool for cell in cells], np.int64)[lanes]
    lane_setup = np.array([cell.setup if cell.capacity == 1 else 0 for cell in cells], np.int64)[lanes]
    try:
        lane_report = lanes if report_cell is None else np.array(report_cell, np.int64)[lanes]
    except OverflowError:
        return None
    lo, hi = cell_lo[lanes], cell_hi[lanes]
    return LaneArrays(0, {}, lane_pool, lane_setup, lane_report, lo, hi, w_s, w_e)
