"""The thin observer the floor model calls at state changes. During the run it only writes down
what happened, in the order it happened (a flat log per kind: cell state changes, waits, units
in and out); whenever the logs reach `SLICE` entries, and when the run ends (`close`), it bins
them with numpy into time bins (so the warm-up can be cut after the run, by Welch's method or a
configured length), carrying each cell's last state and time on to the next slice, and hands
back plain arrays: a `Trace` per replication. Memory stays bounded by a slice, not the run.

Binning in slices gives the same floats, bit for bit, as adding into the bins at every change:
every interval is cut at the bin edges by the same float operations, and `np.bincount` adds
the pieces into each bin one after another in log order, starting from 0.0, as the running sums
did (see `_spread_all`); a later slice starts each bin from the running total (`_accumulate`)."""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

# Cell states; a slot of a multi-job cell (a burn-in bay holds 24 racks) counts as one cell.
BUSY, SETUP, BLOCKED, STARVED, IDLE, DOWN, OFF = range(7)
STATES = ("busy", "setup", "blocked", "starved", "idle", "down", "off")
N_STATES = len(STATES)
# Roser's active states: the cell is the one holding the flow back (working, changing over, in
# repair or planned maintenance). Waiting for work or for room downstream is inactive.
ACTIVE = (True, True, False, False, False, True, True)
_ACTIVE = np.array(ACTIVE)

# How an interval is cut at bin edges: as the running sums of the former observer did, which
# took shortcuts for the common cases (a cell's state inside one bin or across one edge, a wait
# inside one bin) that can differ from the general loop in the last bit. Kept, so numbers stay.
_GENERAL, _STATE, _QUEUE = 0, 1, 2
_MOVED, _IN, _OUT = 0, 1, 2  # a unit record: WIP changed / a unit released / a unit finished
# Log entries (state changes + waits) binned at once: big enough that numpy's per-call cost is
# nothing against the run's (a slice is ~30k operations), small enough that a slice's temporaries
# (a few dozen arrays of its length, ~250 bytes an entry in all) stay near 25 MB whatever the
# run's length (gw1, 4 weeks: peak 186 MB with this, 258 MB with 500k, 345 MB binning at once).
SLICE = 100_000
# Within a slice the logs are read into arrays every `CHUNK` waits or so (`_read_logs`), while the
# numbers they hold were made recently and sit in the cache: read at the slice, ~100,000 of them
# scattered over the heap by then, np.fromiter spent ~40 ns on each (a tenth of that when fresh).
# Small, too, because an emptied list has given its storage back (CPython frees it) and grows
# again by reallocations that copy it: lists of a few thousand entries are copied within the
# cache; at 6,000 waits the copies went through memory (the replan week: ~1.6 million L2 misses).
CHUNK = 1_000


@dataclass
class Trace:
    """One replication's binned record. Shapes: [bin, ...]; times in seconds."""

    bin_s: float
    end_s: float
    state_time: np.ndarray  # [bin, station, state]
    completed: np.ndarray  # [bin, product] units finished
    released: np.ndarray  # [bin, product] units let onto the floor
    cycle_sum: np.ndarray  # [bin, product] summed floor time of the units finished in the bin
    wip_area: np.ndarray  # [bin] integral of units on the floor
    queue_area: np.ndarray  # [bin, station] integral of operations waiting for a cell
    wait_sum: np.ndarray  # [bin, station] summed waits of operations started in the bin
    wait_n: np.ndarray  # [bin, station]
    active: list[tuple[int, float, float]]  # (station, start, end): every cell of the station active
    start_delays: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (planned start, delay) for executed plans
    last_end_s: float = 0.0  # when the last unit finished
    executed: list | None = None  # (job, op, cell, start, end) per operation, when recorded
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of the replication (wall time counts other work on a shared host)


