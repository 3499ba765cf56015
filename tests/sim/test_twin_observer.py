"""The observer logs during the run and bins at the end (numpy); its arrays must be the ones a
running sum per bin gives, bit for bit: the sequential reference below is the observer as it
was before (every change added into its bins as it happened). Random call sequences, with
times put on bin edges and on floats next to them, where rounding decides the bin."""
import math
import random

import numpy as np
import pytest

from sim.observer import ACTIVE, BLOCKED, BUSY, DOWN, IDLE, N_STATES, STARVED, Observer


class _Clock:
    """A SimPy clock as the observer reads it."""

    _now = 0

    @property
    def now(self):
        return self._now


class _Reference:
    """Running sums per bin, updated at every call (the former sim.observer.Observer)."""

    def __init__(self, env, end_s, bin_s, sizes, n_products):
        self.env, self.bin_s = env, bin_s
        self.n_bins = max(1, int(math.ceil(end_s / bin_s - 1e-9)))
        n_st = len(sizes)
        self.state_time = [[0.0] * (n_st * N_STATES) for _ in range(self.n_bins)]
        self.cell_state, self.cell_since, self.cell_station = [], [], []
        self.inactive, self.active_since, self.active = list(sizes), [math.nan] * n_st, []
        self.completed = [[0] * n_products for _ in range(self.n_bins)]
        self.released = [[0] * n_products for _ in range(self.n_bins)]
        self.cycle_sum = [[0.0] * n_products for _ in range(self.n_bins)]
        self.wip, self.wip_since = 0, 0.0
        self.wip_rows = [[0.0] for _ in range(self.n_bins)]
        self.queue_area = [[0.0] * n_st for _ in range(self.n_bins)]
        self.wait_sum = [[0.0] * n_st for _ in range(self.n_bins)]
        self.wait_n = [[0] * n_st for _ in range(self.n_bins)]

    def add_cell(self, station, state):
        self.cell_state.append(state)
        self.cell_since.append(0.0)
        self.cell_station.append(station)
        if ACTIVE[state]:
            self._activity(station, -1, 0.0)
        return len(self.cell_state) - 1

    def _bin(self, t):
        return min(int(t / self.bin_s), self.n_bins - 1)

    def _spread(self, rows, col, t0, t1, level):
        bin_s, last = self.bin_s, self.n_bins - 1
        b = int(t0 / bin_s)
        while t0 < t1:
            if b >= last:
                rows[last][col] += level * (t1 - t0)
                return
            edge = (b + 1) * bin_s
            if edge > t1:
                edge = t1
            if edge > t0:
                rows[b][col] += level * (edge - t0)
                t0 = edge
            b += 1

    def state(self, cell, state, at=None):
        old = self.cell_state[cell]
        if old == state:
            return
        now = self.env.now if at is None else at
        station, since = self.cell_station[cell], self.cell_since[cell]
        if now > since:
            b0, b1 = int(since / self.bin_s), int(now / self.bin_s)
            col = station * N_STATES + old
            if b1 < self.n_bins and b0 == b1:
                self.state_time[b1][col] += now - since
            elif b1 < self.n_bins and b1 == b0 + 1:
                edge = b1 * self.bin_s
                self.state_time[b0][col] += edge - since
                self.state_time[b1][col] += now - edge
            else:
                self._spread(self.state_time, col, since, now, 1.0)
        self.cell_state[cell], self.cell_since[cell] = state, now
        if ACTIVE[old] != ACTIVE[state]:
            self._activity(station, -1 if ACTIVE[state] else 1, now)

    def _activity(self, station, delta, now):
        before = self.inactive[station]
        self.inactive[station] = before + delta
        if before > 0 and before + delta == 0:
            self.active_since[station] = now
        elif before == 0 and delta > 0:
            self.active.append((station, self.active_since[station], now))

    def wip_change(self, delta):
        now = self.env.now
        if now > self.wip_since and self.wip:
            self._spread(self.wip_rows, 0, self.wip_since, now, float(self.wip))
        self.wip_since = now
        before = self.wip
        self.wip += delta
        if (before == 0) != (self.wip == 0):
            old, new = (STARVED, IDLE) if self.wip == 0 else (IDLE, STARVED)
            for cell in range(len(self.cell_state)):
                if self.cell_state[cell] == old:
                    self.state(cell, new, now)

    def released_unit(self, product):
        self.released[self._bin(self.env.now)][product] += 1
        self.wip_change(1)

    def finished_unit(self, product, floor_time):
        b = self._bin(self.env.now)
        self.completed[b][product] += 1
        self.cycle_sum[b][product] += floor_time
        self.wip_change(-1)

    def waited(self, station, since):
        now = self.env.now
        b = self._bin(now)
        self.wait_sum[b][station] += now - since
        self.wait_n[b][station] += 1
        if now > since:
            if int(since / self.bin_s) == b:
                self.queue_area[b][station] += now - since
            else:
                self._spread(self.queue_area, station, since, now, 1.0)

    def still_waiting(self, station, since):
        if self.env.now > since:
            self._spread(self.queue_area, station, since, self.env.now, 1.0)

    def close(self):
        now = self.env.now
        for cell, state in enumerate(self.cell_state):
            if now > self.cell_since[cell]:
                self._spread(self.state_time, self.cell_station[cell] * N_STATES + state, self.cell_since[cell], now, 1.0)
        for st, since in enumerate(self.active_since):
            if self.inactive[st] == 0:
                self.active.append((st, since, now))
        if now > self.wip_since and self.wip:
            self._spread(self.wip_rows, 0, self.wip_since, now, float(self.wip))
        n_st = len(self.inactive)
        return {
            "state_time": np.array(self.state_time).reshape(self.n_bins, n_st, N_STATES),
            "completed": np.array(self.completed, dtype=float), "released": np.array(self.released, dtype=float),
            "cycle_sum": np.array(self.cycle_sum), "wip_area": np.array(self.wip_rows)[:, 0],
            "queue_area": np.array(self.queue_area), "wait_sum": np.array(self.wait_sum),
            "wait_n": np.array(self.wait_n, dtype=float), "active": self.active,
        }


