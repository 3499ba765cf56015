"""The list scheduler and the re-plan decide exactly what they decided when these digests were
recorded (tests/scheduler/fixtures/replan_digests.json, recorded with main a04db43): a change
that only makes them faster must leave every digest as it is. The list scheduler is also
`gwf schedule`'s construction heuristic, so its placements are compared on random problems with
every feature it models (windows, bays, setups, flexible modes, zero durations, lost units,
work stranded by the earliest-finish rule, predecessors out of index order, random tie-breaks),
whole and as a re-plan's sub-problem around fixed work; the re-plan itself on random floors
driven by tests.scheduler.test_control's random host.

When a difference is intended (a changed rule, a fixed bug), re-record and say why in the commit:

    python -m tests.scheduler.test_replan_exact
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

import scheduler.validate as checker
from scheduler.construct import RULES, dispatch_lists, list_schedule
from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.schedule import Assignment, Schedule
from scheduler.subproblem import open_work_lists
from tests.scheduler.test_validate_placed import _perturb

DIGESTS = Path(__file__).resolve().parent / "fixtures" / "replan_digests.json"
H = 3600


def random_floor(seed: int) -> Problem:
    """A random floor and order book: pools of single-job cells (with setups) and bays of up to
    24 places, windows (some at time 0, some empty, some dense), flexible operations with a
    fast and a slow pool, zero-length work, releases, due dates and a horizon some units miss;
    every fifth problem lists a unit's operations last first (predecessors after their task);
    every fourth releases a burst of units together, their first operation eligible everywhere
    (a pool idle behind more flexible work than it looks past, which prefers a faster pool,
    strands its own work until every cell is idle: pool 0 is the fast one)."""
    rng = random.Random(seed)
    horizon = rng.choice([300, 2_000, 20_000])
    burst = seed % 4 == 1
    cells: list[Cell] = []
    pools: list[Pool] = []
    for p in range(rng.randint(2, 4) if burst else rng.randint(1, 5)):
        capacity = 1 if burst else rng.choice([1, 1, 1, 2, 3, 24])
        setup = rng.choice([0, 0, 5, 40]) if capacity == 1 else rng.choice([0, 7])
        ids = []
        for k in range(1 if burst else rng.randint(1, 4)):
            windows = []
            if rng.random() < 0.5:
                at = rng.choice([0, rng.randrange(0, 300)])
                while at < horizon and len(windows) < 30:
                    length = rng.choice([0, rng.randrange(1, 60), rng.randrange(60, 900)])
                    windows.append((at, at + length))
                    at += length + rng.randrange(0, 700)
            ids.append(len(cells))
            cells.append(Cell(f"P{p}-{k}", p, capacity, setup, windows))
        pools.append(Pool(f"P{p}", ids))
    jobs: list[Job] = []
    tasks: list[Task] = []
    reverse = seed % 5 == 4
    for j in range(rng.randint(20, 60) if burst else rng.randint(1, 40)):
        release = rng.randrange(0, 20) if burst else rng.choice([0, rng.randrange(0, horizon)])
        job = Job(f"J{j}", family=rng.choice("ABCD"), category=rng.choice(["compute", "power"]), mw=rng.choice([0.5, 1.0, 2.0]),
                  release=release, due=rng.choice([None, rng.randrange(0, 2 * horizon)]))
        n = 1 if burst else rng.randint(1, 6)
        first = len(tasks)
        index = [first + (n - 1 - k if reverse else k) for k in range(n)]
        made: list[Task | None] = [None] * n
        for k in range(n):
            if burst:  # eligible everywhere, pool 0 the fastest, or another pool's own work
                chosen = list(range(len(pools))) if rng.random() < 0.7 else [rng.randrange(1, len(pools))]
            else:
                chosen = rng.sample(range(len(pools)), rng.randint(1, min(3, len(pools))))
            fast = rng.choice([0, 1, rng.randrange(1, 400), rng.randrange(400, 3_000)])
            modes = [(pool, fast if i == 0 else fast * rng.choice([1, 2, 5]) + rng.randrange(0, 30)) for i, pool in enumerate(chosen)]
            preds = [index[i] for i in range(k) if rng.random() < 0.6]
            made[index[k] - first] = Task(j, f"op{k}", modes, preds, release=rng.choice([0, 0, rng.randrange(0, horizon)]))
        job.tasks = list(range(first, first + n))
        tasks.extend(made)  # type: ignore[arg-type]
        jobs.append(job)
    return Problem(cells, pools, jobs, tasks, horizon, name=f"floor{seed}")


def _digest(value) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def list_cases():
    """case name -> the list scheduler's placements, as (cell, start, end) per task."""
    for seed in range(120):
        problem = random_floor(seed)
        for k, rule in enumerate(RULES):
            if (seed + k) % 3:
                continue
            schedule = list_schedule(problem, rule=rule, seed=seed % 3, objective=("mw", "makespan")[seed % 2])
            yield f"list/{seed}/{rule}", [(a.cell, a.start, a.end) for a in schedule.assignments]
        rng = random.Random(seed)
        ties = [float(rng.randrange(0, 5)) for _ in problem.tasks]
        yield f"list/{seed}/priority", [(a.cell, a.start, a.end) for a in list_schedule(problem, priority=ties).assignments]


