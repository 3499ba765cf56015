"""The floor controller on small hand-made floors: a down cell's work moves to a twin cell,
a failed check inserts its rework, look-ahead never breaks precedence, a re-plan keeps started
work where it runs. The controller is driven here by a tiny event host (no SimPy), as the
dispatcher will drive it."""
from __future__ import annotations

import heapq
import random

import pytest

from plant.demand import orders_for
from plant.loader import spec_from_dict
from scheduler.construct import list_schedule
from scheduler.control import (CellDown, CellUp, Completed, ControlConfig, Failed, FloorController, Ready, Tick,
                               control_plan)
from scheduler.control.events import MOVE, REPLAN, REWORK, START
from scheduler.problem import build_problem
from scheduler.schedule import Assignment, Schedule

H = 3600


def floor_spec(**extra):
    raw = {
        "name": "hand",
        "target": {"facility_gw": 0.001, "mw": {"compute": 1.0}},
        "demand": {"rack": 10},
        "products": [{"name": "rack", "family": "rack", "category": "compute", "mw": 0.1, "routing": [
            {"id": "build", "capability": "assemble", "duration": "1h"},
            {"id": "test", "capability": "test", "duration": "1h", "predecessors": ["build"], "first_pass_yield": 0.5,
             "rework_to": "build"},
        ]}],
        "cell_types": [{"name": "arm", "capabilities": {"assemble": 1.0}}, {"name": "tester", "capabilities": {"test": 1.0}}],
        "cells": [{"type": "arm", "count": 2}, {"type": "tester", "count": 1}],
    }
    raw.update(extra)
    return spec_from_dict(raw)


def sequence_plan(spec, jobs: int) -> Schedule:
    """Every build on arm-001 back to back (arm-002 left free), tests after, on the tester."""
    rows = []
    for k in range(jobs):
        job = f"rack#{k + 1:05d}"
        rows.append(Assignment(job, "build", "arm-001", k * H, (k + 1) * H))
        rows.append(Assignment(job, "test", "tester-001", (k + 1) * H, (k + 2) * H))
    return Schedule(rows, horizon=24 * H)


def starts(decisions):
    return [d for d in decisions if d.kind == START]


def test_a_down_cell_moves_its_waiting_work_to_a_twin_cell():
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 3))
    ctrl = FloorController(plan, ControlConfig.policy("repair", move_threshold_s=H, early_s=0.0))
    first = [ctrl.handle(Ready(0, plan.task_of(f"rack#{k:05d}", "build"))) for k in (1, 2, 3)]
    assert [plan.cell_ids[d.cell] for d in starts(first[0])] == ["arm-001"] and not starts(first[1] + first[2])
    out = ctrl.handle(CellDown(600, plan.cell_ids.index("arm-001"), expected_up=10 * H))
    moved = [d for d in out if d.kind == MOVE]
    assert {plan.task_name(d.task) for d in moved} == {"rack#00002/build", "rack#00003/build"}
    assert all(plan.cell_ids[d.cell] == "arm-002" and "arm-001 down" in d.reason for d in moved)
    # The twin cell runs them, in order, when their (re-planned) start comes.
    ran = []
    now = 600
    while ctrl.next_wake < 10 * H and len(ran) < 2:
        now = ctrl.next_wake
        for d in starts(ctrl.handle(Tick(now))):
            ran.append((plan.task_name(d.task), plan.cell_ids[d.cell]))
            ctrl.handle(Completed(now + H, d.task, d.cell))
    assert ran[0] == ("rack#00002/build", "arm-002")


