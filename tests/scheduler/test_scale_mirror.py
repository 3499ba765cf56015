import time

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.construct import list_schedule
from scheduler.generate import generate_fjsp
from scheduler.mirror import forward_backward, mirrorable, mirrored, reversed_problem
from scheduler.validate import validate
from tests.scheduler.scale_problems import random_problem


def _timeless(seed: int, jobs: int):
    """A random problem with releases and windows removed (setups and capacities stay)."""
    problem = random_problem(seed, jobs, 3)
    for job in problem.jobs:
        job.release = 0
    for task in problem.tasks:
        task.release = 0
    for cell in problem.cells:
        cell.unavailable = []
    return problem


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(1, 10))
def test_a_plan_of_the_reversed_problem_mirrors_into_a_valid_plan(seed, jobs):
    problem = _timeless(seed, jobs)
    assert mirrorable(problem)
    backward = list_schedule(reversed_problem(problem), objective="makespan")
    validate(problem, mirrored(backward))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_forward_backward_is_valid_and_never_longer(seed):
    problem = generate_fjsp(200, 8, job_length=6, seed=seed).problem
    start = list_schedule(problem, objective="makespan")
    improved = forward_backward(problem, start, time.perf_counter() + 5.0)
    validate(problem, improved)
    assert improved.makespan <= start.makespan


def test_problems_with_releases_or_windows_are_left_alone():
    problem = random_problem(11, 8, 3)
    problem.jobs[0].release = 5
    start = list_schedule(problem, objective="makespan")
    assert not mirrorable(problem)
    assert forward_backward(problem, start, time.perf_counter() + 5.0) is start
