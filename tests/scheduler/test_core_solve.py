"""The CP-SAT core on tiny instances whose optimum is known by hand."""
from __future__ import annotations

import pytest

from scheduler import solve
from scheduler.cpsat import constraints
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.validate import validate

from tests.scheduler.core_problems import one_cell_problem

FAST = {"time_limit": 5.0, "workers": 1}


def test_flexible_job_shop_picks_the_faster_machines():
    # Job 0: op a (M0:2 | M1:5) then op b (M1:3). Job 1: op c (M0:4 | M1:2).
    # Best: a on M0 [0,2), c on M1 [0,2), b on M1 [2,5) -> 5.
    cells = [Cell("M0", 0), Cell("M1", 1)]
    pools = [Pool("M0", [0]), Pool("M1", [1])]
    jobs = [Job("0", tasks=[0, 1]), Job("1", tasks=[2])]
    tasks = [Task(0, "a", [(0, 2), (1, 5)], []), Task(0, "b", [(1, 3)], [0]), Task(1, "c", [(0, 4), (1, 2)], [])]
    result = solve(Problem(cells, pools, jobs, tasks, 100), **FAST)
    assert (result.value, result.status) == (5, "optimal")
    assert result.bound == 5 and result.gap == 0


def test_setups_group_the_families():
    # x x y with setup 5: x,x,y = 3+3+5+3 = 14; any order splitting the x's costs two setups.
    problem = one_cell_problem([3, 3, 3], families=["x", "y", "x"], setup=5)
    result = solve(problem, **FAST)
    assert result.value == 14 and result.status == "optimal"
    assert result.kpis["setup_models"] == {"C0": "circuit"}


def test_setups_by_campaigns_on_a_busy_cell(monkeypatch):
    monkeypatch.setattr(constraints, "CIRCUIT_LIMIT", 1)
    problem = one_cell_problem([3, 3, 3, 2], families=["x", "y", "x", "y"], setup=5)
    result = solve(problem, **FAST)
    assert result.kpis["setup_models"] == {"C0": "campaigns"}
    assert result.value == 3 + 3 + 5 + 3 + 2


def test_unavailability_window_is_respected():
    # Window [3, 6): 3-op first [0,3), the 2-op after the window [6,8) -> 8 (other order gives 9).
    result = solve(one_cell_problem([2, 3], unavailable=[(3, 6)]), **FAST)
    assert result.value == 8


def test_capacity_two_cell_holds_two_jobs():
    result = solve(one_cell_problem([4, 4, 4], capacity=2), **FAST)
    assert result.value == 8


def test_pool_of_identical_cells_is_one_resource_and_cells_are_handed_out():
    result = solve(one_cell_problem([4, 4, 4, 4, 4], cells=2), **FAST)
    assert result.value == 12 and result.kpis["pooled_pools"] == 1
    assert {a.cell for a in result.assignments} == {"C0", "C1"}


def test_job_and_task_releases():
    problem = one_cell_problem([3, 2], releases=[5, 0])
    problem.tasks[1].release = 1
    result = solve(problem, **FAST)
    starts = {a.job: a.start for a in result.assignments}
    assert starts["J0"] >= 5 and starts["J1"] >= 1 and result.value == 8


def test_weighted_tardiness():
    # A (4 s, due 4, w 1) and B (2 s, due 2, w 3): B first costs 2 x 1; A first costs 4 x 3.
    problem = one_cell_problem([4, 2], dues=[4, 2], weights=[1.0, 3.0])
    result = solve(problem, objective="weighted_tardiness", **FAST)
    assert result.value == 2 and result.status == "optimal"


def test_fractional_weights_are_scaled_not_truncated():
    problem = one_cell_problem([4, 2], dues=[4, 2], weights=[0.5, 1.5])
    result = solve(problem, objective="weighted_tardiness", **FAST)
    assert result.value == pytest.approx(1.0)


def test_mw_leaves_out_what_cannot_finish():
    # Horizon 10 on one cell: A(6 s, 5 MW) + C(4 s, 3 MW) fill it exactly -> 8 MW; B is left out.
    problem = one_cell_problem([6, 5, 4], mw=[5.0, 3.0, 3.0], horizon=10)
    result = solve(problem, objective="mw", **FAST)
    assert result.value == pytest.approx(8.0) and result.status == "optimal"
    assert {a.job for a in result.assignments} == {"J0", "J2"}
    validate(problem, result, complete=False)


def test_makespan_plans_may_run_past_a_window_covering_the_horizon():
    # The only cell is down for the whole horizon: the plan runs after it rather than failing.
    result = solve(one_cell_problem([3], unavailable=[(0, 1_000)]), **FAST)
    assert result.value == 1_003


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="objective"):
        solve(one_cell_problem([1]), objective="profit")
