"""A re-plan at the edges of its numbers: the move test compares as Python does at any size,
times past int64 and plans not in whole seconds end in a ValueError naming the field (the
controller logs a failed re-plan, it never stops), not an OverflowError."""
from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest

from scheduler.control import snapshot

H = 3600


@pytest.mark.parametrize("gain", [0.0, 1800.0, 0.5, 600, 2**60, 1e300])
def test_the_move_test_compares_as_python_does(gain):
    """at + gain <= current, exactly as the Python ints and float compare: around 2**53 and 2**62,
    where float64 has no room for the ints (numpy's compare alone differs there)."""
    rng = random.Random(7)
    at, current = [], []
    for base in (0, 10**6, 2**53, 2**62, 2**63 - 2**11):
        for _ in range(200):
            a = base + rng.randrange(-(2**12), 2**12) if base else rng.randrange(0, 10**5)
            a = min(max(a, 0), 2**63 - 1)
            at.append(a)
            current.append(min(max(a + rng.choice((-1, 0, 1)) * rng.randrange(0, 4000) + int(gain if gain < 2**62 else 0), 0), 2**63 - 1))
    candidates = np.arange(0, len(at), 2, dtype=np.int64)
    got = snapshot._sooner(candidates, np.array(at, np.int64), np.array(current, np.int64), gain).tolist()
    assert got == [k for k in candidates.tolist() if at[k] + gain <= current[k]]
    assert 0 < len(got) < len(candidates) or gain == 1e300


def _a_replan_state():
    """A controller at its fourth re-plan on the pipeline floor (windows, setups, bays)."""
    from plant import load_spec
    from plant.demand import orders_for
    from scheduler.construct import list_schedule
    from scheduler.control import ControlConfig
    from scheduler.problem import build_problem
    from tests.scheduler import test_control as hand

    spec = load_spec(str(Path(__file__).resolve().parents[1] / "specs" / "pipeline.yaml"))
    problem = build_problem(spec, orders_for(spec, 24), 24 * H)
    config = ControlConfig.policy("replan", move_threshold_s=H, replan_every_s=H, replan_gain_s=0.0)
    real, seen, kept = snapshot.replan, [0], []

    class Enough(Exception):
        pass

    def keep(ctrl):
        seen[0] += 1
        if seen[0] == 4:
            kept.append(copy.deepcopy(ctrl))
            raise Enough
        return real(ctrl)

    snapshot.replan = keep
    try:
        hand.random_host(spec, list_schedule(problem, rule="slack"), config, 3, early_s=600)
    except Enough:
        pass
    finally:
        snapshot.replan = real
    return kept[0]


@pytest.fixture(scope="module")
def state():
    return _a_replan_state()


def _with_durations(ctrl, value):
    c = copy.deepcopy(ctrl)
    for task in c.plan.problem.tasks:
        task.modes[:] = [(p, value) for p, _ in task.modes]
    return c


def test_a_replan_with_times_past_int64_is_a_value_error(state):
    changes, figures = snapshot.replan(_with_durations(state, 2**40))  # large, within int64: answered
    assert figures["tasks"] > 0
    with pytest.raises(ValueError, match=r"replan: open task \S+/\S+ is re-planned to .* past int64 seconds"):
        snapshot.replan(_with_durations(state, 2**61))  # ends pass 2**63 on the Python dispatcher's path
    with pytest.raises(ValueError, match=r"plan.problem.tasks\[\].modes duration must be whole seconds within int64, got 18446744073709551616"):
        snapshot.replan(_with_durations(state, 2**64))


def test_a_plan_not_in_whole_seconds_is_a_value_error_naming_the_field(state):
    with pytest.raises(ValueError, match=r"plan.problem.tasks\[\].modes duration must be whole seconds within int64, got 90.5"):
        snapshot.replan(_with_durations(state, 90.5))
    c = copy.deepcopy(state)
    c.plan.problem.jobs[3].release = 12.25
    with pytest.raises(ValueError, match=r"plan.problem.jobs\[\].release must be whole seconds within int64, got 12.25"):
        snapshot.replan(c)


def test_windows_not_in_whole_seconds_are_refused_by_the_compiled_passes_reader():
    """calendars.flat_windows (what the compiled dispatcher, lanes and projection read) would
    truncate 200.5 to 200: it refuses it, naming the cell; the list scheduler then takes the
    Python path, which reads the window as it is."""
    from scheduler.calendars import flat_windows
    from scheduler.construct import list_schedule
    from scheduler.problem import Cell, Job, Pool, Problem, Task
    from scheduler.validate import validate

    cells = [Cell("A", 0, 1, 0, [(0, 200.5)])]
    with pytest.raises(ValueError, match=r"cell A: unavailable window \(0, 200.5\) is not in whole seconds"):
        flat_windows(cells)
    with pytest.raises(ValueError, match=r"cell A: unavailable window"):
        flat_windows(cells, merged=True)
    job = Job("j0", tasks=[0])
    problem = Problem(cells, [Pool("p", [0])], [job], [Task(0, "a", [(0, 10)], [])], 1000)
    schedule = list_schedule(problem, rule="fifo")
    validate(problem, schedule)
    assert schedule.assignments[0].start >= 200.5


def test_the_windows_read_on_the_few_cells_are_those_of_every_cell(state):
    """snapshot._flat_windows reads only the cells that may have windows (planned windows, stopped
    cells): the same runs as calendars.flat_windows of every carried cell, as given and merged,
    here with a stopped cell that has no planned window (it fails if stopped cells are left out)."""
    from scheduler.calendars import flat_windows

    c = copy.deepcopy(state)
    windowed = {k for k, cell in enumerate(c.plan.problem.cells) if cell.unavailable}
    stopped = next(k for k in range(len(c.up)) if k not in windowed and c.up[k])
    c.up[stopped], c.down_until[stopped] = False, c.now + 5 * H
    w = snapshot.open_work(c, c.config.replan_window_s)
    for merged in (False, True):
        got, want = snapshot._flat_windows(w, merged), flat_windows(w.cells, merged)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
        lo, hi = got[0], got[1]
        assert hi[stopped] > lo[stopped] and (hi > lo).sum() > 1  # the stopped cell and a planned window at least
