"""Deadline search (scheduler/chains.py): every plan it returns is valid and ends by its target,
a target it calls impossible is below every plan, it reaches the known optimum of shops whose
chains are critical (never worse than the insertion starts there), and the engine routes to it
by the measured chain shape only."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import engine
from scheduler.chains import critical_chains, deadline_search, plan_by_deadline
from scheduler.fjsplib import read_fjsp, write_fjsp
from scheduler.generate import generate_fjsp
from scheduler.insertion import earliest_start_priority, latest_start_priority, serial_schedule
from scheduler.planning import Limits, plan, plan_bound
from scheduler.validate import validate
from tests.scheduler.chains_problems import long_chain_shop
from tests.scheduler.test_scale_insertion import with_windows

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def insertion_best(problem):
    return min((serial_schedule(problem, p(problem)) for p in (earliest_start_priority, latest_start_priority)), key=lambda s: s.makespan)


@SETTINGS
@given(with_windows())
def test_plan_by_deadline_is_valid_and_ends_by_the_target(problem):
    # Windows, releases, DAG precedences, flexible modes, zero-length work. The insertion plan
    # ends by its own makespan, so that target has a plan and CP-SAT finds one on shops this small.
    target = insertion_best(problem).makespan
    status, found = plan_by_deadline(problem, target, 10.0, workers=1)
    assert status in ("OPTIMAL", "FEASIBLE") and found is not None
    validate(problem, found)
    assert len(found.assignments) == problem.n_operations and found.makespan <= target


@SETTINGS
@given(with_windows())
def test_a_target_called_impossible_is_below_every_plan(problem):
    bound = plan_bound(problem, "makespan")
    found = deadline_search(problem, bound, 5.0, workers=1)
    known = insertion_best(problem).makespan
    assert found.lower_bound <= min(known, found.schedule.makespan if found.schedule else known)
    for target, status, _ in found.attempts:
        assert status != "INFEASIBLE" or target < known
    if found.schedule is not None:
        validate(problem, found.schedule)


def test_below_the_path_bound_there_is_no_plan():
    problem = long_chain_shop(3, 5, optimum=600, seed=1)
    path = max(sum(problem.tasks[t].modes[0][1] for t in job.tasks) for job in problem.jobs)
    assert plan_by_deadline(problem, path - 1, 5.0, workers=1) == ("INFEASIBLE", None)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reaches_the_optimum_where_chains_are_critical(seed):
    problem = long_chain_shop(8, 15, optimum=6_000, seed=seed)
    bound = plan_bound(problem, "makespan")
    assert bound == 6_000 and critical_chains(problem, bound)
    found = deadline_search(problem, bound, 20.0, workers=1, seed=seed)
    validate(problem, found.schedule)
    assert found.schedule.makespan == 6_000
    assert found.schedule.makespan <= insertion_best(problem).makespan


def test_chain_shape_decides():
    long = long_chain_shop(6, 10, seed=4)
    assert critical_chains(long, plan_bound(long, "makespan"))
    flexible = generate_fjsp(400, 10, seed=1).problem  # jobs of 20 of 40 operations per machine
    assert not critical_chains(flexible, plan_bound(flexible, "makespan"))
    long.cells[0].setup = 5  # setups are outside the deadline model
    assert not critical_chains(long, plan_bound(long, "makespan"))


def test_file_round_trip_keeps_the_shape():
    problem = long_chain_shop(5, 12, optimum=3_000, seed=5)
    read = read_fjsp_text(write_fjsp(problem))
    assert [len(j.tasks) for j in read.jobs] == [len(j.tasks) for j in problem.jobs]
    bound = plan_bound(read, "makespan")
    assert bound == 3_000 and critical_chains(read, bound)
    assert deadline_search(read, bound, 20.0, workers=1).schedule.makespan == 3_000


def read_fjsp_text(text: str):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shop.fjs"
        path.write_text(text)
        return read_fjsp(path)


@pytest.mark.parametrize("critical", [True, False])
def test_engine_routes_by_chain_shape(monkeypatch, critical):
    # The route applies above the whole-problem size; lowered here so small shops take it.
    monkeypatch.setattr(engine, "DIRECT_MAX_OPERATIONS", 20)
    problem = long_chain_shop(6, 12, optimum=6_000, seed=6) if critical else generate_fjsp(120, 6, seed=2).problem
    result = plan(problem, "makespan", Limits(time_limit=8.0, workers=1))
    validate(problem, result.schedule)
    assert ("deadline_attempts" in result.kpis) == critical
    if critical:
        assert result.schedule.makespan == 6_000 and result.method == "deadlines"
        assert result.kpis["start_value"] >= 6_000  # the starts the search was measured against
