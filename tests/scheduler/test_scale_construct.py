from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.construct import RULES, list_schedule
from scheduler.delivery import delivered_mw
from scheduler.validate import validate
from tests.scheduler.scale_problems import random_problem


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(1, 12), pools=st.integers(1, 4), rule=st.sampled_from(RULES), tie_seed=st.integers(0, 3))
def test_list_schedule_is_valid_on_random_problems(seed, jobs, pools, rule, tie_seed):
    problem = random_problem(seed, jobs, pools)
    schedule = list_schedule(problem, rule=rule, seed=tie_seed)
    validate(problem, schedule)
    assert len(schedule.assignments) == problem.n_operations
    assert schedule.value == delivered_mw(problem, schedule)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_makespan_labelled_schedule_reports_its_makespan(seed):
    problem = random_problem(seed, 8, 3)
    schedule = list_schedule(problem, rule="mwkr", objective="makespan")
    validate(problem, schedule)
    assert schedule.value == schedule.makespan


def test_unknown_rule_names_the_valid_ones():
    import pytest

    with pytest.raises(ValueError, match="valid: slack"):
        list_schedule(random_problem(1), rule="nope")
