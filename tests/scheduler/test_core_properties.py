"""Properties on random small problems: every plan is valid, never better than the lower bound,
and equal to the textbook model's optimum when both prove optimality."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import solve
from scheduler.bounds import compute_bounds, objective_bound
from scheduler.cpsat.reference import solve_reference
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.validate import validate

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, setups: bool = True, windows: bool = True, capacities: bool = True) -> Problem:
    cells, pools = [], []
    for p in range(draw(st.integers(1, 3))):
        capacity = draw(st.integers(1, 2)) if capacities else 1
        setup = draw(st.sampled_from([0, 0, 3])) if setups and capacity == 1 else 0
        down = sorted({(s, s + draw(st.integers(1, 4))) for s in draw(st.lists(st.integers(0, 30), max_size=2))}) if windows else []
        members = []
        for k in range(draw(st.integers(1, 2))):
            members.append(len(cells))
            cells.append(Cell(f"P{p}.{k}", p, capacity, setup, list(down)))
        pools.append(Pool(f"P{p}", members))
    jobs, tasks = [], []
    for j in range(draw(st.integers(1, 4))):
        job = Job(f"J{j}", family=draw(st.sampled_from("xy")), release=draw(st.sampled_from([0, 0, 3])),
                  due=draw(st.integers(0, 30)), weight=draw(st.sampled_from([1.0, 2.5])), mw=draw(st.sampled_from([1.0, 2.0])))
        first = len(tasks)
        for k in range(draw(st.integers(1, 3))):
            eligible = draw(st.lists(st.integers(0, len(pools) - 1), min_size=1, max_size=len(pools), unique=True))
            modes = [(p, draw(st.integers(1, 9))) for p in eligible]
            preds = [first + i for i in range(k) if draw(st.booleans())]
            job.tasks.append(len(tasks))
            tasks.append(Task(j, f"op{k}", modes, preds, release=draw(st.sampled_from([0, 0, 5]))))
        jobs.append(job)
    return Problem(cells, pools, jobs, tasks, draw(st.integers(20, 80)), "random")


@SETTINGS
@given(problems(), st.sampled_from(["makespan", "weighted_tardiness", "mw"]))
def test_every_plan_is_valid_and_respects_the_bound(problem, objective):
    result = solve(problem, objective=objective, time_limit=3.0, workers=1)
    assert result.status in {"optimal", "feasible"}
    validate(problem, result, complete=objective != "mw")
    own = objective_bound(problem, objective)
    if objective == "mw":
        assert result.value <= own + 1e-9 and result.value <= result.bound + 1e-9
    else:
        assert result.value >= own - 1e-9 and result.value >= result.bound - 1e-9
    if objective == "makespan":
        assert result.value >= compute_bounds(problem).makespan


@SETTINGS
@given(problems(setups=False, capacities=False))
def test_same_optimum_as_the_textbook_model(problem):
    ours = solve(problem, time_limit=3.0, workers=1)
    reference = solve_reference(problem, time_limit=3.0, workers=1)
    if reference.status == "optimal" and ours.status == "optimal":
        assert ours.value == reference.value
    elif reference.status == "optimal":
        assert ours.value >= reference.value
