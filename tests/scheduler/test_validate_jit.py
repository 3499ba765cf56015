"""The compiled check (scheduler.validatejit.fine, through scheduler.validate.validate_arrays) says
what scheduler.validate says: on test_replan_exact's random floors (bays and single-job cells
with setups, windows some empty, zero-length work, flexible modes, releases, predecessors out of
index order), their list schedules judged valid, and the same plans broken at random (moved,
stretched, onto another cell, into a window, two tasks' places swapped, dropped) refused with
the Python check's sentences."""
from __future__ import annotations

import random

import numpy as np
import pytest

from scheduler.construct import list_schedule, mode_runs, pred_runs
from scheduler.validate import Columns, InvalidSchedule, placed_violations, validate_arrays
from tests.scheduler.test_replan_exact import broken_at_random, random_floor


def _as_arrays(problem, placed):
    """The problem's fields and a plan's placements as validate_arrays reads them (a task left
    out: cell -1)."""
    m_start, m_len, modes = mode_runs([t.modes for t in problem.tasks])
    p_ptr, p_idx = pred_runs([t.predecessors for t in problem.tasks])
    codes: dict = {}
    where = [p if p is not None else (-1, 0, 0) for p in placed]
    return (np.array([p[0] for p in where], np.int64), np.array([p[1] for p in where], np.int64), np.array([p[2] for p in where], np.int64),
            m_start, m_len, modes[:, 0].astype(np.int64), modes[:, 1].astype(np.int64), p_ptr, p_idx,
            np.array([t.job for t in problem.tasks], np.int64), np.array([t.release for t in problem.tasks], np.int64),
            np.array([j.release for j in problem.jobs], np.int64), np.array([codes.setdefault(j.family, len(codes)) for j in problem.jobs], np.int64),
            problem.cells)


def _judged(problem, placed) -> list[str]:
    """validate_arrays' sentences ([] when it accepts)."""
    try:
        validate_arrays(lambda: Columns.of(problem), *_as_arrays(problem, placed))
    except InvalidSchedule as refused:
        return refused.violations
    return []


@pytest.mark.parametrize("block", range(4))
def test_the_compiled_check_judges_as_the_python_one(block):
    refused = accepted_broken = 0
    for seed in range(block * 40, block * 40 + 40):
        problem = random_floor(3_000 + seed)
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
        placed: list = [None] * problem.n_operations
        for a in list_schedule(problem, rule=("fifo", "slack")[seed % 2]).assignments:
            placed[task_index[(a.job, a.op)]] = (cell_index[a.cell], a.start, a.end)
        assert _judged(problem, placed) == placed_violations(problem, placed)  # the plan as made (lost units: not scheduled)
        rng = random.Random(seed)
        for _ in range(6):
            broken = broken_at_random(problem, placed, rng)
            expected = placed_violations(problem, broken)
            assert _judged(problem, broken) == expected, f"floor {seed}"
            refused += bool(expected)
            accepted_broken += not expected
    assert refused > 100 and accepted_broken > 0  # most breaks break a rule; some (a move into slack) do not


def test_each_rule_is_refused():
    """A hand-made floor's plan, accepted as made (back-to-back work on a full bay, a setup kept,
    work touching a window, an empty window, zero-length work), then broken one rule at a time:
    each break is refused with the Python check's sentences."""
    from scheduler.problem import Cell, Job, Pool, Problem, Task

    cells = [Cell("A", 0, 1, 10, [(100, 200), (50, 50)]), Cell("B", 1, 2, 0, [])]
    jobs = [Job("j0", family="x"), Job("j1", family="y", release=5), Job("j2", family="x", release=10)]
    tasks = [Task(0, "a", [(0, 50)], []), Task(1, "a", [(0, 40)], []), Task(0, "b", [(1, 30), (0, 99)], [0]), Task(1, "b", [(1, 30)], [1]),
             Task(2, "b", [(1, 20)], [], release=60), Task(2, "c", [(1, 0)], []), Task(2, "d", [(1, 10)], [])]
    for i, t in enumerate(tasks):
        jobs[t.job].tasks.append(i)
    problem = Problem(cells, [Pool("p0", [0]), Pool("p1", [1])], jobs, tasks, 1_000)
    good = [(0, 0, 50), (0, 200, 240), (1, 50, 80), (1, 240, 270), (1, 80, 100), (1, 80, 80), (1, 70, 80)]
    assert _judged(problem, good) == placed_violations(problem, good) == []
    breaks = {"job release": {5: (1, 5, 5)}, "task release": {4: (1, 59, 79)}, "time 0": {5: (1, -1, -1)}, "window": {1: (0, 160, 200)},
              "setup": {1: (0, 55, 95)}, "overlap": {1: (0, 40, 80)}, "precedence": {2: (1, 40, 70)}, "duration": {2: (1, 50, 81)},
              "eligibility": {3: (0, 240, 270)}, "capacity": {4: (1, 60, 80), 6: (1, 60, 70)}, "cell": {0: (7, 0, 50)}, "unplaced": {6: None}}
    for rule, changes in breaks.items():
        broken = list(good)
        for t, where in changes.items():
            broken[t] = where
        expected = placed_violations(problem, broken)
        assert expected, rule
        assert _judged(problem, broken) == expected, rule

