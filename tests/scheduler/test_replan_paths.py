"""The short cuts that make a re-plan cheap keep what the list scheduler and the sub-problem
decide: a pool whose idle cells all sit inside windows still starts its work the moment the
first window ends, and fixed work that over-fills a cell is named, not crashed on."""
from __future__ import annotations

import pytest

from scheduler.construct import list_schedule
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.subproblem import restrict
from scheduler.validate import validate


def _floor(windows: list[list[tuple[int, int]]], capacity: int = 1) -> tuple[list[Cell], list[Pool]]:
    cells = [Cell(f"A{k}", 0, capacity, 0, w) for k, w in enumerate(windows)]
    cells.append(Cell("B0", 1))
    return cells, [Pool("A", list(range(len(windows)))), Pool("B", [len(windows)])]


def test_work_waiting_for_a_pool_inside_windows_starts_when_the_first_window_ends():
    # Pool A's three cells are all inside windows at first (the one ending at 50 first); five
    # units reach it at time 20 (after their step on B), while A has no cell to offer.
    cells, pools = _floor([[(0, 100)], [(0, 300)], [(0, 50)]])
    jobs, tasks = [], []
    for j in range(5):
        jobs.append(Job(f"J{j}", family="f", tasks=[len(tasks), len(tasks) + 1]))
        tasks.append(Task(j, "b", [(1, 4)], []))
        tasks.append(Task(j, "a", [(0, 10)], [len(tasks) - 1]))
    problem = Problem(cells, pools, jobs, tasks, 10_000)
    schedule = list_schedule(problem, rule="fifo", objective="makespan")
    validate(problem, schedule)
    on_a = sorted((x.start, x.cell) for x in schedule.assignments if x.op == "a")
    # A2 wakes at 50 and runs back to back; A0 joins at 100 when work is still waiting.
    assert on_a == [(50, "A2"), (60, "A2"), (70, "A2"), (80, "A2"), (90, "A2")]


def test_a_multi_slot_cell_inside_a_window_starts_work_on_every_slot_at_its_end():
    cells, pools = _floor([[(0, 40)], [(10, 500)]], capacity=3)
    jobs = [Job(f"J{j}", family="f", tasks=[j]) for j in range(7)]
    tasks = [Task(j, "a", [(0, 30)], []) for j in range(7)]
    problem = Problem(cells, pools, jobs, tasks, 10_000)
    schedule = list_schedule(problem, rule="fifo", objective="makespan")
    validate(problem, schedule)
    starts = sorted((x.start, x.cell) for x in schedule.assignments)
    # A1 runs nothing: work of 30 s would reach its window at 10. A0's three slots open at 40.
    assert starts == [(40, "A0")] * 3 + [(70, "A0")] * 3 + [(100, "A0")]


def test_list_schedule_wakes_for_windows_between_busy_work_on_random_floors():
    from tests.scheduler.scale_problems import random_problem

    for seed in range(60):
        problem = random_problem(seed, jobs=25, pools=3, horizon=3_000)
        for cell in problem.cells:  # dense windows: most dispatches meet cells inside one
            cell.unavailable = [(s, s + 45) for s in range(seed % 20, 3_000, 60)]
        for rule in ("fifo", "slack"):
            schedule = list_schedule(problem, rule=rule, seed=seed % 2)
            validate(problem, schedule)


def test_restrict_names_the_cell_its_fixed_work_overfills():
    cells, pools = _floor([[]], capacity=2)
    jobs = [Job(f"J{j}", tasks=[j]) for j in range(4)]
    tasks = [Task(j, "a", [(0, 10)], []) for j in range(4)]
    problem = Problem(cells, pools, jobs, tasks, 100)
    fixed = {0: (0, 0, 10), 1: (0, 2, 12), 2: (0, 5, 15)}  # three at once on two slots
    with pytest.raises(ValueError, match="A0"):
        restrict(problem, fixed, {3})


def test_dispatch_lists_names_a_list_of_the_wrong_length():
    """One entry per task in every per-task list: a list one too long or short is named (it once
    ran on silently, or failed on an index)."""
    from scheduler.construct import dispatch_lists

    cells = [Cell("C0", 0, 1, 0, [])]
    modes = [[(0, 10)], [(0, 10)]]
    with pytest.raises(ValueError, match="t_preds has 3 entries, t_modes 2"):
        dispatch_lists(cells, 1, modes, [[], [0], [1]], [0, 0], ["a", "a"], 100, priority=[0.0, 1.0])
    with pytest.raises(ValueError, match="priority has 1 entries"):
        dispatch_lists(cells, 1, modes, [[], [0]], [0, 0], ["a", "a"], 100, priority=[0.0])
    assert dispatch_lists(cells, 1, modes, [[], [0]], [0, 0], ["a", "a"], 100, priority=[0.0, 1.0]) == [(0, 0, 10), (0, 10, 20)]
