"""The observer bins its logs in slices (so memory stays bounded on long runs): any slicing,
down to a slice per call, gives the same Trace, bit for bit, as binning everything at the end."""
from pathlib import Path

import numpy as np
import pytest

from plant import load_spec
from sim import observer
from sim.observer import Observer
from sim.replication import RunConfig, run_replication
from test_twin_observer import _Clock, case, drive

LOOP = Path(__file__).resolve().parents[2] / "tests" / "specs" / "loop.yaml"
ARRAYS = ("state_time", "completed", "released", "cycle_sum", "wip_area", "queue_area", "wait_sum", "wait_n",
          "start_delays")


@pytest.mark.parametrize("seed", range(30))
def test_binning_in_slices_gives_the_same_trace_as_at_once(seed):
    rng, bin_s, sizes, n_products, times, end = case(seed)
    clocks = (_Clock(), _Clock())
    whole = Observer(clocks[0], end, bin_s, sizes, n_products)
    whole.slice_size = whole.chunk_size = 10 ** 9  # one slice, at close, its logs read then
    sliced = Observer(clocks[1], end, bin_s, sizes, n_products)
    sliced.slice_size = rng.choice((1, 2, 5, 17, 10 ** 9))  # checked at every unit moved
    sliced.chunk_size = rng.choice((1, 2, 3))  # logs read into arrays in between (one slice at close with 10 ** 9)
    slices = []

    def between():  # a slice between any two calls too, not only when a unit moves
        if rng.random() < 0.05:
            slices.append(len(sliced._changed_at))
            sliced._slice()

    def since(cell):  # the cell's last change (the unsliced observer keeps its whole log)
        changed = whole._changes[0::2]
        last = max((k for k, c in enumerate(changed) if c == cell), default=None)
        return 0.0 if last is None else whole._changed_at[last]

    drive(rng, (whole, sliced), clocks, sizes, n_products, times, since, more=True, between=between)
    expected, got = whole.close(0.0), sliced.close(0.0)
    assert slices
    for key in ARRAYS:
        a, b = getattr(expected, key), getattr(got, key)
        assert a.shape == b.shape and a.dtype == b.dtype, key
        assert np.array_equal(a, b), (key, np.abs(a - b).max())
    assert got.active == expected.active
    assert expected.state_time.sum() > 0 and expected.wait_n.sum() > 0 and len(expected.active) > 0


def test_a_floor_run_sliced_small_gives_the_same_trace(monkeypatch):
    """The floor's own calls, sliced every few unit moves, against one slice at the end."""
    spec = load_spec(str(LOOP))
    config = RunConfig(spec, end_s=3 * 86400, bin_s=3 * 86400 / 40, seed=3)
    traces, slices = [], []
    slice_ = Observer._slice

    def counted(self, now=None):
        slices.append(now)
        slice_(self, now)

    monkeypatch.setattr(Observer, "_slice", counted)
    counts = []
    for size, chunk in ((10 ** 9, 10 ** 9), (10, 10 ** 9), (10 ** 9, 5)):
        monkeypatch.setattr(observer, "SLICE", size)
        monkeypatch.setattr(observer, "CHUNK", chunk)
        slices.clear()
        traces.append(run_replication(config, 0))
        counts.append(len(slices))
    assert counts[1] > 10 and counts[2] == 1  # binned in many slices; then once, at close, its logs read in many chunks
    expected = traces[0]
    for got in traces[1:]:
        for key in ARRAYS:
            assert np.array_equal(getattr(expected, key), getattr(got, key)), key
        assert got.active == expected.active and expected.wait_n.sum() > 0