class Observer:
    """Called by the floor: `add_cell` while it is built, then `state`, `waited`, `start_delay`,
    `released_unit`, `finished_unit` as things happen, `still_waiting` at the end, then `close`.
    Only what the floor itself asks back (a cell's state, the units on the floor) is kept live."""

    __slots__ = ("env", "bin_s", "n_bins", "n_products", "cell_state", "cell_station", "station_size", "wip",
                 "last_end", "_init_state", "_changes", "_changed_at", "_waits", "_still", "_units",
                 "_delays", "_delays_before", "_at", "_waited", "_delay", "slice_size", "_since", "_count", "_open_since",
                 "_active", "_sums", "_counts", "_wip_since", "chunk_size", "_read_n", "_parts")

    def __init__(self, env, end_s: float, bin_s: float, station_sizes: list[int], n_products: int) -> None:
        self.env = env  # the hot calls read SimPy's clock as `env._now`: `env.now` is a property, a call each time
        self.bin_s = bin_s
        self.n_bins = max(1, int(math.ceil(end_s / bin_s - 1e-9)))
        self.n_products = n_products
        self.station_size = list(station_sizes)  # a station's cells not yet added count as waiting
        self.cell_state: list[int] = []  # live: the floor's starved/idle switch reads it
        self.cell_station: list[int] = []
        self._init_state: list[int] = []  # what each cell's first logged change changes from (since time 0)
        # The logs, flat lists: a list takes a tuple of numbers in ~45 ns, an array of doubles in
        # ~175 (it parses each item), and a week writes ~600,000 numbers. A slice (`SLICE`)
        # bounds what they hold; numpy reads them back as the same doubles. The start delays,
        # kept to the end, are moved into a numpy array at each slice.
        self._changes: list[int] = []  # cell, new state, cell, new state, ...
        self._changed_at: list[float] = []  # when, per change
        self._waits: list[float] = []  # station, since, now, per operation taken from a queue
        self._still: list = []  # (station, since, now) of operations still queued at the end
        self._units: list[float] = []  # time, kind (_MOVED, _IN, _OUT), product, floor time, units on the floor before, ...
        self._delays: list[float] = []  # planned start, delay, planned start, delay, ... (this slice's)
        self._delays_before: list[np.ndarray] = []  # the slices' before
        self._at, self._waited = self._changed_at.append, self._waits.extend
        self._delay = self._delays.extend
        self.wip = 0
        self.last_end = 0.0
        # What the slices binned so far carry on: each cell's state is `_init_state` since
        # `_since` (time 0 until a slice moved it); per station, its cells not active and when
        # its open all-active period began; the running sums (flat [bin x column] arrays) and
        # counts; when the unit log's last record was.
        self.slice_size = SLICE
        self.chunk_size = CHUNK
        self._read_n = 0  # log entries (changes + waits) read into `_parts` in this slice
        self._parts: list[tuple[np.ndarray, ...]] = []  # the logs read so far in this slice (`_read_logs`)
        self._since: list[float] = []
        n_st = len(station_sizes)
        self._count = np.array(station_sizes, dtype=np.int64)
        self._open_since = np.full(n_st, math.nan)
        self._active: list[tuple[int, float, float]] = []
        self._sums = {"state": np.zeros(self.n_bins * n_st * N_STATES), "queue": np.zeros(self.n_bins * n_st),
                      "wait": np.zeros(self.n_bins * n_st), "cycle": np.zeros(self.n_bins * n_products),
                      "wip": np.zeros(self.n_bins)}
        self._counts = {"wait": np.zeros(self.n_bins * n_st, dtype=np.int64),
                        "in": np.zeros(self.n_bins * n_products, dtype=np.int64),
                        "out": np.zeros(self.n_bins * n_products, dtype=np.int64)}
        self._wip_since = 0.0

    def add_cell(self, station: int, state: int) -> int:
        cell = len(self.cell_state)
        self.cell_state.append(state)
        self.cell_station.append(station)
        if ACTIVE[state]:  # every cell counts as waiting until added: this one turns active at time 0
            self._init_state.append(STARVED)
            self._changes += (cell, state)
            self._at(0.0)
        else:
            self._init_state.append(state)
        return cell

    def state(self, cell: int, state: int, at: float | None = None) -> None:
        """The cell enters `state` now (or at `at`, a moment since its last change, when the
        change does not alter whether the cell is active)."""
        states = self.cell_state
        if states[cell] != state:
            states[cell] = state
            self._changes += (cell, state)
            self._at(self.env._now if at is None else at)

    def states(self, cell: int, changes: list[tuple[int, float]]) -> None:
        """`state(cell, state, at)` for each (state, at) of `changes`, in order, in one call (an
        operation worked out ahead tells its changes when it ends: sim.floor.Floor._told)."""
        states = self.cell_state
        current = states[cell]
        log, at_ = self._changes, self._at
        for state, at in changes:
            if state != current:
                current = state
                log += (cell, state)
                at_(at)
        states[cell] = current

    def wip_change(self, delta: int) -> None:
        self._units.extend((self.env.now, _MOVED, 0, 0.0, self.wip))
        self._wip(delta)

    def _wip(self, delta: int) -> None:
        before = self.wip
        self.wip = before + delta
        if (before == 0) != (self.wip == 0):
            self._waiting_cells_follow(self.env.now)
        # A unit moves far less often than a cell changes state: checking here costs nothing.
        n = len(self._changed_at) + len(self._waits) // 3
        if self._read_n + n >= self.slice_size:
            self._slice()
        elif n >= self.chunk_size:
            self._read_logs()

    def _read_logs(self) -> None:
        """Read the logs into arrays (kept in `_parts` until the slice bins them) and empty them."""
        self._read_n += len(self._changed_at) + len(self._waits) // 3
        self._parts.append((_read(self._changes, np.intp), _read(self._changed_at, float), _read(self._waits, float),
                            _read(self._units, float), _read(self._delays, float)))
        # Emptied in place: the bound appends stay valid.
        del self._changes[:], self._changed_at[:], self._waits[:], self._units[:], self._delays[:]

    def _waiting_cells_follow(self, now: float) -> None:
        """The floor just emptied or got its first unit: every waiting cell changes between
        starved (units on the floor) and idle (none) now, not only when it next starts waiting.
        Rare on a loaded floor (its WIP seldom reaches zero), so a scan over the cells is cheap."""
        old, new = (STARVED, IDLE) if self.wip == 0 else (IDLE, STARVED)
        states = self.cell_state
        for cell in range(len(states)):
            if states[cell] == old:
                self.state(cell, new, now)

    def released_unit(self, product: int) -> None:
        self._units.extend((self.env.now, _IN, product, 0.0, self.wip))
        self._wip(1)

    def finished_unit(self, product: int, floor_time: float) -> None:
        now = self.env.now
        self._units.extend((now, _OUT, product, floor_time, self.wip))
        self.last_end = now
        self._wip(-1)

    def waited(self, station: int, since: float) -> None:
        """An operation leaves the queue for a cell. Its wait [since, now) is also its share of
        the queue-length integral, so the queue needs no bookkeeping of its own (Lq = lambda Wq
        holds by construction, bin by bin)."""
        self._waited((station, since, self.env._now))

    def started(self, cell: int, station: int, since: float, planned: float | None) -> None:
        """An operation leaves the queue and its work starts now on `cell`, with no changeover:
        `waited(station, since)`, `state(cell, BUSY)` and, for a planned start,
        `start_delay(planned, now - planned)`, in one call (each goes to its own log, so one
        call writes what the three did)."""
        now = self.env._now
        self._waited((station, since, now))
        states = self.cell_state
        if states[cell] != BUSY:  # from an operation straight to the next, the cell stays busy
            states[cell] = BUSY
            self._changes += (cell, BUSY)
            self._at(now)
        if planned is not None:
            self._delay((planned, now - planned))

    def still_waiting(self, station: int, since: float) -> None:
        """At the end of the run: an operation still queued adds its wait so far to the queue."""
        self._still.append((station, since, self.env.now))

    def start_delay(self, planned: float, delay: float) -> None:
        self._delay((planned, delay))

    # ------------------------------------------------------------------ binning, in slices
    def _slice(self, now: float | None = None) -> None:
        """Bin the logs so far into the running sums and empty them; `now`: the run's end, when
        the intervals still open (cells' states, operations still queued, WIP) close too."""
        self._read_logs()
        changes, changed_at, waits, units, delays = (np.concatenate(logs) for logs in zip(*self._parts))
        self._parts, self._read_n = [], 0
        self._states(now, changes, changed_at)
        self._queues(now is not None, waits)
        self._unit_records(now, units)
        self._delays_before.append(delays)

    def close(self, wall_s: float) -> Trace:
        """Close the open intervals at now, bin the rest of the logs and return the arrays."""
        now = float(self.env.now)
        self._slice(now)
        n_st, n_p, sums, counts = len(self.station_size), self.n_products, self._sums, self._counts
        return Trace(
            bin_s=self.bin_s,
            end_s=self.env.now,
            state_time=sums["state"].reshape(self.n_bins, n_st, N_STATES),
            completed=counts["out"].astype(float).reshape(self.n_bins, n_p),
            released=counts["in"].astype(float).reshape(self.n_bins, n_p),
            cycle_sum=sums["cycle"].reshape(self.n_bins, n_p),
            wip_area=sums["wip"],
            queue_area=sums["queue"].reshape(self.n_bins, n_st),
            wait_sum=sums["wait"].reshape(self.n_bins, n_st),
            wait_n=counts["wait"].astype(float).reshape(self.n_bins, n_st),
            active=self._active,
            start_delays=np.concatenate(self._delays_before).reshape(-1, 2),
            last_end_s=self.last_end,
            wall_s=wall_s,
        )

    def _states(self, now: float | None, changes: np.ndarray, at: np.ndarray) -> None:
        """Time per (bin, station x state) and the stations' all-active periods, from the log of
        state changes: each change closes its cell's interval since the cell's previous change
        (in this slice, or carried from the slices before)."""
        log = changes.reshape(-1, 2)
        cell, new = log[:, 0], log[:, 1]
        n_cells = len(self.cell_state)
        station_of = np.array(self.cell_station, dtype=np.intp)
        init_state = np.array(self._init_state, dtype=np.intp)
        init_since = np.zeros(n_cells)
        init_since[:len(self._since)] = self._since
        # Each change's previous state and time: the cell's previous change (a stable sort by
        # cell keeps each cell's changes in log order), or its state carried into the slice.
        by_cell = np.argsort(cell.astype(_small_int(n_cells)), kind="stable")  # radix sort on 16 bits
        c_sorted = cell[by_cell]
        first = np.ones(c_sorted.size, dtype=bool)
        first[1:] = c_sorted[1:] != c_sorted[:-1]
        old = np.empty_like(new)
        since = np.empty_like(at)
        old[by_cell[1:]] = new[by_cell[:-1]]
        since[by_cell[1:]] = at[by_cell[:-1]]
        old[by_cell[first]] = init_state[c_sorted[first]]
        since[by_cell[first]] = init_since[c_sorted[first]]
        # Where each cell is at the slice's end: its last change (or as carried in), open until now.
        final_state, final_since = init_state.copy(), init_since
        last = np.ones(c_sorted.size, dtype=bool)
        last[:-1] = c_sorted[:-1] != c_sorted[1:]
        final_state[c_sorted[last]] = new[by_cell[last]]
        final_since[c_sorted[last]] = at[by_cell[last]]
        col = station_of[cell] * N_STATES + old
        mode = np.full(at.size, _STATE)
        if now is not None:  # the run's end: every cell's last interval closes too
            since = np.concatenate([since, final_since])
            at_end = np.concatenate([at, np.full(n_cells, now)])
            col = np.concatenate([col, station_of * N_STATES + final_state])
            mode = np.concatenate([mode, np.full(n_cells, _GENERAL)])
        else:
            at_end = at
        width = len(self.station_size) * N_STATES
        self._sums["state"] = _spread_all(since, at_end, col, None, mode, self.bin_s, self.n_bins, width,
                                          self._sums["state"])
        self._active_periods(station_of[cell], old, new, at, now is not None)
        self._init_state, self._since = final_state.tolist(), final_since.tolist()

    def _active_periods(self, station: np.ndarray, old: np.ndarray, new: np.ndarray,
                        at: np.ndarray, final: bool) -> None:
        """(station, start, end) of every period in which no cell of the station waited, in the
        order the periods ended (those still open at the end last, by station): a station's count
        of waiting cells, followed through the changes that switch a cell between active and not,
        from the count and open period carried from the slices before."""
        n_st = len(self.station_size)
        flips = np.flatnonzero(_ACTIVE[old] != _ACTIVE[new])
        st = station[flips]
        order = np.argsort(st.astype(_small_int(n_st)), kind="stable")
        st, at = st[order], at[flips][order]
        pos = flips[order]  # where in the log each flip happened
        delta = np.where(_ACTIVE[new[pos]], -1, 1)
        n = st.size
        idx = np.arange(n)
        group_first = np.ones(n, dtype=bool)
        group_first[1:] = st[1:] != st[:-1]
        head = np.maximum.accumulate(np.where(group_first, idx, 0))  # first flip of the station's group
        run = np.cumsum(delta)
        before = self._count[st] + (run - delta) - (run - delta)[head]
        starts = (before > 0) & (before + delta == 0)
        ends = (before == 0) & (delta > 0)
        last_start = np.maximum.accumulate(np.where(starts, idx, -1))
        opened = last_start >= head  # a start earlier in the same station's group, else one carried in
        began = np.where(opened, at[np.maximum(last_start, 0)], self._open_since[st])
        e = np.flatnonzero(ends)
        e = e[np.argsort(pos[e], kind="stable")]
        self._active += zip(st[e].tolist(), began[e].tolist(), at[e].tolist())
        self._count = self._count + np.bincount(st, weights=delta, minlength=n_st).astype(np.int64)
        if n:
            tail = np.ones(n, dtype=bool)
            tail[:-1] = group_first[1:]  # each station's last flip
            self._open_since[st[tail]] = began[tail]  # the last start at or before it (a start is its own), if any
        if final:  # stations active at the end: their period is open until now
            count, since = self._count, self._open_since
            self._active += [(s, float(since[s]), self.env.now) for s in range(n_st) if count[s] == 0]

    def _queues(self, final: bool, waits: np.ndarray) -> None:
        waits = waits.reshape(-1, 3)
        still = self._still if final else []
        log = np.concatenate([waits, np.array(still, dtype=float).reshape(-1, 3)])  # still waiting: after the waits, as told
        station, since, at = log[:, 0].astype(np.intp), log[:, 1], log[:, 2]
        counted = np.arange(station.size) < waits.shape[0]
        n_st = len(self.station_size)
        last = self.n_bins - 1
        b = np.minimum((at / self.bin_s).astype(np.int64), last)
        flat = b[counted] * n_st + station[counted]
        sums = self._sums
        sums["wait"] = _accumulate(sums["wait"], flat, (at - since)[counted])
        self._counts["wait"] += np.bincount(flat, minlength=self.n_bins * n_st)
        mode = np.where(counted, _QUEUE, _GENERAL)
        sums["queue"] = _spread_all(since, at, station, None, mode, self.bin_s, self.n_bins, n_st, sums["queue"])

    def _unit_records(self, now: float | None, units: np.ndarray) -> None:
        log = units.reshape(-1, 5)
        at, kind, product, floor_time, wip_before = log[:, 0], log[:, 1], log[:, 2].astype(np.intp), log[:, 3], log[:, 4]
        last = self.n_bins - 1
        n_p = self.n_products
        size = self.n_bins * n_p
        flat = np.minimum((at / self.bin_s).astype(np.int64), last) * n_p + product
        is_in, is_out = kind == _IN, kind == _OUT
        counts, sums = self._counts, self._sums
        counts["in"] += np.bincount(flat[is_in], minlength=size)
        counts["out"] += np.bincount(flat[is_out], minlength=size)
        sums["cycle"] = _accumulate(sums["cycle"], flat[is_out], floor_time[is_out])
        # WIP: between consecutive changes (from the last one of the slices before; at the run's
        # end, from the last one to now), the level before the change.
        t0 = np.concatenate([[self._wip_since], at])
        if now is not None:
            t1 = np.append(at, now)
            level = np.append(wip_before, float(self.wip))
        else:
            t0, t1, level = t0[:-1], at, wip_before
        if at.size:
            self._wip_since = float(at[-1])
        keep = (t1 > t0) & (level != 0)
        n = int(keep.sum())
        sums["wip"] = _spread_all(t0[keep], t1[keep], np.zeros(n, dtype=np.intp), level[keep],
                                  np.full(n, _GENERAL), self.bin_s, self.n_bins, 1, sums["wip"])