def test_a_short_stop_moves_nothing_and_the_cell_resumes():
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 2))
    ctrl = FloorController(plan, ControlConfig.policy("repair", move_threshold_s=H, early_s=0.0))
    t1, t2 = plan.task_of("rack#00001", "build"), plan.task_of("rack#00002", "build")
    ctrl.handle(Ready(0, t1))
    ctrl.handle(Ready(0, t2))
    arm1 = plan.cell_ids.index("arm-001")
    assert not [d for d in ctrl.handle(CellDown(60, arm1, expected_up=900)) if d.kind == MOVE]
    assert not starts(ctrl.handle(Completed(H, t1, arm1)))  # still down: nothing starts on it
    assert [d.task for d in starts(ctrl.handle(CellUp(H + 60, arm1)))] == [t2]


def test_a_failed_check_inserts_its_rework_before_the_unit_goes_on():
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 1))
    ctrl = FloorController(plan, ControlConfig.policy("repair"))
    build, test = plan.task_of("rack#00001", "build"), plan.task_of("rack#00001", "test")
    arm, tester = plan.cell_ids.index("arm-001"), plan.cell_ids.index("tester-001")
    ctrl.handle(Ready(0, build))
    ctrl.handle(Completed(H, build, arm))
    assert [d.task for d in starts(ctrl.handle(Ready(H, test)))] == [test]
    out = ctrl.handle(Failed(2 * H, test, tester))
    [rework] = [d for d in out if d.kind == REWORK]
    assert rework.detail == ["build", "test"] and "test failed its check" in rework.reason
    # The test cannot start again before its rework is done (precedence), whatever says ready.
    assert not starts(ctrl.handle(Ready(2 * H, test)))
    redo = starts(ctrl.handle(Ready(2 * H, build)))
    assert [d.task for d in redo] == [build] and redo[0].reason.startswith("rework")
    assert [d.task for d in starts(ctrl.handle(Completed(3 * H, build, redo[0].cell)))] == [test]


def test_look_ahead_passes_a_late_head_but_never_a_waiting_predecessor():
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 3))
    ctrl = FloorController(plan, ControlConfig.policy("repair", lookahead=3, early_s=0.0))
    arm = plan.cell_ids.index("arm-001")
    b2, b3 = plan.task_of("rack#00002", "build"), plan.task_of("rack#00003", "build")
    # Unit 1 is late (not here); unit 2's build is due at 1 h and ready: the cell does not idle.
    assert not starts(ctrl.handle(Ready(0, b2)))  # not yet: its planned start is 1 h
    out = starts(ctrl.handle(Tick(H)))
    assert [d.task for d in out] == [b2] and "look-ahead: head rack#00001/build not ready" in out[0].reason
    # Strictly following the plan, the same cell waits for its head.
    blind = FloorController(plan, ControlConfig.policy("blind"))
    blind.handle(Ready(0, b2))
    blind.handle(Ready(0, b3))
    assert not starts(blind.handle(Tick(3 * H)))
    # A successor reported ready before its predecessor completed is never started.
    t3 = plan.task_of("rack#00003", "test")
    assert not starts(ctrl.handle(Ready(H, t3)))
    assert ctrl.status[t3] == 0 and arm >= 0