def open_work_cases():
    """case name -> dispatch_lists' placements of a re-plan's sub-problem: the units of a random
    subset fixed where a first plan put them (their lanes on bays, their ends as releases), the
    rest planned around them in a random order with ties."""
    for seed in range(120):
        problem = random_floor(1_000 + seed)
        if len(problem.jobs) < 2 or seed % 5 == 4:
            continue
        first = list_schedule(problem, rule="fifo")
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
        placed = {task_index[(a.job, a.op)]: (cell_index[a.cell], a.start, a.end) for a in first.assignments}
        rng = random.Random(seed)
        fixed_jobs = set(rng.sample(range(len(problem.jobs)), rng.randint(1, len(problem.jobs) - 1)))
        fixed = {t: placed[t] for t, task in enumerate(problem.tasks) if task.job in fixed_jobs}
        free = [t for t in range(problem.n_operations) if t not in fixed]
        lists = open_work_lists(problem, fixed, free, not_before=rng.choice([0, 0, 100]))
        ready_at = [max(problem.jobs[problem.tasks[t].job].release, r) for t, r in zip(free, lists.release)]
        family = [problem.jobs[problem.tasks[t].job].family for t in free]
        priority = [float(rng.randrange(0, 2 * len(free))) for _ in free]
        got = dispatch_lists(lists.cells, len(lists.pools), lists.modes, lists.predecessors, ready_at, family, problem.horizon,
                             objective=("mw", "makespan")[seed % 2], priority=priority)
        yield f"open/{seed}", [(lists.cells[c].id, s, e) for c, s, e in got]


def check_cases():
    """case name -> the validator's sentences, in order, for plans broken at random (moved
    earlier or later, stretched, onto another cell, into a window, dropped, two operations'
    places swapped), given as placements per task and as a schedule listing its assignments
    shuffled."""
    for seed in range(60):
        problem = random_floor(2_000 + seed)
        rng = random.Random(seed)
        cell_index = {c.id: i for i, c in enumerate(problem.cells)}
        task_index = {(problem.jobs[t.job].id, t.op): i for i, t in enumerate(problem.tasks)}
        placed: list = [None] * problem.n_operations
        for a in list_schedule(problem, rule="fifo").assignments:
            placed[task_index[(a.job, a.op)]] = (cell_index[a.cell], a.start, a.end)
        placed = broken_at_random(problem, placed, rng)
        tasks, jobs, cells = problem.tasks, problem.jobs, problem.cells
        rows = [Assignment(jobs[tasks[t].job].id, tasks[t].op, cells[p[0]].id, p[1], p[2]) for t, p in enumerate(placed) if p is not None]
        rng.shuffle(rows)
        yield f"check/{seed}", (checker.placed_violations(problem, placed), checker.placed_violations(problem, placed, complete=False),
                                checker.violations(problem, Schedule(rows, problem.horizon)))


def broken_at_random(problem: Problem, placed: list, rng: random.Random) -> list:
    """Placements per task broken at random: moved earlier or later, stretched, onto another
    cell, dropped (test_validate_placed._perturb), then into a window or two tasks' places swapped."""
    placed = _perturb(problem, placed, rng)
    for _ in range(rng.randint(0, 2)):
        t, u = rng.randrange(len(placed)), rng.randrange(len(placed))
        if placed[t] is None or placed[u] is None:
            continue
        c, start, end = placed[t]
        if rng.random() < 0.5 and problem.cells[c].unavailable:
            w_start, _ = rng.choice(problem.cells[c].unavailable)
            placed[t] = (c, w_start, w_start + end - start)
        else:
            placed[t], placed[u] = (placed[u][0], start, end), (c, placed[u][1], placed[u][2])
    return placed


class _Finished(Exception):
    """Every task is done: the host would only tick on (re-plans of nothing) to its step limit."""


