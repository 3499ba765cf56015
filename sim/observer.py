"""The thin observer the floor model calls at state changes. It keeps everything in time bins
(so the warm-up can be cut after the run, by Welch's method or a configured length) and hands
back plain arrays: a `Trace` per replication."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Cell states; a slot of a multi-job cell (a burn-in bay holds 24 racks) counts as one cell.
BUSY, SETUP, BLOCKED, STARVED, IDLE, DOWN, OFF = range(7)
STATES = ("busy", "setup", "blocked", "starved", "idle", "down", "off")
N_STATES = len(STATES)
# Roser's active states: the cell is the one holding the flow back (working, changing over, in
# repair or planned maintenance). Waiting for work or for room downstream is inactive.
ACTIVE = (True, True, False, False, False, True, True)


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
    __slots__ = ("env", "bin_s", "n_bins", "state_time", "cell_state", "cell_since", "cell_station", "inactive",
                 "station_size", "active_since", "active", "completed", "released", "cycle_sum", "wip", "wip_since",
                 "_wip_rows", "queue_area", "wait_sum", "wait_n", "delays", "last_end")

    def __init__(self, env, end_s: float, bin_s: float, station_sizes: list[int], n_products: int) -> None:
        self.env = env
        self.bin_s = bin_s
        self.n_bins = max(1, int(math.ceil(end_s / bin_s - 1e-9)))
        n_st = len(station_sizes)
        self.state_time = [[0.0] * (n_st * N_STATES) for _ in range(self.n_bins)]
        self.cell_state: list[int] = []
        self.cell_since: list[float] = []
        self.cell_station: list[int] = []
        self.station_size = list(station_sizes)
        self.inactive = list(station_sizes)  # every cell starts waiting
        self.active_since = [math.nan] * n_st
        self.active: list[tuple[int, float, float]] = []
        self.completed = [[0] * n_products for _ in range(self.n_bins)]
        self.released = [[0] * n_products for _ in range(self.n_bins)]
        self.cycle_sum = [[0.0] * n_products for _ in range(self.n_bins)]
        self.wip = 0
        self.wip_since = 0.0
        self._wip_rows = [[0.0] for _ in range(self.n_bins)]
        self.queue_area = [[0.0] * n_st for _ in range(self.n_bins)]
        self.wait_sum = [[0.0] * n_st for _ in range(self.n_bins)]
        self.wait_n = [[0] * n_st for _ in range(self.n_bins)]
        self.delays: list[float] = []  # planned start, delay, planned start, delay, ... (flat: one array at the end)
        self.last_end = 0.0

    def add_cell(self, station: int, state: int) -> int:
        self.cell_state.append(state)
        self.cell_since.append(0.0)
        self.cell_station.append(station)
        if ACTIVE[state]:
            self._activity(station, -1, 0.0)
        return len(self.cell_state) - 1

    def _bin(self, t: float) -> int:
        b = int(t / self.bin_s)
        return b if b < self.n_bins else self.n_bins - 1

    def _spread(self, rows: list, col: int, t0: float, t1: float, level: float) -> None:
        """Add level x time over [t0, t1) into the bins it spans."""
        bin_s, last = self.bin_s, self.n_bins - 1
        b = int(t0 / bin_s)
        while t0 < t1:
            if b >= last:
                rows[last][col] += level * (t1 - t0)
                return
            edge = (b + 1) * bin_s  # counting bins, not dividing times: float edges never stall
            if edge > t1:
                edge = t1
            if edge > t0:
                rows[b][col] += level * (edge - t0)
                t0 = edge
            b += 1

    def state(self, cell: int, state: int, at: float | None = None) -> None:
        """The cell enters `state` now (or at `at`, a moment since its last change, when the
        change does not alter whether the cell is active)."""
        old = self.cell_state[cell]
        if old == state:
            return
        now = self.env.now if at is None else at
        station = self.cell_station[cell]
        since = self.cell_since[cell]
        if now > since:
            b0 = int(since / self.bin_s)
            b1 = int(now / self.bin_s)
            col = station * N_STATES + old
            if b1 < self.n_bins and b0 == b1:
                self.state_time[b1][col] += now - since
            elif b1 < self.n_bins and b1 == b0 + 1:  # one bin edge crossed: split there
                edge = b1 * self.bin_s
                self.state_time[b0][col] += edge - since
                self.state_time[b1][col] += now - edge
            else:
                self._spread(self.state_time, col, since, now, 1.0)
        self.cell_state[cell] = state
        self.cell_since[cell] = now
        if ACTIVE[old] != ACTIVE[state]:
            self._activity(station, -1 if ACTIVE[state] else 1, now)

    def _activity(self, station: int, delta: int, now: float) -> None:
        before = self.inactive[station]
        self.inactive[station] = before + delta
        if before > 0 and before + delta == 0:
            self.active_since[station] = now
        elif before == 0 and delta > 0:
            self.active.append((station, self.active_since[station], now))

    def wip_change(self, delta: int) -> None:
        now = self.env.now
        self._wip_spread(now)
        before = self.wip
        self.wip += delta
        if (before == 0) != (self.wip == 0):
            self._waiting_cells_follow(now)

    def _waiting_cells_follow(self, now: float) -> None:
        """The floor just emptied or got its first unit: every waiting cell changes between
        starved (units on the floor) and idle (none) now, not only when it next starts waiting.
        Rare on a loaded floor (its WIP seldom reaches zero), so a scan over the cells is cheap."""
        old, new = (STARVED, IDLE) if self.wip == 0 else (IDLE, STARVED)
        states = self.cell_state
        for cell in range(len(states)):
            if states[cell] == old:
                self.state(cell, new, now)

    def _wip_spread(self, now: float) -> None:
        if now > self.wip_since and self.wip:
            self._spread(self._wip_rows, 0, self.wip_since, now, float(self.wip))
        self.wip_since = now

    def released_unit(self, product: int) -> None:
        self.released[self._bin(self.env.now)][product] += 1
        self.wip_change(1)

    def finished_unit(self, product: int, floor_time: float) -> None:
        b = self._bin(self.env.now)
        self.completed[b][product] += 1
        self.cycle_sum[b][product] += floor_time
        self.last_end = self.env.now
        self.wip_change(-1)

    def waited(self, station: int, since: float) -> None:
        """An operation leaves the queue for a cell. Its wait [since, now) is also its share of
        the queue-length integral, so the queue needs no bookkeeping of its own (Lq = lambda Wq
        holds by construction, bin by bin)."""
        now = self.env.now
        b = int(now / self.bin_s)
        if b >= self.n_bins:
            b = self.n_bins - 1
        self.wait_sum[b][station] += now - since
        self.wait_n[b][station] += 1
        if now > since:
            if int(since / self.bin_s) == b:
                self.queue_area[b][station] += now - since
            else:
                self._spread(self.queue_area, station, since, now, 1.0)

    def still_waiting(self, station: int, since: float) -> None:
        """At the end of the run: an operation still queued adds its wait so far to the queue."""
        if self.env.now > since:
            self._spread(self.queue_area, station, since, self.env.now, 1.0)

    def start_delay(self, planned: float, delay: float) -> None:
        self.delays += (planned, delay)

    def close(self, wall_s: float) -> Trace:
        """Flush open intervals up to now and return the arrays."""
        now = self.env.now
        for cell, state in enumerate(self.cell_state):
            since = self.cell_since[cell]
            if now > since:
                self._spread(self.state_time, self.cell_station[cell] * N_STATES + state, since, now, 1.0)
            self.cell_since[cell] = now
        for st, since in enumerate(self.active_since):
            if self.inactive[st] == 0:
                self.active.append((st, since, now))
        self._wip_spread(now)
        n_st = len(self.station_size)
        return Trace(
            bin_s=self.bin_s,
            end_s=now,
            state_time=np.array(self.state_time).reshape(self.n_bins, n_st, N_STATES),
            completed=np.array(self.completed, dtype=float),
            released=np.array(self.released, dtype=float),
            cycle_sum=np.array(self.cycle_sum),
            wip_area=np.array(self._wip_rows)[:, 0],
            queue_area=np.array(self.queue_area),
            wait_sum=np.array(self.wait_sum),
            wait_n=np.array(self.wait_n, dtype=float),
            active=self.active,
            start_delays=np.array(self.delays, dtype=float).reshape(-1, 2),
            last_end_s=self.last_end,
            wall_s=wall_s,
        )