def random_host(spec, schedule, config, seed: int, downs: bool = True, early_s: float = 0.0):
    """Drive a controller with random durations, failed checks and stops; check on every
    decision that precedence and capacity hold and nothing runs twice at once. Units enter
    up to `early_s` before their planned start (0: at it)."""
    rng = random.Random(seed)
    plan = control_plan(spec, schedule)
    ctrl = FloorController(plan, config)
    done: set[int] = {t for t in range(plan.n_tasks) if plan.t_done[t]}
    running: dict[int, int] = {}
    per_cell = [0] * len(plan.cell_ids)
    down_until = [0.0] * len(plan.cell_ids)
    events: list = []
    seq = 0

    def push(at, ev):
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, ev))

    def ready_if_due(t, at):
        if t not in done and t not in running and all(p in done for p in plan.t_preds[t]):
            push(at + rng.uniform(0, 600), Ready(at, t))

    def apply(decisions, now):
        for d in decisions:
            if d.kind == MOVE and d.task >= 0:
                assert plan.cell_pool[d.cell] in plan.t_pools[d.task], f"{plan.task_name(d.task)} moved to a cell that cannot do it"
                if d.reason.startswith(("repair", "help", "replan")):  # inside the pool; only routing changes it
                    assert plan.cell_ids.index(d.detail["from"]) >= 0
                    assert plan.cell_pool[plan.cell_ids.index(d.detail["from"])] == plan.cell_pool[d.cell]
                if d.reason.startswith("route"):
                    assert not ctrl.arrived[d.task], "a unit is routed before it reaches a station, never after"
            if d.kind != START:
                continue
            t, c = d.task, d.cell
            assert all(p in done for p in plan.t_preds[t]), f"{plan.task_name(t)} started before a predecessor"
            assert t not in running and t not in done
            assert plan.cell_pool[c] in plan.t_pools[t]
            per_cell[c] += 1
            assert per_cell[c] <= plan.cell_capacity[c]
            assert down_until[c] <= now
            running[t] = c
            fails = rng.random() > 0.8
            push(now + (plan.t_end[t] - plan.t_start[t]) * rng.uniform(0.7, 1.6), ("fail" if fails else "done", t, c))

    for j in range(len(plan.jobs)):
        for t in range(plan.job_first[j], plan.n_tasks if j + 1 == len(plan.jobs) else plan.job_first[j + 1]):
            if not plan.t_done[t] and all(p in done for p in plan.t_preds[t]):
                at = max(0.0, plan.t_start[t] - rng.uniform(0, early_s))
                push(at, Ready(at, t))
    if downs:
        for c in range(len(plan.cell_ids)):
            at = rng.uniform(0, 6 * H)
            push(at, ("down", c, at + rng.uniform(0.5, 5) * H))
    now = 0.0
    for _ in range(100000):
        wake = ctrl.next_wake
        if not events and (wake == float("inf") or len(done) == plan.n_tasks):
            break  # (a re-plan interval keeps a wake-up after the last task: nothing is left to decide)
        if events and events[0][0] <= wake:
            now, _, ev = heapq.heappop(events)
        else:
            now, ev = wake, Tick(wake)
        if isinstance(ev, tuple):
            kind, a, b = ev
            if kind == "down":
                down_until[a] = b
                apply(ctrl.handle(CellDown(now, a, b)), now)
                push(b, ("up", a, 0))
                continue
            if kind == "up":
                apply(ctrl.handle(CellUp(now, a)), now)
                continue
            t, c = a, b
            del running[t]
            per_cell[c] -= 1
            if kind == "fail":
                redo = plan.t_rework[t]
                for o in redo:
                    done.discard(o)
                apply(ctrl.handle(Failed(now, t, c)), now)
                ready_if_due(redo[0], now)
            else:
                done.add(t)
                apply(ctrl.handle(Completed(now, t, c)), now)
                for s in plan.t_succs[t]:
                    ready_if_due(s, now)
        else:
            if isinstance(ev, Ready) and (ev.task in done or ev.task in running):
                continue
            apply(ctrl.handle(ev if not isinstance(ev, Ready) else Ready(now, ev.task)), now)
    return plan, ctrl, done


def loop_floor():
    from pathlib import Path

    from plant import load_spec

    return load_spec(str(Path(__file__).resolve().parents[1] / "specs" / "loop.yaml"))


