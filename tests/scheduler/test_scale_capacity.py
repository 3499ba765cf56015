import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.capacity import problem_capacity_bound
from scheduler.construct import RULES, list_schedule
from scheduler.delivery import mw_by_category
from tests.scheduler.scale_problems import TINY_SPEC, random_problem


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(1, 12), rule=st.sampled_from(RULES), horizon=st.integers(50, 600))
def test_no_schedule_delivers_more_than_the_bound(seed, jobs, rule, horizon):
    problem = random_problem(seed, jobs, 3, horizon=horizon)
    bound = problem_capacity_bound(problem)
    delivered = mw_by_category(problem, list_schedule(problem, rule=rule))
    for category, mw in delivered.items():
        assert mw <= bound.mw_by_category.get(category, 0.0) + 1e-6


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_less_available_cells_never_raise_the_bound(seed):
    problem = random_problem(seed, 10, 3, horizon=300)
    full = problem_capacity_bound(problem)
    derated = problem_capacity_bound(problem, {pool.name: 0.5 for pool in problem.pools})
    for category, mw in derated.mw_by_category.items():
        assert mw <= full.mw_by_category[category] + 1e-6


@pytest.mark.parametrize("hours", [8, 24, 36])
def test_spec_bound_covers_the_best_plan_we_can_find(hours):
    from plant import orders_for, parse_spec
    from scheduler.capacity import capacity_bound
    from scheduler.planning import Limits, plan
    from scheduler.problem import build_problem

    spec = parse_spec(TINY_SPEC)
    orders = orders_for(spec, hours)
    problem = build_problem(spec, orders, hours * 3600)
    schedule = plan(problem, "mw", Limits(2.0, 1)).schedule
    strict = capacity_bound(spec, hours * 3600, orders, availability=False)
    expected = capacity_bound(spec, hours * 3600, orders, availability=True)
    for category, mw in mw_by_category(problem, schedule).items():
        assert mw <= strict.mw_by_category[category] + 1e-6
        assert expected.mw_by_category[category] <= strict.mw_by_category[category] + 1e-6
    assert 0 < strict.deployable_gw and strict.bottleneck
