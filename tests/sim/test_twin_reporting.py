"""What the twin reports, checked against exact results (issue #10 item 4): the starved/idle
split of waiting cells, WIP and cycle time when a full first buffer holds units back, and the
default warm-up cut on a queue that fills slowly."""
import math

import numpy as np
import pytest
from scipy.linalg import expm

from sim import Twin
from sim.report import summarize
from sim.statistics import mser_warmup, welch_warmup
from twin_cases import check_invariants, load_case, run


def test_waiting_cells_are_idle_exactly_while_the_floor_is_empty():
    # Jackson tandem: P(floor empty) = (1 - 6/10)(1 - 6/12) = 0.2 for both cells. A cell that
    # starts waiting while units are on the floor must turn idle when the floor empties (and back).
    spec = load_case("tandem")
    report = run(spec, weeks=6, warmup_h=10, replications=10, seed=11)
    exact = {"first": {"busy": 0.6, "idle": 0.2, "starved": 0.2}, "second": {"busy": 0.5, "idle": 0.2, "starved": 0.3}}
    for cell_type, shares in exact.items():
        for state, value in shares.items():
            interval = report.time_share_ci[cell_type][state]
            assert interval.contains(value), (cell_type, state, interval)
            assert interval.half_width < 0.02  # tight enough to tell 0.2 from 0 or 0.4
        assert report.time_share_ci[cell_type]["blocked"].mean == 0


def test_units_held_back_by_a_full_first_buffer_wait_off_the_floor():
    # M/M/1 (10/h into 12/h) whose station holds 2 units (1 buffer place + the cell); arrivals
    # beyond wait off the floor in order. The number on the floor is min(N, 2) for the M/M/1
    # count N: L = r + r^2, and by Little's law the time on the floor is L / lambda.
    spec = load_case("mm1", **{"cell_types[0].buffer": 1})
    report = run(spec, weeks=8, warmup_h=20, replications=10, seed=12)
    r = 10 / 12
    assert report.wip.contains(r + r * r), report.wip  # the backlog (M/M/1 L = 5) is not WIP
    assert report.cycle_time_h["job"].contains((r + r * r) / 10), report.cycle_time_h["job"]
    assert report.queues["server"]["lq"].contains(r * r), report.queues["server"]["lq"]  # one place waits


def _mm2_filling_from_empty(lam: float, hours: np.ndarray, states: int = 600) -> np.ndarray:
    """Exact mean number in an M/M/2 (service rate 1/h) that starts empty, from the transient
    solution of its birth-death chain (truncated far beyond where any mass reaches)."""
    q = np.zeros((states, states))
    for n in range(states):
        if n + 1 < states:
            q[n, n + 1] = lam
        if n > 0:
            q[n, n - 1] = min(n, 2)
        q[n, n] = -q[n].sum()
    p0 = np.zeros(states)
    p0[0] = 1.0
    return np.array([(p0 @ expm(q * t)) @ np.arange(states) for t in hours])


def test_default_warmup_sees_an_mm2_queue_filling():
    # M/M/2 at rho = 0.9 (lambda 1.8/h, mu 1/h): L = 9.4737. Started empty, the queue needs
    # about 100 h to fill while output equals arrivals from the first hour, so a cut read from
    # output deleted one 7.4 h bin. The default cut must lie where the exact filling curve has
    # reached most of L, and the interval must hold the exact value.
    spec = load_case("mmc", **{"cells[0].count": 2, "release.units_per_hour": 1.8})
    twin = Twin(spec, weeks=4, replications=100, seed=1)
    traces = twin.traces(twin.config())
    report = summarize(traces, spec, twin.layout, mode="policy:fifo", seed=1, warmup_s=None)
    check_invariants(report, spec)
    r, rho = 1.8, 0.9
    p0 = 1 / (1 + r + r * r / (2 * (1 - rho)))
    lq = r * r * rho * p0 / (2 * (1 - rho) ** 2)
    assert report.warmup_method == "mser5-wip"
    filled = _mm2_filling_from_empty(1.8, np.array([report.warmup_h]))[0]
    assert filled >= 0.7 * (lq + r), f"cut at {report.warmup_h:.0f} h, when the exact mean is only {filled:.2f} of {lq + r:.2f}"
    assert report.wip.contains(lq + r), report.wip
    assert report.queues["server"]["lq"].contains(lq), report.queues["server"]["lq"]
    # Output alone (the old default) cuts while the queue is still far from full.
    by_output = welch_warmup(np.stack([t.completed.sum(1) for t in traces]))[0] * traces[0].bin_s / 3600
    assert _mm2_filling_from_empty(1.8, np.array([by_output]))[0] < 0.7 * (lq + r)
    assert report.warmup_h > by_output


def test_mser_cut_on_a_series_with_a_known_step():
    rng = np.random.default_rng(3)
    series = rng.normal(10.0, 1.0, size=(20, 250))
    series[:, :40] -= 8.0  # 40 bins far below the level: all of them must go, and little more
    cut, capped = mser_warmup(series)
    assert 40 <= cut <= 45 and not capped
    flat, capped = mser_warmup(rng.normal(10.0, 1.0, size=(20, 250)))
    assert flat <= 25 and not capped
    assert mser_warmup(np.linspace(0, 1, 250)[None, :])[1]  # still rising at mid-run: capped


def test_summaries_keep_the_configured_warmup():
    spec = load_case("mm1")
    twin = Twin(spec, weeks=1, warmup_h=5, replications=2, seed=0)
    traces = twin.traces(twin.config())
    report = summarize(traces, spec, twin.layout, mode="policy:fifo", seed=0, warmup_s=5 * 3600)
    assert report.warmup_method == "configured"
    assert math.isclose(report.warmup_h, math.ceil(5 * 3600 / traces[0].bin_s) * traces[0].bin_s / 3600)