@pytest.mark.parametrize("policy", ["blind", "repair", "replan"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_floors_finish_every_task_without_breaking_precedence_or_capacity(policy, seed):
    spec = loop_floor()
    problem = build_problem(spec, orders_for(spec, 36), 36 * H)
    schedule = list_schedule(problem)
    config = ControlConfig.policy(policy, move_threshold_s=H, replan_every_s=3 * H if policy == "replan" else None)
    plan, ctrl, done = random_host(spec, schedule, config, seed)
    assert done == set(range(plan.n_tasks))  # every operation of every unit, rework included
    if policy == "replan":
        assert any(d.kind == REPLAN and "replan:" in d.reason for d in ctrl.log)
    if policy != "blind":
        assert any(d.kind == MOVE for d in ctrl.log)  # stops of hours moved some work


def started_loop_floor(config: ControlConfig, until: float):
    """The loop floor's 24-unit plan under `config`, every unit's first operations reported
    ready at their planned start before `until`."""
    spec = loop_floor()
    problem = build_problem(spec, orders_for(spec, 24), 24 * H)
    plan = control_plan(spec, list_schedule(problem))
    ctrl = FloorController(plan, config)
    for t in sorted(range(plan.n_tasks), key=lambda t: plan.t_start[t]):
        if not plan.t_preds[t] and plan.t_start[t] < until:
            ctrl.handle(Ready(plan.t_start[t], t))
    return plan, ctrl


def test_a_replan_keeps_started_work_where_it_runs():
    plan, ctrl = started_loop_floor(ControlConfig.policy("replan", replan_every_s=2 * H, replan_lateness_s=None), 2 * H)
    running = {t: ctrl.ran_on[t] for t in range(plan.n_tasks) if ctrl.status[t] == 1}
    assert running
    out = ctrl.handle(Tick(2 * H))
    [replan] = [d for d in out if d.kind == REPLAN]
    assert replan.detail["pinned"] == len(running) and replan.detail["tasks"] > 0
    for t, c in running.items():
        assert ctrl.status[t] == 1 and ctrl.ran_on[t] == c  # pinned: still running, same cell
    assert all(d.task not in running for d in out if d.kind == START)


def two_pool_spec():
    """Cabling is done by cablers (planned) or, slower, by arms: a unit bound for busy cablers
    is routed to a free arm."""
    return floor_spec(
        products=[{"name": "rack", "family": "rack", "category": "compute", "mw": 0.1, "routing": [
            {"id": "build", "capability": "assemble", "duration": "1h"},
            {"id": "cable", "capability": "cable", "duration": "1h", "predecessors": ["build"]},
        ]}],
        cell_types=[{"name": "arm", "capabilities": {"assemble": 1.0, "cable": 1.5}}, {"name": "cabler", "capabilities": {"cable": 1.0}}],
        cells=[{"type": "arm", "count": 2}, {"type": "cabler", "count": 1}])


def test_a_unit_bound_for_a_loaded_pool_is_routed_to_a_free_eligible_one():
    spec = two_pool_spec()
    rows = []
    for k in range(3):
        job = f"rack#{k + 1:05d}"
        rows.append(Assignment(job, "build", "arm-001", k * H, (k + 1) * H))
        rows.append(Assignment(job, "cable", "cabler-001", (k + 1) * H, (k + 2) * H))
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    ctrl = FloorController(plan, ControlConfig.policy("repair"))
    arm1, cabler = plan.cell_ids.index("arm-001"), plan.cell_ids.index("cabler-001")
    b = [plan.task_of(f"rack#{k:05d}", "build") for k in (1, 2, 3)]
    c = [plan.task_of(f"rack#{k:05d}", "cable") for k in (1, 2, 3)]
    ctrl.handle(Ready(0, b[0]))
    ctrl.handle(Completed(H, b[0], arm1))
    assert ctrl.pool_of(c[0]) == plan.cell_pool[cabler]  # cablers idle: it stays as planned
    assert [d.task for d in starts(ctrl.handle(Ready(H, c[0])))] == [c[0]]
    ctrl.handle(Ready(H, b[1]))
    ctrl.handle(Ready(H, b[2]))
    out = ctrl.handle(Completed(2 * H, b[1], arm1))
    # The only cabler is busy and a second arm is free: the unit goes to the arms instead.
    [route] = [d for d in out if d.kind == MOVE and d.reason.startswith("route")]
    assert route.task == c[1] and plan.cell_pool[route.cell] == plan.cell_pool[arm1]
    assert ctrl.pool_of(c[1]) == plan.cell_pool[arm1]
    assert [d.task for d in starts(ctrl.handle(Ready(2 * H, c[1])))] == [c[1]]


def test_a_unit_ahead_of_plan_starts_early_within_early_s_and_never_before_its_predecessor():
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 2))
    build, test = plan.task_of("rack#00002", "build"), plan.task_of("rack#00002", "test")
    arm = plan.cell_ids.index("arm-001")
    strict = FloorController(plan, ControlConfig.policy("repair", early_s=0.0, pool_help=False))
    strict.handle(Ready(0, plan.task_of("rack#00001", "build")))
    strict.handle(Completed(0.5 * H, plan.task_of("rack#00001", "build"), arm))
    assert not starts(strict.handle(Ready(0.5 * H, build)))  # planned at 1 h: waits
    early = FloorController(plan, ControlConfig.policy("repair", early_s=H, pool_help=False))
    early.handle(Ready(0, plan.task_of("rack#00001", "build")))
    early.handle(Completed(0.5 * H, plan.task_of("rack#00001", "build"), arm))
    assert not starts(early.handle(Ready(0.5 * H, test)))  # its build has not run
    assert [d.task for d in starts(early.handle(Ready(0.5 * H, build)))] == [build]