def _times(rng: random.Random, bin_s: float, n_bins: int, count: int) -> list[float]:
    """Increasing times, many of them on a bin edge or one float step either side of it."""
    t, out = 0.0, []
    for _ in range(count):
        r = rng.random()
        if r < 0.3:
            t += rng.expovariate(1 / (bin_s / 20))
        elif r < 0.35:
            t += rng.uniform(0, 4 * bin_s)  # across several bins
        else:
            edge = (int(t / bin_s) + rng.choice((1, 1, 2))) * bin_s
            t = max(t, rng.choice((edge, math.nextafter(edge, 0), math.nextafter(edge, math.inf), (int(t / bin_s) + 1) * bin_s)))
        out.append(t)
    return out


def case(seed: int) -> tuple:
    """A random case: (rng, bin width, cells per station, products, call times, end of the run)."""
    rng = random.Random(seed)
    bin_s = rng.choice((3600.0, 0.1, 1 / 3, 7.3, 1e-3 * math.pi))
    n_bins = rng.choice((1, 2, 7, 40))
    sizes = [rng.randint(1, 3) for _ in range(rng.randint(1, 4))]
    times = _times(rng, bin_s, n_bins, 400)
    end = times[-1] * rng.choice((0.5, 1.0, 1.5))  # runs past the last bin too: it collects the rest
    return rng, bin_s, sizes, 3, times, end


