from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.construct import list_schedule
from scheduler.repair import Downtime, repair
from scheduler.validate import validate
from tests.scheduler.scale_problems import random_problem


def _key(a):
    return (a.job, a.op)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(1, 12), cell_pick=st.integers(0, 100), start=st.integers(0, 400), duration=st.integers(0, 300), now=st.integers(0, 400))
def test_repair_never_moves_a_started_operation(seed, jobs, cell_pick, start, duration, now):
    problem = random_problem(seed, jobs, 3)
    plan = list_schedule(problem)
    cell = problem.cells[cell_pick % len(problem.cells)].id
    result = repair(problem, plan, [Downtime(cell, start, duration)], now)
    validate(result.problem, result.schedule)
    before = {_key(a): a for a in plan.assignments}
    after = {_key(a): a for a in result.schedule.assignments}
    assert after.keys() == before.keys()
    for key, a in before.items():
        if a.start < now:
            assert after[key] == a
    changed = sum(1 for k, a in before.items() if a.start >= now and (after[k].cell, after[k].start) != (a.cell, a.start))
    assert changed == result.moved
    assert result.unstarted == sum(1 for a in plan.assignments if a.start >= now)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), now=st.integers(0, 400))
def test_repair_with_nothing_down_changes_nothing(seed, now):
    problem = random_problem(seed, 10, 3)
    plan = list_schedule(problem)
    result = repair(problem, plan, [], now)
    assert result.moved == 0
    assert sorted(map(_key, plan.assignments)) == sorted(map(_key, result.schedule.assignments))
    assert {(_key(a), a.cell, a.start, a.end) for a in plan.assignments} == {(_key(a), a.cell, a.start, a.end) for a in result.schedule.assignments}


def test_unknown_cell_names_a_valid_one():
    import pytest

    problem = random_problem(3)
    with pytest.raises(ValueError, match="down\\[0\\].cell"):
        repair(problem, list_schedule(problem), [Downtime("nope", 0, 10)], 0)


def test_local_cp_sat_recovers_a_unit_the_shift_would_lose():
    from scheduler.delivery import delivered_mw
    from scheduler.problem import Cell, Job, Pool, Problem, Task
    from scheduler.schedule import Assignment, Schedule

    # Two twin cells; A goes down under J1, and B is busy at J1's planned start, so a pure
    # right shift pushes J1 past the horizon while B could still take it a little later.
    problem = Problem(
        [Cell("A", 0), Cell("B", 0)],
        [Pool("P", [0, 1])],
        [Job("J1", mw=1.0, category="power", tasks=[0]), Job("J2", mw=1.0, category="power", tasks=[1])],
        [Task(0, "op", [(0, 30)], []), Task(1, "op", [(0, 60)], [])],
        horizon=100,
    )
    plan = Schedule([Assignment("J1", "op", "A", 50, 80), Assignment("J2", "op", "B", 0, 60)], 100)
    validate(problem, plan)
    shifted = repair(problem, plan, [Downtime("A", 40, 60)], now=0, time_limit=0)
    assert delivered_mw(problem, shifted.schedule) == 1.0
    result = repair(problem, plan, [Downtime("A", 40, 60)], now=0, time_limit=2.0, workers=1)
    assert delivered_mw(problem, result.schedule) == 2.0
    assert result.moved == 1