def test_a_replan_moves_only_what_it_starts_sooner_and_never_onto_a_stopped_cell():
    plan, ctrl = started_loop_floor(ControlConfig.policy("replan", replan_every_s=2 * H, replan_lateness_s=None), H)
    stopped = next(c for c in range(len(plan.cell_ids)) if ctrl.running[c] == 0 and plan.cell_capacity[c] == 1
                   and any(ctrl.cell[t] == c for t in range(plan.n_tasks) if ctrl.status[t] == 0))
    ctrl.handle(CellDown(H, stopped, expected_up=20 * H))
    before = list(ctrl.cell)
    out = ctrl.handle(Tick(2 * H))
    [replan] = [d for d in out if d.kind == REPLAN]
    moved = [t for t in range(plan.n_tasks) if ctrl.cell[t] != before[t]]
    assert replan.detail["moved"] == len(moved) and replan.detail["moved"] < replan.detail["tasks"]
    assert all(ctrl.cell[t] != stopped for t in moved)
    for t in moved:
        assert plan.cell_pool[ctrl.cell[t]] in plan.t_pools[t]


def test_a_lateness_replan_that_moves_nothing_waits_longer_before_the_next():
    _, ctrl = started_loop_floor(ControlConfig.policy("replan", replan_every_s=None, replan_lateness_s=600.0, replan_min_gap_s=H), H)
    fired = []
    for k in range(1, 12):  # the floor keeps drifting: the trigger stays armed
        ctrl.lateness = 2 * H
        fired += [(k, d.detail["moved"]) for d in ctrl.handle(Tick(k * H)) if d.kind == REPLAN]
    assert fired and fired[0][0] == 1, fired
    assert len(fired) < 11 or all(m for _, m in fired), fired  # not every hour unless every re-plan gained
    for (k1, moved), (k2, _) in zip(fired, fired[1:]):
        # after a re-plan that moved nothing the gap doubles; after one that moved work it is back to 1 h
        assert k2 - k1 >= (1 if moved else 2)


def test_a_due_task_beyond_the_look_ahead_runs_on_its_own_free_cell_before_a_twin():
    spec = floor_spec()
    rows = [Assignment(f"rack#{k + 1:05d}", "build", "arm-002", k * H, (k + 1) * H) for k in range(3)]
    rows += [Assignment(f"rack#{k + 1:05d}", "test", "tester-001", (k + 1) * H, (k + 2) * H) for k in range(3)]
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    ctrl = FloorController(plan, ControlConfig.policy("repair", lookahead=1, early_s=0.0))
    b2 = plan.task_of("rack#00002", "build")
    out = ctrl.handle(Ready(H, b2))  # its head (unit 1) is late; both arms are free
    [start] = starts(out)
    assert start.task == b2 and plan.cell_ids[start.cell] == "arm-002" and not [d for d in out if d.kind == MOVE]