def replan_cases():
    """case name -> every re-plan's answer (tasks moved, their cells and starts, sizes) in a
    random host's run (tests.scheduler.test_control.random_host: stops, rework, units early) of
    the loop floor and of the pipeline floor, re-planning every one to three hours, some on
    lateness, with gains from none (everything that starts sooner moves) to half an hour."""
    from plant.demand import orders_for
    from scheduler.control import ControlConfig
    from scheduler.control import snapshot
    from scheduler.problem import build_problem
    from tests.scheduler import test_control as hand

    from plant import load_spec

    pipeline = load_spec(str(Path(__file__).resolve().parents[1] / "specs" / "pipeline.yaml"))  # windows, setups, 8-place bays
    runs = ((hand.loop_floor(), 96, 1, 1, None, 600, 60.0), (hand.loop_floor(), 168, 2, 2, 1800.0, 0, 300.0),
            (hand.loop_floor(), 120, 3, 1, None, 3600, 0.0), (hand.loop_floor(), 168, 4, 3, None, 1200, 1800.0),
            (hand.loop_floor(), 72, 5, 1, 900.0, 600, 120.0), (pipeline, 96, 6, 1, None, 1200, 0.0), (pipeline, 168, 7, 2, 1800.0, 0, 600.0))
    for spec, hours, seed, every, lateness, early, gain in runs:
        problem = build_problem(spec, orders_for(spec, hours), hours * H)
        schedule = list_schedule(problem, rule=("slack", "fifo")[seed % 2])
        config = ControlConfig.policy("replan", move_threshold_s=H, replan_every_s=every * H, replan_lateness_s=lateness, replan_gain_s=gain)
        answers = []
        real = snapshot.replan

        def keep(ctrl, real=real, answers=answers):
            if all(status == 2 for status in ctrl.status):  # DONE
                raise _Finished
            out = real(ctrl)
            answers.append(out)
            return out

        snapshot.replan = keep
        try:
            hand.random_host(spec, schedule, config, seed, early_s=early)
        except _Finished:
            pass
        finally:
            snapshot.replan = real
        yield f"replan/{seed}", answers


def all_cases():
    yield from list_cases()
    yield from open_work_cases()
    yield from check_cases()
    yield from replan_cases()


def _stored() -> dict[str, str]:
    return json.loads(DIGESTS.read_text())


@pytest.mark.parametrize("cases", [list_cases, open_work_cases, check_cases, replan_cases], ids=["list_schedule", "open_work", "validate", "replan"])
def test_decisions_are_what_they_were(cases):
    stored = _stored()
    seen = 0
    for name, value in cases():
        assert _digest(value) == stored[name], f"{name}: a different plan than recorded"
        seen += 1
    assert seen == sum(1 for k in stored if k.split("/")[0] == cases.__name__.split("_")[0])


def test_the_cases_reach_the_rare_paths():
    """The random floors hit what they are there for: bays inside windows, zero-length work,
    predecessors after their task, re-plans that move (stranded work: the test below)."""
    problems = [random_floor(seed) for seed in range(120)]
    moved = [sum(len(changes) for changes, _ in answers) for _, answers in replan_cases()]
    assert min(moved) >= 1 and max(moved) >= 100, moved
    assert any(c.capacity >= 24 and c.unavailable for p in problems for c in p.cells)
    assert any(d == 0 for p in problems for t in p.tasks for _, d in t.modes)
    assert any(q > t for p in problems for t, task in enumerate(p.tasks) for q in task.predecessors)
    stored = _stored()
    assert sum(1 for k in stored if k.startswith("replan/")) == 7


def test_one_stored_case_strands_work():
    """The dispatcher's last resort (work every pool left to another, dispatched plainly once all
    cells are idle) is reached by a stored case: its line runs under a trace."""
    import inspect
    import sys

    import scheduler.construct as construct

    lines, first = inspect.getsourcelines(construct.dispatch_lists)
    last_resort = first + next(i for i, line in enumerate(lines) if line.strip() == "eft = False")
    reached = []

    def trace(frame, event, arg):
        if frame.f_code is not construct.dispatch_lists.__code__:
            return None

        def line(frame, event, arg):
            if event == "line" and frame.f_lineno == last_resort:
                reached.append(True)
            return line
        return line

    stored = _stored()
    problem = random_floor(97)
    for rule in RULES:
        if f"list/97/{rule}" in stored:
            sys.settrace(trace)
            try:
                list_schedule(problem, rule=rule, seed=97 % 3, objective="makespan")
            finally:
                sys.settrace(None)
    assert reached


def test_a_nan_priority_is_refused():
    """A NaN key has no place in the order (a set would place it by its address): refused."""
    problem = random_floor(3)
    ties = [1.0] * len(problem.tasks)
    ties[2] = float("nan")
    with pytest.raises(ValueError, match="priority: task 2 has a NaN key"):
        list_schedule(problem, priority=ties)


def record() -> None:
    DIGESTS.parent.mkdir(exist_ok=True)
    DIGESTS.write_text(json.dumps({name: _digest(value) for name, value in all_cases()}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {DIGESTS}")


if __name__ == "__main__":
    record()