_CODES = {float: "d", np.intp: "n"}  # struct's native codes of the logs' dtypes (a C double; Py_ssize_t, numpy's intp)


def _read(log: list, dtype) -> np.ndarray:
    """A flat log as an array of `dtype`: struct packs each number straight into a buffer numpy
    reads as it is (PyFloat_AsDouble / PyNumber_AsSsize_t: the same values). np.fromiter went
    through numpy's per-item assignment, ~360 instructions a number (a week's replan reads ~1.1
    million: 4.5% of the run's instructions); np.array walks the list twice."""
    return np.frombuffer(struct.pack(f"{len(log)}{_CODES[dtype]}", *log), dtype)


def _accumulate(totals: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """totals plus the weights added into their indices one after another, in order: the running
    totals go in first as weights of their own, so each sum goes on from where the slice before
    left it (0.0 + total is the total) exactly as one bincount over every slice would."""
    size = totals.size
    return np.bincount(np.concatenate([np.arange(size), idx]), weights=np.concatenate([totals, weights]),
                       minlength=size)


def _small_int(n: int) -> type:
    """The narrowest integer type for values below n: numpy sorts 16-bit integers stably by radix."""
    return np.int16 if n <= np.iinfo(np.int16).max else np.int64


def _spread_all(t0: np.ndarray, t1: np.ndarray, col: np.ndarray, level: np.ndarray | None, mode: np.ndarray,
                bin_s: float, n_bins: int, width: int, totals: np.ndarray) -> np.ndarray:
    """`totals` (flat [bin x width] running sums) plus the sums of level x the time each interval [t0, t1) spends in each bin (level 1
    when None), into column `col`; intervals with t1 <= t0 add nothing. The same floats as adding
    interval after interval, piece by piece in time order, into running sums:

    - `_GENERAL`: from bin int(t0 / bin_s), pieces up to each edge (b + 1) x bin_s (counting
      bins, not dividing times: float edges never stall), the last piece to t1; a first edge
      that float rounding puts at or before t0 is skipped; everything from the last bin on
      goes into the last bin;
    - `_STATE`: t1 - t0 into its bin when both ends fall in the same bin, or split at b1 x bin_s
      when they fall in neighbouring bins (before the last); otherwise as `_GENERAL`;
    - `_QUEUE`: t1 - t0 into t1's bin (the last bin at most) when t0 falls in that bin; otherwise
      as `_GENERAL`.
    np.bincount adds its weights one after another in input order, so pieces are laid out in
    interval order, each interval's in time order."""
    last = n_bins - 1
    valid = t1 > t0
    b0 = (t0 / bin_s).astype(np.int64)
    b1 = (t1 / bin_s).astype(np.int64)
    state, queue = valid & (mode == _STATE), valid & (mode == _QUEUE)
    one = state & (b1 < n_bins) & (b0 == b1)
    two = state & (b1 < n_bins) & (b1 == b0 + 1)
    one_q = queue & (b0 == np.minimum(b1, last))
    general = valid & ~(one | two | one_q)
    g = np.flatnonzero(general)
    gt0, gt1, bs = t0[g], t1[g], b0[g]
    beyond = bs >= last
    skip = ~beyond & ((bs + 1) * bin_s <= gt0)
    first_b = np.minimum(np.where(beyond, last, bs + skip), last)
    # The piece that reaches t1: the first bin b from first_b whose edge (b + 1) x bin_s >= t1.
    stop = np.maximum(first_b, np.ceil(gt1 / bin_s).astype(np.int64) - 1)
    while True:
        down = (stop > first_b) & (stop * bin_s >= gt1)
        if not down.any():
            break
        stop[down] -= 1
    while True:
        up = (stop < last) & ((stop + 1) * bin_s < gt1)
        if not up.any():
            break
        stop[up] += 1
    end_b = np.minimum(stop, last)
    m = end_b - first_b + 1
    # Pieces per interval, laid out in interval order: piece k of an interval is bin first + k,
    # from t0 (k = 0) or the bin's start, to t1 (the last piece) or the bin's end.
    count = valid.astype(np.int64)
    count[two] = 2
    count[g] = m
    first = np.minimum(b1, last)  # one piece: t1's bin (the last bin at most)
    first[two] = b0[two]
    first[g] = first_b
    total = int(count.sum())
    start = np.cumsum(count) - count
    offset = np.arange(total) - np.repeat(start, count)
    rows = np.repeat(first, count) + offset
    lo = np.where(offset == 0, np.repeat(t0, count), rows * bin_s)
    hi = np.where(offset == np.repeat(count - 1, count), np.repeat(t1, count), (rows + 1) * bin_s)
    vals = hi - lo
    if level is not None:
        vals *= np.repeat(level, count)
    cols = np.repeat(col, count)
    return _accumulate(totals, rows * width + cols, vals)
