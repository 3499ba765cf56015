"""The CP-SAT probe, the run that proves optima: its share of the budget falls from job shops to
flexible shops, and on small job shops with a known optimum the planner's plan and bound bracket
that optimum and agree with the textbook model whenever both prove it."""
from __future__ import annotations

import importlib

import pytest
from hypothesis import HealthCheck, given, settings

from scheduler.cpsat.reference import solve_reference
from scheduler.cpsat.solve import JOB_SHOP_PROBE_SHARE, PROBE_SHARE, probe_share
from scheduler.cpsat.warmstart import FLEXIBLE_SHOP, flexible_share
from scheduler.fjsplib import read_fjsp
from scheduler.planning import Limits, plan
from scheduler.problem import Problem, Task
from scheduler.validate import validate

from tests.scheduler.test_core_known_optima import CLOSED, ROOT
from tests.scheduler.test_core_localsearch import job_shops

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rigid(problem: Problem) -> Problem:
    """The same shop with every operation held to its first eligible pool."""
    tasks = [Task(t.job, t.op, t.modes[:1], t.predecessors, release=t.release) for t in problem.tasks]
    return Problem(problem.cells, problem.pools, problem.jobs, tasks, problem.horizon)


@SETTINGS
@given(job_shops())
def test_probe_share_falls_with_flexibility_within_its_range(problem):
    share = probe_share(problem)
    assert PROBE_SHARE <= share <= JOB_SHOP_PROBE_SHARE
    if flexible_share(problem) >= FLEXIBLE_SHOP:
        assert share == pytest.approx(PROBE_SHARE)
    rigid = _rigid(problem)
    if flexible_share(rigid) == 0:
        assert probe_share(rigid) == pytest.approx(JOB_SHOP_PROBE_SHARE)
    assert probe_share(rigid) >= share


def test_no_probe_when_switched_off(monkeypatch):
    problem = read_fjsp("2 2 1\n2 1 1 3 1 2 2\n2 1 2 2 1 1 4\n")  # a job shop: the probe's largest share
    assert probe_share(problem) == JOB_SHOP_PROBE_SHARE
    monkeypatch.setattr(importlib.import_module("scheduler.cpsat.solve"), "PROBE_SHARE", 0.0)
    assert probe_share(problem) == 0.0


SMALL_JOB_SHOPS = ["HurinkJurischThole1994/edata/ft06.txt", "HurinkJurischThole1994/edata/la01.txt", "HurinkJurischThole1994/edata/la05.txt"]


@pytest.mark.skipif(not CLOSED, reason="public FJSP instances not found beside the repository")
@pytest.mark.parametrize("rel", SMALL_JOB_SHOPS)
def test_small_job_shops_bracket_the_optimum_and_agree_with_the_textbook_model(rel):
    assert rel in CLOSED, f"{rel} is not closed in bks.csv"
    problem = read_fjsp(ROOT / rel)
    assert flexible_share(problem) < FLEXIBLE_SHOP  # the probe's larger share applies here
    ours = plan(problem, "makespan", Limits(5.0, 2))
    reference = solve_reference(problem, time_limit=5.0, workers=2)
    validate(problem, ours.schedule)
    optimum = CLOSED[rel]
    assert ours.bound <= optimum <= ours.value
    assert reference.bound <= optimum <= reference.makespan
    if ours.status == "optimal" and reference.status == "optimal":
        assert ours.value == reference.makespan == optimum


@pytest.mark.skipif(not CLOSED, reason="public FJSP instances not found beside the repository")
def test_when_the_tabu_search_finds_nothing_the_main_run_restarts_from_the_list_schedule(monkeypatch):
    # A near-job-shop whose tabu search brings nothing: the main run starts from the list
    # schedule, uncapped, and the plan kept aside is returned if CP-SAT ends with nothing better;
    # either way the plan is valid and never worse than what the probe and the tabu search had.
    solve_module = importlib.import_module("scheduler.cpsat.solve")
    monkeypatch.setattr(solve_module, "JOB_SHOP_PROBE_SHARE", 0.001)  # too short to prove anything
    monkeypatch.setattr(solve_module, "improve_makespan", lambda problem, start, *args, **kwargs: start)
    rel = "HurinkJurischThole1994/edata/ft10.txt"  # closed, but not within the probe's few milliseconds
    problem = read_fjsp(ROOT / rel)
    found = solve_module.solve(problem, time_limit=2.0, workers=2)
    validate(problem, found)
    assert "main run from the list schedule" in found.kpis["hint"]
    assert found.makespan <= found.kpis["tabu_makespan"] == found.kpis["probe_makespan"]
    assert found.bound <= CLOSED[rel] <= found.makespan
