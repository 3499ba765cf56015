"""The compiled list scheduler (scheduler.dispatchjit) and the compiled projection of a re-plan
(scheduler.projectjit) decide exactly what their Python references decide.

- The idle-lane buckets iterate as CPython's own sets do (which idle lane a task takes depends
  on it): compared with real sets after random adds and discards.
- The dispatcher, forced compiled for every size, gives test_replan_exact's recorded placements
  on its random floors (windows, bays, setups, flexible modes, zero durations, lost units,
  stranded work, predecessors out of index order), for every rule and for priorities with ties,
  whole and as a re-plan's sub-problem; and the Python one's on bigger random floors.
- The projection equals snapshot._project_reference at every re-plan of random hosts, and the
  re-plans' answers stay the recorded ones.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

import scheduler.construct as construct
from scheduler.construct import RULES, dispatch_lists, list_schedule
from scheduler.dispatchjit import set_ops_order
from tests.scheduler import test_replan_exact as exact


@pytest.fixture
def always_compiled(monkeypatch):
    monkeypatch.setattr(construct, "COMPILED_FROM", 0)


def test_idle_buckets_iterate_as_cpython_sets_do():
    for seed in range(400):
        rng = random.Random(seed)
        high = rng.choice([8, 20, 100, 3_000, 70_000])
        real: set[int] = set()
        ops = []
        for _ in range(rng.randint(1, 1_500)):
            k = rng.randrange(high)
            if rng.random() < rng.choice([0.3, 0.55, 0.8]):
                real.add(k)
                ops.append(k)
            else:
                real.discard(k)
                ops.append(-k - 1)
        assert set_ops_order(np.array(ops, np.int64)).tolist() == list(real), f"seed {seed}"


def test_lowest_lane_first_is_not_the_sets_order():
    """The order matters and is not a sorted one: in a table of 8, 1 and 17 collide with 9 and
    probe on to slots 6 and 7, and 2, added after 9 left, takes slot 2."""
    real = {9, 1, 17}
    real.discard(9)
    real.add(2)
    assert set_ops_order(np.array([9, 1, 17, -10, 2], np.int64)).tolist() == list(real) == [2, 1, 17]


def test_this_python_s_sets_iterate_as_reproduced():
    """The per-process check the dispatcher asks before it runs compiled passes here, so the tests
    below compare the compiled dispatcher, not the Python one with itself."""
    from scheduler import dispatchjit

    assert dispatchjit.sets_iterate_as_reproduced()


def test_a_python_whose_sets_iterate_otherwise_keeps_the_python_dispatcher(monkeypatch):
    """If the reproduced tables disagree with this interpreter's sets, the check says so (with a
    warning) and every dispatch runs in Python: the decisions of this interpreter's own sets."""
    from scheduler import dispatchjit

    monkeypatch.setattr(dispatchjit, "_SETS_CHECKED", [])
    monkeypatch.setattr(dispatchjit, "set_ops_order", lambda ops: np.array([], np.int64))
    with pytest.warns(RuntimeWarning, match="sets iterate otherwise"):
        assert not dispatchjit.sets_iterate_as_reproduced()

    def not_called(*args, **kwargs):
        raise AssertionError("the compiled dispatcher ran")

    monkeypatch.setattr(dispatchjit, "run", not_called)
    problem = exact.random_floor(5_001)
    python = list_schedule(problem, rule="fifo")
    monkeypatch.setattr(construct, "COMPILED_FROM", 0)
    assert list_schedule(problem, rule="fifo").assignments == python.assignments


@pytest.mark.parametrize("cases", [exact.list_cases, exact.open_work_cases], ids=["list_schedule", "open_work"])
def test_compiled_dispatch_gives_the_recorded_placements(cases, always_compiled):
    stored = exact._stored()
    seen = 0
    for name, value in cases():
        assert exact._digest(value) == stored[name], f"{name}: the compiled dispatcher placed differently"
        seen += 1
    assert seen > 90