@pytest.mark.parametrize("wait", [0.0, 600.0])
def test_a_unit_waits_for_its_own_cell_when_it_frees_within_help_wait(wait):
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 2))
    ctrl = FloorController(plan, ControlConfig.policy("repair", early_s=0.0, help_wait_s=wait))
    b1, b2 = plan.task_of("rack#00001", "build"), plan.task_of("rack#00002", "build")
    arm1 = plan.cell_ids.index("arm-001")
    assert [d.cell for d in starts(ctrl.handle(Ready(0, b1)))] == [arm1]
    out = starts(ctrl.handle(Ready(H, b2)))  # due; arm-001 should be done about now (b1 runs late); arm-002 is free
    if wait:
        assert not out
        assert [(d.task, d.cell) for d in starts(ctrl.handle(Completed(H + 300, b1, arm1)))] == [(b2, arm1)]
    else:
        assert [(d.task, plan.cell_ids[d.cell]) for d in out] == [(b2, "arm-002")]


def test_a_unit_there_early_goes_to_a_free_twin_when_its_last_predecessor_completes():
    """A host may report a unit at its next station before the operation it comes from is done
    (a dispatcher whose cells say so early). When that operation completes, the unit is ready and
    due while its own cell is busy: a free twin of its pool takes it, as on arrival, not only when
    that twin next has an event of its own."""
    spec = floor_spec(cells=[{"type": "arm", "count": 1}, {"type": "tester", "count": 2}])
    rows = [Assignment("rack#00002", "build", "arm-001", 0, H), Assignment("rack#00002", "test", "tester-001", H, 2 * H),
            Assignment("rack#00001", "build", "arm-001", H, 2 * H), Assignment("rack#00001", "test", "tester-001", 2 * H, 3 * H)]
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    b1, t1 = plan.task_of("rack#00001", "build"), plan.task_of("rack#00001", "test")
    b2, t2 = plan.task_of("rack#00002", "build"), plan.task_of("rack#00002", "test")
    arm, tester1 = plan.cell_ids.index("arm-001"), plan.cell_ids.index("tester-001")
    ctrl = FloorController(plan, ControlConfig.policy("repair", early_s=0.0, help_wait_s=0.0))
    assert [d.task for d in starts(ctrl.handle(Ready(0, b2)))] == [b2]
    ctrl.handle(Completed(H, b2, arm))
    assert [d.task for d in starts(ctrl.handle(Ready(H, t2)))] == [t2]  # tester-001 busy until it completes (late)
    assert [d.task for d in starts(ctrl.handle(Ready(H, b1)))] == [b1]
    assert not starts(ctrl.handle(Ready(H + 60, t1)))  # there early: its build still runs
    out = ctrl.handle(Completed(2 * H, b1, arm))
    assert [(d.task, plan.cell_ids[d.cell]) for d in starts(out)] == [(t1, "tester-002")]
    assert [plan.task_name(d.task) for d in out if d.kind == MOVE] == ["rack#00001/test"]
    # Not due yet (its planned start ahead): it waits for its own cell's sequence, as on arrival.
    ctrl = FloorController(plan, ControlConfig.policy("repair", early_s=0.0, help_wait_s=0.0))
    for event in (Ready(0, b2), Completed(H, b2, arm), Ready(H, t2), Ready(H, b1), Ready(H + 60, t1)):
        ctrl.handle(event)
    assert not starts(ctrl.handle(Completed(2 * H - 600, b1, arm)))
    assert ctrl.status[t1] == 0 and tester1 >= 0


