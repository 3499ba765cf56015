"""Serial insertion: any priority gives a complete, valid plan (precedence, releases, windows,
one job per cell, flexible modes, zero-length work); on a chain with no slack it waits for the
critical operation where a dispatcher fills the cell."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.construct import list_schedule
from scheduler.insertion import applies, earliest_start_priority, latest_start_priority, serial_schedule
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.validate import validate
from tests.scheduler.test_core_localsearch import job_shops


@st.composite
def with_windows(draw) -> Problem:
    problem = draw(job_shops())
    for cell in problem.cells:
        starts = sorted(draw(st.lists(st.integers(0, 60), max_size=3)))
        cell.unavailable = [(s, s + draw(st.integers(1, 8))) for s in starts]  # may overlap: merged
    return problem


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(with_windows(), st.integers(0, 10**6))
def test_any_priority_gives_a_valid_complete_plan(problem, seed):
    rng = random.Random(seed)
    for priority in (earliest_start_priority(problem), latest_start_priority(problem), [rng.random() for _ in problem.tasks]):
        plan = serial_schedule(problem, priority)
        validate(problem, plan)
        assert len(plan.assignments) == problem.n_operations and plan.value == plan.makespan


def test_waits_for_the_critical_operation():
    # A chain A(3) -> B(10) -> C(7) has no slack (path bound 20); a 5 s job x on B is ready at
    # 0. A dispatcher starts x on the idle B and delays the chain to 22; insertion by latest
    # start keeps B for the chain at 3 and puts x after it: 20, the optimum.
    cells = [Cell("A", 0), Cell("B", 1), Cell("C", 2)]
    pools = [Pool("A", [0]), Pool("B", [1]), Pool("C", [2])]
    chain = Job("chain", tasks=[0, 1, 2])
    x = Job("x", tasks=[3])
    tasks = [Task(0, "0", [(0, 3)], []), Task(0, "1", [(1, 10)], [0]), Task(0, "2", [(2, 7)], [1]), Task(1, "0", [(1, 5)], [])]
    problem = Problem(cells, pools, [chain, x], tasks, 100)
    dispatched = list_schedule(problem, rule="slack", objective="makespan")
    inserted = serial_schedule(problem, latest_start_priority(problem))
    validate(problem, inserted)
    assert inserted.makespan == 20 < dispatched.makespan == 22


def test_refuses_setups_and_multi_job_cells():
    problem = Problem([Cell("A", 0, capacity=2)], [Pool("A", [0])], [Job("j", tasks=[0])], [Task(0, "0", [(0, 1)], [])], 10)
    assert not applies(problem)
    with pytest.raises(ValueError, match="single-job cells"):
        serial_schedule(problem, [0.0])