def test_compiled_dispatch_equals_python_on_bigger_floors():
    """Floors of a few hundred to a few thousand operations (several times the recorded ones):
    both dispatchers, every rule unseeded, and a priority with many ties."""
    for seed in range(12):
        problem = exact.random_floor(5_000 + seed)
        # A bigger order book: the floor's jobs repeated, releases spread.
        rng = random.Random(seed)
        jobs, tasks = list(problem.jobs), list(problem.tasks)
        for copy in range(rng.randint(4, 20)):
            for job in problem.jobs:
                first = len(tasks)
                clone = type(job)(f"{job.id}c{copy}", job.product, job.family, job.category, job.mw, job.release + rng.randrange(0, 500), job.due, job.weight)
                offset = first - job.tasks[0]
                for t in job.tasks:
                    task = problem.tasks[t]
                    tasks.append(type(task)(len(jobs), task.op, task.modes, [p + offset for p in task.predecessors], task.capability, task.release))
                clone.tasks = list(range(first, len(tasks)))
                jobs.append(clone)
        big = type(problem)(problem.cells, problem.pools, jobs, tasks, problem.horizon * 4, name=f"big{seed}")
        ready = [max(jobs[t.job].release, t.release) for t in tasks]
        family = [jobs[t.job].family for t in tasks]
        modes, preds = [t.modes for t in tasks], [t.predecessors for t in tasks]
        ties = [float(rng.randrange(0, 50)) for _ in tasks]
        runs = [dict(priority=ties, tails_of=lambda: construct.task_tails(big))]
        for rule in RULES:
            runs.append(dict(rule_key=lambda tails, rule=rule: construct._priority(big, rule, tails), tails_of=lambda: construct.task_tails(big)))
        for k, run in enumerate(runs):
            objective = ("mw", "makespan")[(seed + k) % 2]
            python = dispatch_lists(big.cells, len(big.pools), modes, preds, list(ready), family, big.horizon, objective=objective, compiled=False, **run)
            compiled = dispatch_lists(big.cells, len(big.pools), modes, preds, list(ready), family, big.horizon, objective=objective, compiled=True, **run)
            assert compiled == python, f"floor {seed}, run {k}: {next(i for i, (a, b) in enumerate(zip(compiled, python)) if a != b)}"


def test_projection_equals_the_python_pass_at_every_replan(monkeypatch):
    """Every re-plan of test_replan_exact's random hosts (stops, rework, early units, lateness
    triggers, windows and setups on the pipeline floor): the compiled projection equals the Python
    one, and the re-plans' answers (dispatch compiled at every size) are the recorded ones."""
    from scheduler.control import snapshot

    compared = []
    real = snapshot._project

    def both(ctrl, w, planned):
        got = real(ctrl, w, planned)
        assert got.tolist() == snapshot._project_reference(ctrl, w), f"projection differs at t={ctrl.now}"
        compared.append(len(got))
        return got

    monkeypatch.setattr(snapshot, "_project", both)
    monkeypatch.setattr(construct, "COMPILED_FROM", 0)
    stored = exact._stored()
    for name, value in exact.replan_cases():
        assert exact._digest(value) == stored[name], f"{name}: a different re-plan than recorded"
    assert len(compared) > 100 and max(compared) > 200


def test_lane_arrays_are_pool_lanes_cells_as_lanes():
    """A re-plan's lanes built directly (subproblem.pool_lane_arrays) are pool_lanes' cells as the
    compiled dispatcher reads them: same pools, setups, cells and merged windows, lane by lane,
    around random fixed work (single-job cells padded by their setups, bays coloured)."""
    from scheduler.subproblem import pool_lane_arrays, pool_lanes

    checked = 0
    for seed in range(80):
        problem = exact.random_floor(3_000 + seed)
        first = list_schedule(problem, rule="fifo")
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        rng = random.Random(seed)
        layouts: dict = {}  # kept from one call to the next, as a re-plan keeps it for its floor
        for _ in range(3):
            fixed_on: dict[int, list] = {}
            for a in first.assignments:
                if rng.random() < 0.3:
                    fixed_on.setdefault(cell_index[a.cell], []).append((a.start, a.end, rng.choice("ABCD")))
            families = set(rng.sample("ABCD", rng.randint(1, 4)))
            modes_lists = [t.modes for t in problem.tasks[: rng.randint(1, len(problem.tasks))]]
            lanes = pool_lanes(problem.cells, problem.pools, fixed_on, families, modes_lists)
            direct = pool_lane_arrays(problem.cells, problem.pools, fixed_on, families, modes_lists, layouts)
            via_cells = construct._cell_lanes(lanes.cells, lanes.cell_index)
            assert direct.n_pools == len(lanes.pools) and direct.pool_map == lanes.pool_map
            for field in ("lane_pool", "lane_setup", "lane_report"):
                assert getattr(direct, field).tolist() == getattr(via_cells, field).tolist(), (seed, field)
            for lane in range(len(direct.lane_pool)):
                mine = slice(direct.lane_wlo[lane], direct.lane_whi[lane])
                theirs = slice(via_cells.lane_wlo[lane], via_cells.lane_whi[lane])
                assert direct.w_s[mine].tolist() == via_cells.w_s[theirs].tolist(), (seed, lane)
                assert direct.w_e[mine].tolist() == via_cells.w_e[theirs].tolist(), (seed, lane)
            checked += 1
    assert checked == 240