def branch_spec():
    """o0 -> o1 -> {o2, o3}: o2 fails back to o1, o3 repeats itself; one cell type each step."""
    step = {"duration": "1h", "first_pass_yield": 0.5}
    return spec_from_dict({
        "name": "branch", "target": {"facility_gw": 0.001, "mw": {"compute": 1.0}}, "demand": {"rack": 10},
        "products": [{"name": "rack", "family": "rack", "category": "compute", "mw": 0.1, "routing": [
            {"id": "o0", "capability": "a", "duration": "1h"},
            {"id": "o1", "capability": "a", "duration": "1h", "predecessors": ["o0"]},
            {"id": "o2", "capability": "b", "predecessors": ["o1"], "rework_to": "o1", **step},
            {"id": "o3", "capability": "c", "predecessors": ["o1"], **step},
        ]}],
        "cell_types": [{"name": k, "capabilities": {k: 1.0}} for k in "abc"],
        "cells": [{"type": k, "count": 1} for k in "abc"]})


@pytest.mark.parametrize("policy", ["blind", "repair"])
def test_two_overlapping_redos_count_the_redone_predecessor_once(policy):
    """o2 fails (o1 goes back) while o3 runs, then o3 fails too: o3 waits for o1's redo, and when
    o1 completes it is startable (its open-predecessor count is re-derived, never decremented
    twice: it was -1 and o3 never started)."""
    spec = branch_spec()
    job = "rack#00001"
    plan = control_plan(spec, Schedule([Assignment(job, "o0", "a-001", 0, H), Assignment(job, "o1", "a-001", H, 2 * H),
                                        Assignment(job, "o2", "b-001", 2 * H, 3 * H),
                                        Assignment(job, "o3", "c-001", 2 * H, 3 * H)], horizon=24 * H))
    ctrl = FloorController(plan, ControlConfig.policy(policy))
    o0, o1, o2, o3 = (plan.task_of(job, f"o{k}") for k in range(4))
    a, b, c = (plan.cell_ids.index(f"{k}-001") for k in "abc")
    ctrl.handle(Ready(0, o0))
    ctrl.handle(Completed(H, o0, a))
    ctrl.handle(Ready(H, o1))
    ctrl.handle(Completed(2 * H, o1, a))
    assert {d.task for d in starts(ctrl.handle(Ready(2 * H, o2)) + ctrl.handle(Ready(2 * H, o3)))} == {o2, o3}
    ctrl.handle(Failed(2.5 * H, o2, b))  # o1 goes back; o3 is running
    ctrl.handle(Failed(2.6 * H, o3, c))  # o3 goes back too, behind o1's redo
    assert ctrl.preds_left[o3] == 1 and ctrl.preds_left[o2] == 1
    assert not starts(ctrl.handle(Ready(2.6 * H, o3)))  # there, but o1 is being redone
    [redo] = starts(ctrl.handle(Ready(2.6 * H, o1)))
    assert redo.task == o1
    out = starts(ctrl.handle(Completed(3.6 * H, o1, redo.cell)))
    assert ctrl.preds_left[o3] == 0 and ctrl.preds_left[o2] == 0
    assert [d.task for d in out] == [o3]  # there and startable; o2 is not there yet
    assert [d.task for d in starts(ctrl.handle(Ready(3.6 * H, o2)))] == [o2]


