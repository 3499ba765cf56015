"""The independent validator rejects each kind of broken schedule (and accepts the fixed one)."""
from __future__ import annotations

import pytest

from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import InvalidSchedule, validate

from tests.scheduler.core_problems import one_cell_problem


def schedule_of(*rows: tuple[str, str, str, int, int]) -> Schedule:
    return Schedule([Assignment(*row) for row in rows], horizon=1_000)


def chain_problem() -> Problem:
    """Job J0: op a (M0 3 s | M1 4 s) then op b (M1 2 s)."""
    cells = [Cell("M0", 0), Cell("M1", 1)]
    pools = [Pool("M0", [0]), Pool("M1", [1])]
    tasks = [Task(0, "a", [(0, 3), (1, 4)], []), Task(0, "b", [(1, 2)], [0])]
    return Problem(cells, pools, [Job("J0", tasks=[0, 1])], tasks, 100)


def test_valid_chain_passes():
    validate(chain_problem(), schedule_of(("J0", "a", "M0", 0, 3), ("J0", "b", "M1", 3, 5)))


@pytest.mark.parametrize(
    "rows, message",
    [
        ((("J0", "a", "M0", 0, 3), ("J0", "b", "M1", 2, 4)), "before predecessor"),
        ((("J0", "a", "M0", 0, 3), ("J0", "b", "M0", 3, 5)), "not eligible"),
        ((("J0", "a", "M1", 0, 3), ("J0", "b", "M1", 3, 5)), "must be 4s"),
        ((("J0", "a", "M0", 0, 3),), "not scheduled"),
    ],
    ids=["broken-precedence", "ineligible-cell", "wrong-duration", "missing-operation"],
)
def test_broken_chain_is_rejected(rows, message):
    with pytest.raises(InvalidSchedule, match=message):
        validate(chain_problem(), schedule_of(*rows))


def test_overlap_on_a_single_job_cell():
    with pytest.raises(InvalidSchedule, match="overlaps"):
        validate(one_cell_problem([3, 3]), schedule_of(("J0", "op", "C0", 0, 3), ("J1", "op", "C0", 2, 5)))


def test_window_violation():
    problem = one_cell_problem([3], unavailable=[(2, 4)])
    with pytest.raises(InvalidSchedule, match="unavailability"):
        validate(problem, schedule_of(("J0", "op", "C0", 0, 3)))
    validate(problem, schedule_of(("J0", "op", "C0", 4, 7)))


def test_setup_violation_between_families():
    problem = one_cell_problem([3, 3], families=["x", "y"], setup=5)
    with pytest.raises(InvalidSchedule, match="setup"):
        validate(problem, schedule_of(("J0", "op", "C0", 0, 3), ("J1", "op", "C0", 4, 7)))
    validate(problem, schedule_of(("J0", "op", "C0", 0, 3), ("J1", "op", "C0", 8, 11)))


def test_capacity_two_overflow():
    problem = one_cell_problem([4, 4, 4], capacity=2)
    rows = [(f"J{j}", "op", "C0", j, j + 4) for j in range(3)]
    with pytest.raises(InvalidSchedule, match="capacity 2"):
        validate(problem, schedule_of(*rows))
    validate(problem, schedule_of(*rows[:2], ("J2", "op", "C0", 4, 8)))


def test_release_violation():
    with pytest.raises(InvalidSchedule, match="release"):
        validate(one_cell_problem([2], releases=[5]), schedule_of(("J0", "op", "C0", 1, 3)))
