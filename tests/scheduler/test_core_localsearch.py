"""Critical-path tabu search: on random flexible job shops its plan is always valid and never
worse than the plan it started from; out-of-scope floors come back untouched."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.construct import list_schedule
from scheduler.cpsat.warmstart import LOCAL_SEARCH_SHARE, local_search_share
from scheduler.localsearch import applies, improve
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.validate import validate

from tests.scheduler.core_problems import one_cell_problem

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def job_shops(draw) -> Problem:
    """Capacity-1 cells in pools of 1-2, jobs of 1-5 operations with random DAG precedences,
    job and task releases, 1-3 eligible pools per operation, zero-length operations included."""
    cells, pools = [], []
    for p in range(draw(st.integers(1, 4))):
        members = []
        for k in range(draw(st.integers(1, 2))):
            members.append(len(cells))
            cells.append(Cell(f"P{p}.{k}", p))
        pools.append(Pool(f"P{p}", members))
    jobs, tasks = [], []
    for j in range(draw(st.integers(1, 6))):
        job = Job(f"J{j}", release=draw(st.sampled_from([0, 0, 4])))
        first = len(tasks)
        for k in range(draw(st.integers(1, 5))):
            eligible = draw(st.lists(st.integers(0, len(pools) - 1), min_size=1, max_size=min(3, len(pools)), unique=True))
            preds = [first + i for i in range(k) if draw(st.booleans())] if draw(st.booleans()) else ([len(tasks) - 1] if k else [])
            job.tasks.append(len(tasks))
            tasks.append(Task(j, f"op{k}", [(p, draw(st.integers(0, 9))) for p in eligible], preds,
                              release=draw(st.sampled_from([0, 0, 6]))))
        jobs.append(job)
    return Problem(cells, pools, jobs, tasks, 1_000, "random")


@SETTINGS
@given(job_shops(), st.sampled_from(["fifo", "spt", "lpt"]), st.integers(0, 3))
def test_result_is_valid_and_never_worse(problem, rule, seed):
    start = list_schedule(problem, rule=rule)
    validate(problem, start)
    better = improve(problem, start, 0.05, seed=seed)
    validate(problem, better)
    assert better.makespan <= start.makespan
    assert len(better.assignments) == len(start.assignments)


def test_finds_the_obvious_improvement():
    # Two identical jobs of one op each, both put on the same cell while a second one idles.
    problem = one_cell_problem([5, 5], cells=2)
    start = list_schedule(problem, rule="fifo")
    start.assignments[1].cell = start.assignments[0].cell
    start.assignments[1].start, start.assignments[1].end = 5, 10
    validate(problem, start)
    assert improve(problem, start, 1.0).makespan == 5


def test_out_of_scope_floors_are_left_alone():
    for problem in (one_cell_problem([3, 4], setup=2, families=["a", "b"]),
                    one_cell_problem([3, 4], unavailable=[(2, 4)]),
                    one_cell_problem([3, 4], capacity=2)):
        assert not applies(problem)
        start = list_schedule(problem, rule="fifo")
        assert improve(problem, start, 0.5) is start


@SETTINGS
@given(job_shops())
def test_tabu_share_grows_with_flexibility_within_its_range(problem):
    low, high = LOCAL_SEARCH_SHARE
    share = local_search_share(problem)
    assert low <= share <= high
    rigid = Problem(problem.cells, problem.pools, problem.jobs,
                    [Task(t.job, t.op, t.modes[:1], t.predecessors, release=t.release) for t in problem.tasks], problem.horizon)
    if all(len(problem.pools[p].cells) == 1 for p in range(len(problem.pools))):
        assert local_search_share(rigid) == low
    assert local_search_share(rigid) <= share
