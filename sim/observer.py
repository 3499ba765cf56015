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
    wall_s: float = 0.0


class Observer:
    __slots__ = ("env", "bin_s", "n_bins", "state_time", "cell_state", "cell_since", "cell_station", "inactive",
                 "station_size", "active_since", "active", "completed", "released", "cycle_sum", "wip", "wip_since",
                 "wip_area", "queue_len", "queue_since", "queue_area", "wait_sum", "wait_n", "delays", "last_end")

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
        self.wip_area = [0.0] * self.n_bins
        self.queue_len = [0] * n_st
        self.queue_since = [0.0] * n_st
        self.queue_area = [[0.0] * n_st for _ in range(self.n_bins)]
        self.wait_sum = [[0.0] * n_st for _ in range(self.n_bins)]
        self.wait_n = [[0] * n_st for _ in range(self.n_bins)]
        self.delays: list[tuple[float, float]] = []
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
        bin_s = self.bin_s
        while t0 < t1:
            b = int(t0 / bin_s)
            if b >= self.n_bins:
                b = self.n_bins - 1
                rows[b][col] += level * (t1 - t0)
                return
            edge = (b + 1) * bin_s
            if edge > t1:
                edge = t1
            rows[b][col] += level * (edge - t0)
            t0 = edge

    def state(self, cell: int, state: int) -> None:
        old = self.cell_state[cell]
        if old == state:
            return
        now = self.env.now
        station = self.cell_station[cell]
        since = self.cell_since[cell]
        if now > since:
            if int(since / self.bin_s) == int(now / self.bin_s) and now < self.n_bins * self.bin_s:
                self.state_time[int(now / self.bin_s)][station * N_STATES + old] += now - since
            else:
                self._spread(self.state_time, station * N_STATES + old, since, now, 1.0)
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
        self.wip += delta

    def _wip_spread(self, now: float) -> None:
        t0, level, bin_s = self.wip_since, float(self.wip), self.bin_s
        area = self.wip_area
        while t0 < now:
            b = int(t0 / bin_s)
            if b >= self.n_bins:
                area[-1] += level * (now - t0)
                break
            edge = min((b + 1) * bin_s, now)
            area[b] += level * (edge - t0)
            t0 = edge
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

    def queue_change(self, station: int, delta: int) -> None:
        now = self.env.now
        since = self.queue_since[station]
        if now > since and self.queue_len[station]:
            self._spread(self.queue_area, station, since, now, float(self.queue_len[station]))
        self.queue_since[station] = now
        self.queue_len[station] += delta

    def waited(self, station: int, wait: float) -> None:
        b = self._bin(self.env.now)
        self.wait_sum[b][station] += wait
        self.wait_n[b][station] += 1

    def start_delay(self, planned: float, delay: float) -> None:
        self.delays.append((planned, delay))

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
        for st in range(len(self.queue_len)):
            self.queue_change(st, 0)
        n_st = len(self.queue_len)
        return Trace(
            bin_s=self.bin_s,
            end_s=now,
            state_time=np.array(self.state_time).reshape(self.n_bins, n_st, N_STATES),
            completed=np.array(self.completed, dtype=float),
            released=np.array(self.released, dtype=float),
            cycle_sum=np.array(self.cycle_sum),
            wip_area=np.array(self.wip_area),
            queue_area=np.array(self.queue_area),
            wait_sum=np.array(self.wait_sum),
            wait_n=np.array(self.wait_n, dtype=float),
            active=self.active,
            start_delays=np.array(self.delays).reshape(-1, 2),
            last_end_s=self.last_end,
            wall_s=wall_s,
        )
