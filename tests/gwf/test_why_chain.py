"""The critical chain on a hand-built plan: a unit late because another unit held its cell, and
a capacity-2 cell that held nobody while it had a free place."""
from __future__ import annotations

from gwf.plans.why import explain
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.schedule import Assignment, Schedule


def _problem(capacity: int = 1, setup: int = 0) -> Problem:
    cells = [Cell("arm", 0, capacity, setup), Cell("tester", 1)]
    pools = [Pool("arms", [0]), Pool("testers", [1])]
    jobs = [Job("a", "p", "fa", "compute", 1.0, 0, 500, tasks=[0, 1]), Job("b", "p", "fb", "compute", 1.0, 0, 150, tasks=[2, 3])]
    tasks = [Task(0, "build", [(0, 100)], []), Task(0, "test", [(1, 50)], [0]),
             Task(1, "build", [(0, 100)], []), Task(1, "test", [(1, 50)], [2])]
    return Problem(cells, pools, jobs, tasks, horizon=1000)


def test_a_unit_late_because_another_held_its_cell() -> None:
    plan = Schedule([Assignment("a", "build", "arm", 0, 100), Assignment("a", "test", "tester", 100, 150),
                     Assignment("b", "build", "arm", 130, 230), Assignment("b", "test", "tester", 230, 280)], horizon=1000)
    e = explain(_problem(setup=30), plan, "b")
    assert e.state == "late" and e.unit.lateness_s == 130
    kinds = [(link.op, link.held_by, link.by_job) for link in e.chain]
    # test waited for its build; the build waited for the arm (unit a) and a changeover; a's build began at release
    assert kinds == [("test", "predecessor", "b"), ("build", "setup", "a"), ("build", "release", "")]
    assert e.chain[1].ready_s == 130


def test_a_cell_with_a_free_place_holds_nobody() -> None:
    plan = Schedule([Assignment("a", "build", "arm", 0, 100), Assignment("a", "test", "tester", 100, 150),
                     Assignment("b", "build", "arm", 100, 200), Assignment("b", "test", "tester", 200, 250)], horizon=1000)
    e = explain(_problem(capacity=2), plan, "b")
    assert e.chain[1].op == "build" and e.chain[1].held_by == "nothing"  # the second place was free from 0
