"""The observer bins its logs in slices (so memory stays bounded on long runs): any slicing,
down to a slice per call, gives the same Trace, bit for bit, as binning everything at the end."""
import math
import random

import numpy as np
import pytest

from sim.observer import ACTIVE, BLOCKED, BUSY, DOWN, IDLE, STARVED, Observer
from test_twin_observer import _Clock, _times

ARRAYS = ("state_time", "completed", "released", "cycle_sum", "wip_area", "queue_area", "wait_sum", "wait_n",
          "start_delays")


@pytest.mark.parametrize("seed", range(30))
def test_binning_in_slices_gives_the_same_trace_as_at_once(seed):
    rng = random.Random(seed)
    bin_s = rng.choice((3600.0, 0.1, 1 / 3, 7.3, 1e-3 * math.pi))
    n_bins = rng.choice((1, 2, 7, 40))
    sizes = [rng.randint(1, 3) for _ in range(rng.randint(1, 4))]
    n_products = 3
    times = _times(rng, bin_s, n_bins, 400)
    end = times[-1] * rng.choice((0.5, 1.0, 1.5))  # runs past the last bin too
    clocks = (_Clock(), _Clock())
    whole = Observer(clocks[0], end, bin_s, sizes, n_products)
    whole.slice_size = 10 ** 9  # one slice, at close
    sliced = Observer(clocks[1], end, bin_s, sizes, n_products)
    sliced.slice_size = rng.choice((1, 2, 5, 17))  # checked at every unit moved
    both = (whole, sliced)
    cells = []
    for station, size in enumerate(sizes):
        for _ in range(size):
            first = rng.choice((STARVED, STARVED, BUSY))
            ids = {o.add_cell(station, first) for o in both}
            cells.append(ids.pop())
    since_of = []
    last_change = [0.0] * len(cells)
    slices = 0
    for now in times:
        for clock in clocks:
            clock._now = now
        r = rng.random()
        if r < 0.4:
            cell = rng.choice(cells)
            state = rng.choice((BUSY, BUSY, STARVED, IDLE, BLOCKED, DOWN))
            at = None
            if ACTIVE[state] and ACTIVE[whole.cell_state[cell]] and rng.random() < 0.3:
                at = rng.uniform(last_change[cell], now)  # told afterwards, as the floor does for work worked out ahead
            if whole.cell_state[cell] != state:
                last_change[cell] = now if at is None else at
            for o in both:
                o.state(cell, state, at)
        elif r < 0.6:
            station = rng.randrange(len(sizes))
            since = rng.choice([t for t in times if t <= now][-30:] + [now])
            if rng.random() < 0.8:
                for o in both:
                    o.waited(station, since)
                    o.start_delay(since, now - since)
            else:
                since_of.append((station, since))
        elif r < 0.75 or whole.wip == 0:
            product = rng.randrange(n_products)
            for o in both:
                o.released_unit(product)
        elif r < 0.85:
            delta = rng.choice((-1, 1)) if whole.wip > 1 else 1
            for o in both:
                o.wip_change(delta)
        else:
            product, floor_time = rng.randrange(n_products), rng.uniform(0, 3 * bin_s)
            for o in both:
                o.finished_unit(product, floor_time)
        if rng.random() < 0.05:  # a slice between any two calls, not only when a unit moves
            sliced._slice()
            slices += 1
    for station, since in since_of:
        for o in both:
            o.still_waiting(station, since)
    expected, got = whole.close(0.0), sliced.close(0.0)
    assert slices > 0
    for key in ARRAYS:
        a, b = getattr(expected, key), getattr(got, key)
        assert a.shape == b.shape and a.dtype == b.dtype, key
        assert np.array_equal(a, b), (key, np.abs(a - b).max())
    assert got.active == expected.active
    assert expected.state_time.sum() > 0 and expected.wait_n.sum() > 0 and len(expected.active) > 0


def test_a_floor_run_sliced_small_gives_the_same_trace(monkeypatch):
    """The floor's own calls, sliced every few unit moves, against one slice at the end."""
    from pathlib import Path

    from plant import load_spec
    from sim import observer
    from sim.replication import RunConfig, run_replication

    spec = load_spec(str(Path(__file__).resolve().parents[2] / "tests" / "specs" / "loop.yaml"))
    config = RunConfig(spec, end_s=3 * 86400, bin_s=3 * 86400 / 40, seed=3)
    traces, slices = [], []
    slice_ = Observer._slice

    def counted(self, now=None):
        slices.append(now)
        slice_(self, now)

    monkeypatch.setattr(Observer, "_slice", counted)
    for size in (10 ** 9, 10):
        monkeypatch.setattr(observer, "SLICE", size)
        slices.clear()
        traces.append(run_replication(config, 0))
    assert len(slices) > 10  # the run was binned in many slices, not only at close
    expected, got = traces
    for key in ARRAYS:
        assert np.array_equal(getattr(expected, key), getattr(got, key)), key
    assert got.active == expected.active and expected.wait_n.sum() > 0
