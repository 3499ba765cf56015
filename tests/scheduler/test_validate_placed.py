"""A re-plan's pieces without Problem objects: validate_placed (a plan held as (cell, start, end)
per task) finds exactly what validate finds on the same plan written as named assignments, and
the list scheduler on open_work_lists plans exactly what it plans on restrict's sub-problem."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.construct import dispatch_lists, list_schedule
from scheduler.subproblem import open_work_lists, placements, restrict
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import InvalidSchedule, placed_violations, validate_placed, violations
from tests.scheduler.scale_problems import random_problem


def _as_schedule(problem, placed) -> Schedule:
    tasks, jobs, cells = problem.tasks, problem.jobs, problem.cells
    return Schedule([Assignment(jobs[tasks[t].job].id, tasks[t].op, cells[p[0]].id, p[1], p[2]) for t, p in enumerate(placed) if p is not None], problem.horizon)


def _placed(problem, schedule) -> list:
    by_task = placements(problem, schedule)
    return [by_task.get(t) for t in range(problem.n_operations)]


def _perturb(problem, placed, rng: random.Random) -> list:
    """A few random breaks: moved earlier or later, stretched, onto another cell, dropped."""
    out = list(placed)
    for _ in range(rng.randint(1, 3)):
        t = rng.randrange(len(out))
        if out[t] is None:
            continue
        c, s, e = out[t]
        kind = rng.randrange(5)
        if kind == 0:
            shift = rng.randint(1, 400)
            out[t] = (c, s - shift, e - shift)
        elif kind == 1:
            shift = rng.randint(1, 400)
            out[t] = (c, s + shift, e + shift)
        elif kind == 2:
            out[t] = (c, s, e + rng.randint(1, 50))
        elif kind == 3:
            out[t] = (rng.randrange(len(problem.cells)), s, e)
        else:
            out[t] = None
    return out


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(1, 10), pools=st.integers(1, 4), breaks=st.integers(0, 10**6))
def test_placed_plan_is_judged_as_its_schedule(seed, jobs, pools, breaks):
    problem = random_problem(seed, jobs, pools)
    placed = _placed(problem, list_schedule(problem, priority=[random.Random(seed + t).random() for t in range(problem.n_operations)]))
    assert placed_violations(problem, placed) == violations(problem, _as_schedule(problem, placed)) == []
    broken = _perturb(problem, placed, random.Random(breaks))
    # The same sentences, in the same order, for the same plan.
    assert placed_violations(problem, broken) == violations(problem, _as_schedule(problem, broken))
    assert placed_violations(problem, broken, complete=False) == violations(problem, _as_schedule(problem, broken), complete=False)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(2, 10), pools=st.integers(1, 4), pick=st.integers(0, 10**6))
def test_lists_plan_what_restrict_plans(seed, jobs, pools, pick):
    """Some units fixed where a first plan put them (a unit's tasks together: closed under
    predecessors), the rest planned around them, once from restrict's Problem and once from
    the lists: the same placements, task for task."""
    problem = random_problem(seed, jobs, pools)
    first = placements(problem, list_schedule(problem, rule="fifo"))
    rng = random.Random(pick)
    fixed_jobs = set(rng.sample(range(len(problem.jobs)), rng.randint(1, len(problem.jobs) - 1)))
    fixed = {t: first[t] for t, task in enumerate(problem.tasks) if task.job in fixed_jobs}
    free = [t for t in range(problem.n_operations) if t not in fixed]
    priority = [rng.random() for _ in free]
    sub = restrict(problem, fixed, set(free))
    expected = list_schedule(sub.problem, priority=priority)
    lists = open_work_lists(problem, fixed, free)
    assert lists.task_of == sub.task_of == free
    ready_at = [max(problem.jobs[problem.tasks[t].job].release, r) for t, r in zip(free, lists.release)]
    family = [problem.jobs[problem.tasks[t].job].family for t in free]
    got = dispatch_lists(lists.cells, len(lists.pools), lists.modes, lists.predecessors, ready_at, family, problem.horizon, priority=priority,
                         tails_of=lambda: pytest.fail("random problems list predecessors first"))
    assert [(lists.cells[c].id, s, e) for c, s, e in got] == [(a.cell, a.start, a.end) for a in expected.assignments]


def test_missing_task_and_unknown_cell_are_named():
    problem = random_problem(3, 4, 2)
    placed = _placed(problem, list_schedule(problem))
    t = len(placed) - 1
    name = f"{problem.jobs[problem.tasks[t].job].id}/{problem.tasks[t].op}"
    with pytest.raises(InvalidSchedule, match=f"{name}: not scheduled"):
        validate_placed(problem, placed[:-1] + [None])
    _, s, e = placed[t]
    found = placed_violations(problem, placed[:-1] + [(len(problem.cells), s, e)])
    assert found[0] == f"{name}: unknown cell index {len(problem.cells)}"
    assert placed_violations(problem, placed[:-1]) == [f"placements: {len(placed) - 1} entries for {len(placed)} operations"]
