"""A re-plan's window built in one set of passes (scheduler.control.snapshot.open_work) says what
the general path says about the same floor state: the carried problem it holds as lists, made
into a Problem, gives open_work_lists the same sub-problem (lanes with the pinned work as
windows, modes, predecessors, releases), scheduler.validate the same verdict on the re-plan, and
its topological order from the predecessor lists is scheduler.bounds.topological_order's; and a
re-plan on those lists (the general path, where the compiled dispatcher declines) answers as the
compiled one does."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

import scheduler.construct as construct
from plant import load_spec
from plant.demand import orders_for
from scheduler.bounds import topological_order
from scheduler.construct import list_schedule
from scheduler.control import ControlConfig, snapshot
from scheduler.problem import Job, Problem, Pool, Task, build_problem
from scheduler.subproblem import open_work_lists
from scheduler.validate import Columns, columns_violations, placed_violations
from tests.scheduler import test_control as hand

H = 3600


class _Finished(Exception):
    """Enough re-plans seen: the host need not run to its end."""


def _windows_of_a_run(spec, hours: int, seed: int, every: int, limit: int = 12):
    """The windows of the first `limit` re-plans of a random host's run (stops, rework, units
    early), each with the re-plan's placements and its tasks' earliest starts as built (the
    list scheduler uses that list as working space)."""
    problem = build_problem(spec, orders_for(spec, hours), hours * H)
    schedule = list_schedule(problem, rule="slack")
    config = ControlConfig.policy("replan", move_threshold_s=H, replan_every_s=every * H, replan_gain_s=0.0)
    seen = []
    real_open, real_validate = snapshot.open_work, snapshot.validate_arrays

    def keep_open(ctrl, span):
        window = real_open(ctrl, span)
        seen.append([window, None, list(window.ready_at)])
        return window

    def keep_placed(columns, cell, start, end, *rest, **pins):
        seen[-1][1] = list(zip(cell.tolist(), start.tolist(), end.tolist()))
        real_validate(columns, cell, start, end, *rest, **pins)
        if len(seen) >= limit:
            raise _Finished

    snapshot.open_work, snapshot.validate_arrays = keep_open, keep_placed
    try:
        hand.random_host(spec, schedule, config, seed, early_s=600)
    except _Finished:
        pass
    finally:
        snapshot.open_work, snapshot.validate_arrays = real_open, real_validate
    return seen


@pytest.mark.parametrize("floor, seed", [("loop", 1), ("loop", 4), ("pipeline", 6), ("pipeline", 2)])
def test_window_lists_are_the_general_paths(floor, seed):
    spec = hand.loop_floor() if floor == "loop" else load_spec(str(Path(__file__).resolve().parents[1] / "specs" / "pipeline.yaml"))
    seen = _windows_of_a_run(spec, 96, seed, every=2)
    assert len(seen) >= 3 and any(window.pinned and window.free for window, _, _ in seen)
    for window, placed, ready_at in seen:
        problem = window.problem()
        assert [t.modes for t in problem.tasks] == window.modes and [t.predecessors for t in problem.tasks] == window.preds
        lists = open_work_lists(problem, window.pinned, window.free)
        sub = window.sub_lanes()
        assert [(c.id, c.pool, c.capacity, c.setup, c.unavailable) for c in sub.cells] == [(c.id, c.pool, c.capacity, c.setup, c.unavailable) for c in lists.cells]
        assert [p.cells for p in sub.pools] == [p.cells for p in lists.pools] and sub.cell_index == lists.cell_index
        # The lanes the compiled dispatcher reads (window.sub) are those cells, lane by lane.
        as_lanes = construct._cell_lanes(sub.cells, sub.cell_index)
        assert window.sub.pool_map == sub.pool_map and window.sub.n_pools == len(sub.pools)
        for field in ("lane_pool", "lane_setup", "lane_report"):
            assert getattr(window.sub, field).tolist() == getattr(as_lanes, field).tolist()
        assert [(window.sub.w_s[lo:hi].tolist(), window.sub.w_e[lo:hi].tolist()) for lo, hi in zip(window.sub.lane_wlo, window.sub.lane_whi)] == \
            [(as_lanes.w_s[lo:hi].tolist(), as_lanes.w_e[lo:hi].tolist()) for lo, hi in zip(as_lanes.lane_wlo, as_lanes.lane_whi)]
        assert window.sub_modes == lists.modes and window.sub_preds == lists.predecessors
        jobs, tasks = problem.jobs, problem.tasks
        assert ready_at == [max(jobs[tasks[t].job].release, r) for t, r in zip(window.free, lists.release)]
        assert window.family == [jobs[tasks[t].job].family for t in window.free]
        # A stopped cell back before the work pinned on it ends gets no window: an empty one was
        # a boundary the list scheduler did not see and the check did, and the re-plan failed.
        assert all(e > s for c in sub.cells for s, e in c.unavailable)
        # The columns and the Problem are judged alike, on the re-plan and on a broken copy of it.
        verdict = columns_violations(window.columns(), placed)
        assert verdict == placed_violations(problem, placed) == []
        if window.free:
            broken = list(placed)
            c, s, e = broken[window.free[-1]]
            broken[window.free[-1]] = (c, s - 7, e)
            assert columns_violations(window.columns(), broken) == placed_violations(problem, broken) != []
        assert snapshot._topological_order(window.preds) == topological_order(problem)


def test_a_replan_on_the_general_path_decides_alike(monkeypatch):
    """Where the compiled dispatcher declines (here: as on an interpreter whose sets iterate
    otherwise), a re-plan dispatches its window made into lists (scheduler.control.snapshot's
    _Window on demand) with the Python dispatcher: every re-plan of test_replan_exact's random
    hosts answers as recorded, and the compiled check still judges each."""
    from scheduler import dispatchjit, validatejit
    from tests.scheduler import test_replan_exact as exact

    judged = []
    real_fine = validatejit.fine

    def counted(*args):
        judged.append(True)
        return real_fine(*args)

    def not_called(*args):
        raise AssertionError("the compiled dispatcher ran")

    monkeypatch.setattr(dispatchjit, "sets_iterate_as_reproduced", lambda: False)
    monkeypatch.setattr(dispatchjit, "run", not_called)
    monkeypatch.setattr(validatejit, "fine", counted)
    stored = exact._stored()
    for name, value in exact.replan_cases():
        assert exact._digest(value) == stored[name], f"{name}: a different re-plan than recorded"
    assert len(judged) > 100


@pytest.mark.parametrize("seed", range(20))
def test_topological_order_from_lists_is_the_bounds_one(seed):
    """Random DAGs (predecessors before or after their task) ordered alike; a cycle is refused."""
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    rank = list(range(n))
    rng.shuffle(rank)  # a hidden order the edges respect, so the graph has no cycle
    preds = [[q for q in range(n) if rank[q] < rank[t] and rng.random() < 0.1] for t in range(n)]
    problem = Problem([], [Pool("p", [])], [Job("j", tasks=list(range(n)))], [Task(0, f"op{t}", [(0, 1)], preds[t]) for t in range(n)], 10)
    assert snapshot._topological_order(preds) == topological_order(problem)
    if n > 1:
        a, b = rng.sample(range(n), 2)
        preds[a].append(b)
        preds[b].append(a)
        with pytest.raises(ValueError, match="precedence cycle"):
            snapshot._topological_order(preds)
        with pytest.raises(ValueError, match=r"tasks\[(\d+)\] \(j/op\1\): precedence cycle") as refused:
            topological_order(problem)  # the same lists, now with the cycle: the first stuck task is named
        assert int(str(refused.value).split("]")[0].split("[")[1]) <= min(a, b)


def test_columns_of_a_problem_are_its_fields():
    problem = build_problem(hand.loop_floor(), orders_for(hand.loop_floor(), 8), 8 * H)
    columns = Columns.of(problem)
    assert columns.task_job == [t.job for t in problem.tasks] and columns.task_preds == [t.predecessors for t in problem.tasks]
    assert columns.job_release == [j.release for j in problem.jobs] and columns.job_family == [j.family for j in problem.jobs]
    assert columns.name(3) == f"{problem.jobs[problem.tasks[3].job].id}/{problem.tasks[3].op}"