def test_a_full_bay_is_refused_alike():
    """More fixed work at once than a bay has places: the compiled lanes name it as pool_lanes does."""
    from scheduler.problem import Cell, Pool
    from scheduler.subproblem import pool_lane_arrays, pool_lanes

    cells, pools = [Cell("bay", 0, 2), Cell("c", 0, 1, 5, [(10, 20)])], [Pool("p", [0, 1])]
    fixed_on = {1: [(0, 5, "A")], 0: [(0, 50, "A"), (10, 30, "B"), (30, 60, "A"), (20, 40, "B")]}
    with pytest.raises(ValueError) as python:
        pool_lanes(cells, pools, fixed_on, {"A"}, [[(0, 5)]])
    with pytest.raises(ValueError) as compiled:
        pool_lane_arrays(cells, pools, fixed_on, {"A"}, [[(0, 5)]])
    assert str(compiled.value) == str(python.value) == "fixed: more work at time 20 on cell bay than its 2 places"


def _never_compiled(monkeypatch):
    from scheduler import dispatchjit

    def not_called(*args, **kwargs):
        raise AssertionError("the compiled dispatcher ran")

    monkeypatch.setattr(dispatchjit, "run", not_called)


def _one_bay_problem(n: int, at: int, family=None):
    from scheduler.problem import Cell

    cells = [Cell("c0", 0, 1, 5, []), Cell("c1", 0)]
    return (cells, 1, [[(0, 60)]] * n, [[]] * n, [at] * n, family or ["A"] * n, at + 10**9)


def test_times_beyond_the_compiled_keys_go_to_the_python_dispatcher(monkeypatch):
    """Event keys are time * 2m + kind * m + id in an int64: microsecond timestamps (~1.7e15) on
    5,000 tasks overflow them (the compiled run hung or crashed): such a problem runs in Python."""
    n = 5_000
    args = _one_bay_problem(n, 1_700_000_000_000_000)
    python = dispatch_lists(*args[:4], list(args[4]), *args[5:], priority=list(range(n)), compiled=False)
    _never_compiled(monkeypatch)
    assert dispatch_lists(*args[:4], list(args[4]), *args[5:], priority=list(range(n))) == python
    assert python[-1][2] > 1_700_000_000_000_000


def test_times_that_fit_run_compiled(monkeypatch):
    """The bound is not so tight that ordinary problems leave the compiled path: a week in
    seconds on 5,000 tasks, and millisecond timestamps, run compiled, as the Python one places."""
    from scheduler import dispatchjit

    calls = []
    real = dispatchjit.run
    monkeypatch.setattr(dispatchjit, "run", lambda *a: calls.append(1) or real(*a))
    for at in (604_800, 1_700_000_000_000):
        args = _one_bay_problem(5_000, at)
        python = dispatch_lists(*args[:4], list(args[4]), *args[5:], priority=list(range(5_000)), compiled=False)
        assert dispatch_lists(*args[:4], list(args[4]), *args[5:], priority=list(range(5_000))) == python
    assert len(calls) == 2


def test_a_none_family_is_a_fresh_lane_s_as_in_python(monkeypatch):
    """The Python dispatcher reads a None family as a fresh lane's bucket (no changeover after
    it); such a problem runs in Python, with that reading."""
    n = 200
    args = _one_bay_problem(n, 0, [None] + ["A"] * (n - 1))
    python = dispatch_lists(*args[:4], list(args[4]), *args[5:], priority=list(range(n)), compiled=False)
    _never_compiled(monkeypatch)
    assert dispatch_lists(*args[:4], list(args[4]), *args[5:], priority=list(range(n))) == python


@pytest.mark.parametrize("compiled", [False, True])
def test_a_task_that_can_run_nowhere_is_named_not_waited_for(compiled):
    from scheduler.problem import Cell

    cells = [Cell("c0", 0)]
    n = 300
    modes = [[(0, 5)]] * (n - 1) + [[(1, 5)]]
    with pytest.raises(ValueError, match=r"t_modes\[299\]: its modes \[\(1, 5\)\] name no pool with a cell"):
        dispatch_lists(cells, 2, modes, [[]] * n, [0] * n, ["A"] * n, 10**6, priority=list(range(n)), compiled=compiled)
    with pytest.raises(ValueError, match="pool 7 is not one of the 2 pools"):
        dispatch_lists(cells, 2, [[(7, 5)]] * n, [[]] * n, [0] * n, ["A"] * n, 10**6, priority=list(range(n)), compiled=compiled)
