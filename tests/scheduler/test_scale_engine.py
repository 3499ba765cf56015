import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler import engine
from scheduler.capacity import problem_capacity_bound
from scheduler.delivery import mw_by_category
from scheduler.fjsplib import read_fjsp, write_fjsp
from scheduler.generate import generate_fjsp
from scheduler.validate import validate
from tests.scheduler.scale_problems import random_problem


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(2, 10))
def test_direct_plan_is_valid_and_never_beats_the_bound(seed, jobs):
    problem = random_problem(seed, jobs, 3, horizon=300)
    schedule = engine.plan(problem, objective="mw", time_limit=1.0, workers=1, seed=seed)
    validate(problem, schedule)
    bound = problem_capacity_bound(problem)
    for category, mw in mw_by_category(problem, schedule).items():
        assert mw <= bound.mw_by_category[category] + 1e-6


@pytest.mark.parametrize("objective", ["mw", "makespan"])
def test_decomposition_is_valid_and_never_beats_the_bound(monkeypatch, objective):
    # Force the LNS path on a problem small enough for a test.
    monkeypatch.setattr(engine, "DIRECT_MAX_OPERATIONS", 0)
    monkeypatch.setattr(engine, "NEIGHBOURHOOD_OPERATIONS", 12)
    problem = random_problem(7, 14, 3, horizon=250)
    start = min((engine.list_schedule(problem, rule=r, objective=objective, work_weight=w) for r, w in engine.STARTS), key=lambda s: -s.value if objective == "mw" else s.value)
    schedule = engine.plan(problem, objective=objective, time_limit=4.0, workers=1)
    validate(problem, schedule)
    assert schedule.kpis["method"] == "lns" and schedule.kpis["lns_iterations"] >= 1
    if objective == "mw":
        assert schedule.value >= start.value - 1e-9
        assert schedule.value <= sum(problem_capacity_bound(problem).mw_by_category.values()) + 1e-6
    else:
        assert schedule.makespan <= start.makespan
        assert schedule.makespan >= schedule.bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_optimum_equals_the_lower_bound_and_is_never_beaten(seed):
    from scheduler.bounds import compute_bounds

    known = generate_fjsp(60, 4, job_length=5, seed=seed)
    problem = known.problem
    bounds = compute_bounds(problem)
    assert max(bounds.path, bounds.load) == known.optimum
    # Every machine's fastest work adds up to exactly machines x optimum.
    assert sum(min(d for _, d in t.modes) for t in problem.tasks) == len(problem.cells) * known.optimum
    schedule = engine.plan(problem, objective="makespan", time_limit=1.5, workers=1, seed=seed)
    validate(problem, schedule)
    assert schedule.makespan >= known.optimum
    # The FJSPLIB text round-trips to the same instance.
    again = read_fjsp(write_fjsp(problem))
    assert [t.modes for t in again.tasks] == [t.modes for t in problem.tasks]


def test_generator_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="operations"):
        generate_fjsp(3, 10)