def drive(rng: random.Random, observers: tuple, clocks: tuple, sizes: list[int], n_products: int,
          times: list[float], since, more: bool = False, between=None) -> None:
    """The same random calls to every observer, one per time in `times`, then those still
    waiting: cells added, state changes (some told afterwards, from `since(cell)` on), waits,
    units released and finished; `more`: also WIP moves and start delays; `between()` after
    each call."""
    first_obs = observers[0]
    cells = []
    for station, size in enumerate(sizes):
        for _ in range(size):
            first = rng.choice((STARVED, STARVED, BUSY))
            ids = {o.add_cell(station, first) for o in observers}
            assert len(ids) == 1
            cells.append(ids.pop())
    since_of: list[tuple[int, float]] = []
    for now in times:
        for clock in clocks:
            clock._now = now
        r = rng.random()
        if r < 0.45:
            cell = rng.choice(cells)
            state = rng.choice((BUSY, BUSY, STARVED, IDLE, BLOCKED, DOWN))
            at = None
            if ACTIVE[state] and ACTIVE[first_obs.cell_state[cell]] and rng.random() < 0.3:
                at = rng.uniform(since(cell), now)  # told afterwards, as the floor does for work worked out ahead
            for o in observers:
                o.state(cell, state, at)
        elif r < 0.7:
            station = rng.randrange(len(sizes))
            since_q = rng.choice([t for t in times if t <= now][-30:] + [now])
            if rng.random() < 0.8:
                for o in observers:
                    o.waited(station, since_q)
                    if more:
                        o.start_delay(since_q, now - since_q)
            else:
                since_of.append((station, since_q))
        elif r < 0.85 or first_obs.wip == 0:
            product = rng.randrange(n_products)
            for o in observers:
                o.released_unit(product)
        elif more and rng.random() < 0.4:
            delta = rng.choice((-1, 1)) if first_obs.wip > 1 else 1
            for o in observers:
                o.wip_change(delta)
        else:
            product, floor_time = rng.randrange(n_products), rng.uniform(0, 3 * first_obs.bin_s)
            for o in observers:
                o.finished_unit(product, floor_time)
        if between is not None:
            between()
    for station, since_q in since_of:
        for o in observers:
            o.still_waiting(station, since_q)


@pytest.mark.parametrize("seed", range(40))
def test_binning_at_the_end_gives_the_running_sums_bit_for_bit(seed):
    rng, bin_s, sizes, n_products, times, end = case(seed)
    clocks = (_Clock(), _Clock())
    new = Observer(clocks[0], end, bin_s, sizes, n_products)
    ref = _Reference(clocks[1], end, bin_s, sizes, n_products)
    drive(rng, (new, ref), clocks, sizes, n_products, times, lambda cell: ref.cell_since[cell])
    trace, expected = new.close(0.0), ref.close()
    for key, value in expected.items():
        got = getattr(trace, key)
        if key == "active":
            assert got == value
        else:
            assert got.shape == value.shape and got.dtype == value.dtype, key
            assert np.array_equal(got, value), (key, np.abs(got - value).max())
    assert trace.state_time.sum() > 0 and trace.wait_n.sum() > 0


@pytest.mark.parametrize("seed", range(10))
def test_a_start_told_in_one_call_logs_what_its_three_calls_log(seed):
    # Observer.started(cell, station, since, planned) = waited + state(cell, BUSY) + start_delay,
    # and Observer.states(cell, changes) = state(cell, s, at) for each, among other calls: the
    # same Trace, bit for bit (a cell already in the state stays so, unlogged).
    rng = random.Random(seed)
    bin_s, sizes = 60.0, [2, 1, 3]
    clocks = (_Clock(), _Clock())
    one, three = (Observer(clock, 900.0, bin_s, sizes, 2) for clock in clocks)
    cells = [[o.add_cell(station, STARVED) for station, size in enumerate(sizes) for _ in range(size)] for o in (one, three)][0]
    station_of = [station for station, size in enumerate(sizes) for _ in range(size)]
    for now in _times(rng, bin_s, 15, 300):
        for clock in clocks:
            clock._now = now
        cell = rng.choice(cells)
        if rng.random() < 0.5:
            since = rng.uniform(max(0.0, now - 200), now)
            planned = rng.choice((None, now - rng.uniform(0, 50), now + rng.uniform(0, 50)))
            one.started(cell, station_of[cell], since, planned)
            three.waited(station_of[cell], since)
            three.state(cell, BUSY)
            if planned is not None:
                three.start_delay(planned, now - planned)
        elif rng.random() < 0.5 and ACTIVE[three.cell_state[cell]]:
            # Changes worked out ahead, told together (Floor._told): active states since the last change.
            last = max([t for c, t in zip(three._changes[::2], three._changed_at) if c == cell], default=0.0)
            times = sorted(rng.uniform(last, now) for _ in range(rng.randint(0, 4)))
            changes = [(rng.choice((BUSY, DOWN, BUSY)), t) for t in times]
            one.states(cell, changes)
            for state, t in changes:
                three.state(cell, state, t)
        else:
            state = rng.choice((BUSY, STARVED, IDLE, BLOCKED, DOWN))
            for o in (one, three):
                o.state(cell, state)
    a, b = one.close(0.0), three.close(0.0)
    for key in ("state_time", "queue_area", "wait_sum", "wait_n", "start_delays"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert a.active == b.active and a.start_delays.size > 0