def test_a_redo_of_a_sibling_still_waiting_or_running_is_no_second_copy():
    """o2 fails back to o3, its sibling (rework_to not an ancestor): while o3 runs, that run is
    the redo (no second start on a free twin cell); a redo of o3 still waiting is the waiting
    task itself (no second entry in the rework queue, its place in its sequence kept)."""
    spec = branch_spec()
    spec = spec.model_copy(update={"products": [spec.products[0].model_copy(update={"routing": [
        op.model_copy(update={"rework_to": "o3"}) if op.id == "o2" else op for op in spec.products[0].routing]})],
        "cells": [c.model_copy(update={"count": 2}) for c in spec.cells]})
    rows = []
    for k in (1, 2):
        job, cell = f"rack#0000{k}", f"-00{k}"
        rows += [Assignment(job, "o0", "a" + cell, 0, H), Assignment(job, "o1", "a" + cell, H, 2 * H),
                 Assignment(job, "o2", "b" + cell, 2 * H, 3 * H), Assignment(job, "o3", "c" + cell, 2 * H, 3 * H)]
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    ctrl = FloorController(plan, ControlConfig.policy("repair"))
    units = []
    for k in (1, 2):
        o0, o1, o2, o3 = tasks = [plan.task_of(f"rack#0000{k}", f"o{i}") for i in range(4)]
        a = plan.cell_ids.index(f"a-00{k}")
        assert [d.task for d in starts(ctrl.handle(Ready(0, o0)))] == [o0]
        ctrl.handle(Completed(H, o0, a))
        assert [d.task for d in starts(ctrl.handle(Ready(H, o1)))] == [o1]
        ctrl.handle(Completed(2 * H, o1, a))
        units.append(tasks)
    u1, u2 = units
    b1, b2 = plan.cell_ids.index("b-001"), plan.cell_ids.index("b-002")
    # Unit 1: o2 and o3 run; o2 fails back to o3, which is running (c-002 is free).
    assert {d.task for d in starts(ctrl.handle(Ready(2 * H, u1[2])) + ctrl.handle(Ready(2 * H, u1[3])))} == {u1[2], u1[3]}
    out = ctrl.handle(Failed(2.5 * H, u1[2], b1))
    assert u1[3] not in [d.task for d in starts(out)] and ctrl.status[u1[3]] == 1  # o3 runs on, started once
    # Unit 2: o3 not there yet (waiting) when o2 fails back to it.
    assert [d.task for d in starts(ctrl.handle(Ready(2 * H, u2[2])))] == [u2[2]]
    ctrl.handle(Failed(2.5 * H, u2[2], b2))
    pool_c = plan.cell_pool[plan.cell_ids.index("c-002")]
    assert u2[3] not in ctrl.rework_queue[pool_c] and ctrl.stamp[u2[3]] > 0  # still in its sequence, once
    assert [ctrl.preds_left[t] for t in (u1[2], u1[3], u2[2], u2[3])] == [0, 0, 0, 0]
    assert [d.task for d in starts(ctrl.handle(Ready(2.5 * H, u2[3])))] == [u2[3]]


def test_the_summary_counts_each_kind_and_reason_as_the_log_has_them():
    """summary() counts the log's (kind, reason) pairs by reason: the same counts, in the same order
    of first appearance, as a Counter of the pairs, also when a reason comes with a second kind."""
    from collections import Counter
    from operator import itemgetter

    from scheduler.control.controller import _pair_counts

    def reference(rows):
        return list(Counter(zip(map(itemgetter(1), rows), map(itemgetter(2), rows))).items())

    rows = [(0, START, "plan: a", 1, 2, None), (0, MOVE, "help: b", 1, 3, None), (1, START, "plan: a", 4, 2, None),
            (2, MOVE, "help: b", 5, 3, None), (3, REWORK, "rework: c", 5, 3, [])]
    assert _pair_counts(rows) == reference(rows) and _pair_counts([]) == []
    rows += [(4, START, "help: b", 6, 1, None), (5, START, "plan: a", 7, 2, None)]  # "help: b" a start too
    assert _pair_counts(rows) == reference(rows)
    spec = floor_spec()
    plan = control_plan(spec, sequence_plan(spec, 3))
    ctrl = FloorController(plan, ControlConfig.policy("repair", early_s=0.0))
    for k in (1, 2, 3):
        ctrl.handle(Ready(0, plan.task_of(f"rack#{k:05d}", "build")))
    assert ctrl.summary()["decisions"] == dict(Counter(row[1] for row in ctrl.log.rows)) and ctrl.log.rows
