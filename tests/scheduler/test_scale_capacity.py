from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.capacity import problem_capacity_bound
from scheduler.construct import RULES, list_schedule
from scheduler.delivery import mw_by_category
from tests.scheduler.scale_problems import random_problem


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
