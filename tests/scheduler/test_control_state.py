"""The controller's bookkeeping, checked after every event on random floors: the indexes its hot
path keeps (waiting units per pool and their heap, wake-ups, the decision log) always say what
a scan of the plain state would say; and state built once per plan is never shared."""
from __future__ import annotations

import bisect
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.scheduler.test_control as hand
from plant.demand import orders_for
from scheduler.construct import list_schedule
from scheduler.control import (Completed, ControlConfig, DecisionLog, Failed, FloorController, PoolFull, Ready, Started, Tick,
                               control_plan)
from scheduler.control.controller import RUNNING, WAITING
from scheduler.control.events import START, Decision
from scheduler.problem import build_problem
from scheduler.schedule import Assignment, Schedule

H = 3600


class EveryWake(list):
    """A controller's `_wake_of` that never matches: every wake-up is pushed, duplicates too."""

    def __getitem__(self, c):
        return math.nan

    def __setitem__(self, c, wake):
        pass


def scan_earliest(ctrl: FloorController, pool: int) -> int:
    """The full-buffer rule's choice by a scan of the waiting set (earliest start, then task id)."""
    members, left, status, start = ctrl.waiting_in_pool[pool], ctrl.preds_left, ctrl.status, ctrl.start
    return min((t for t in members if left[t] == 0 and status[t] == WAITING), key=lambda t: (start[t], t), default=-1)


class Checked(FloorController):
    """A controller that checks its indexes against a scan after each event, runs in lockstep
    with a shadow controller that scans instead of using them (and pushes every wake-up), and
    now and then hears that a pool's input is full (so the full-buffer rule runs here too) or
    that a unit is at its station before its last predecessor's completion is reported, or
    that a person started a waiting task on another free cell of its pool."""

    rng = random.Random(0)
    early_ready = 0.1  # chance per event of an early Ready, and of a Started by hand
    started_by_hand = 0.05

    def __init__(self, plan, config=None):
        super().__init__(plan, config)
        self.shadow = FloorController(plan, config)
        self.shadow._wake_of = EveryWake()
        self.shadow._earliest_waiting = lambda pool: scan_earliest(self.shadow, pool)
        self.shadow._memo = False  # every pick runs: the memo must change no decision

    def handle(self, event):
        out = []
        if self.rng.random() < 0.2:
            pool = self.rng.randrange(len(self.plan.pool_names))
            out += self._checked(PoolFull(event.time, pool, not self.full[pool]))
        if self.rng.random() < self.early_ready:
            # A unit reported at its next station early (a real cell may see it before the
            # completion upstream is reported): arrived, it starts once the predecessor is done.
            early = [t for t in range(self.plan.n_tasks) if self.status[t] == WAITING and self.preds_left[t] == 1
                     and not self.arrived[t] and all(self.status[p] != WAITING for p in self.plan.t_preds[t])]
            if early:
                out += self._checked(Ready(event.time, self.rng.choice(early)))
        if self.rng.random() < self.started_by_hand:
            # Work a person started on a free cell of its pool, not its planned one (the host
            # treats the returned start as its own).
            plan = self.plan
            waiting = [t for t in range(plan.n_tasks) if self.status[t] == WAITING and self.preds_left[t] == 0 and self.arrived[t]]
            if waiting:
                t = self.rng.choice(waiting)
                free = [c for c in plan.pool_cells[self.pool_of(t)]
                        if c != self.cell[t] and self.up[c] and self.running[c] < plan.cell_capacity[c]]
                if free:
                    out += self._checked(Started(event.time, t, self.rng.choice(free)))
        if type(event) is Ready and self.status[event.task] != WAITING:
            return out  # the host's own report of a unit reported early (or started by hand) since: a duplicate
        return out + self._checked(event)

    def _checked(self, event):
        before = len(self.log)
        out = super().handle(event)
        assert [astuple(d) for d in self.log[before:]] == [astuple(d) for d in out], "the log is what handle returned"
        # The same decisions as the scanning shadow (cpu_s in a detail is a timing, not a decision).
        assert [astuple(d)[:5] for d in out] == [astuple(d)[:5] for d in self.shadow.handle(event)]
        assert {w for w in self._wakes if w[0] > self.now} == {w for w in self.shadow._wakes if w[0] > self.now}
        same_sequences(self, self.shadow)
        check_indexes(self)
        return out


def same_sequences(fast: FloorController, plain: FloorController) -> None:
    """The memo leaves every sequence as the scans leave it: the open pointer and the holes
    dropped at the same picks (later moves bisect the sequences, holes included)."""
    for c, (a, b) in enumerate(zip(fast._cells, plain._cells)):
        assert (a.ptr, a.seq) == (b.ptr, b.seq), f"cell {c}: the sequence's layout differs from the scanning controller's"


def astuple(d: Decision) -> tuple:
    return (d.time, d.kind, d.reason, d.task, d.cell, d.detail)


def scan_open(ctrl: FloorController, limit: float) -> set[int]:
    """open_before by a scan of every task."""
    return {t for t in range(ctrl.plan.n_tasks) if ctrl.plan.t_problem[t] >= 0 and (
        ctrl.status[t] == RUNNING or (ctrl.status[t] == WAITING and not ctrl.in_rework[t] and ctrl.start[t] < limit))}


def check_indexes(ctrl: FloorController) -> None:
    status, left, start = ctrl.status, ctrl.preds_left, ctrl.start
    for ahead in (0.0, H, 8 * H, math.inf):
        assert ctrl.open_before(ctrl.now + ahead) == scan_open(ctrl, ctrl.now + ahead), "open_before disagrees with a scan"
    for pool, members in enumerate(ctrl.waiting_in_pool):
        for t in members:
            assert ctrl.waiting_pool[t] == pool, "a task in a pool's waiting set is recorded elsewhere"
            assert status[t] == WAITING, "a started or finished task still waits in a pool"
        assert ctrl._earliest_waiting(pool) == scan_earliest(ctrl, pool), "the full-buffer heap disagrees with a scan"
    for pool, idle in enumerate(ctrl.idle):
        assert not idle or ctrl._first_idle(pool) == min(idle), "the idle-cell heap disagrees with the idle set"
    for t, pool in enumerate(ctrl.waiting_pool):
        assert pool < 0 or t in ctrl.waiting_in_pool[pool]
        if ctrl.arrived[t] and status[t] == WAITING:
            assert pool >= 0, "a unit that is there and waits is in no pool's waiting set"
    if ctrl.config.pool_help:  # every unit there, waiting in a sequence, is in its pool's help order
        queued = {t for heap in ctrl.ready_heap for _, t in heap}
        assert all(t in queued for t in range(ctrl.plan.n_tasks)
                   if ctrl.arrived[t] and status[t] == WAITING and not ctrl.in_rework[t] and ctrl.stamp[t] > 0)
    for c, seq in enumerate(ctrl.seq):
        for _, st, t in seq:
            if ctrl.stamp[t] == st:
                assert ctrl.cell[t] == c and status[t] == WAITING, "a task lives in a sequence not its cell's, or has started"
    queued = set(ctrl._wakes)
    for c, wake in enumerate(ctrl._wake_of):
        if wake > ctrl.now and wake != float("inf"):
            assert (wake, c) in queued, "a wake-up skipped as a duplicate is not queued"
    assert ctrl.starts == sum(1 for d in ctrl.log if d.kind == START)
    on_cell = [0] * len(ctrl.plan.cell_ids)  # the views kept per _Cell and _Pool, against a scan of the tasks
    for t, st in enumerate(status):
        if st == RUNNING:
            on_cell[ctrl.ran_on[t]] += 1
    assert ctrl.running == on_cell, "a cell's running count disagrees with its running tasks"
    assert ctrl.pool_busy == [sum(on_cell[c] for c in cells) for cells in ctrl.plan.pool_cells], "pool_busy disagrees"
    for cells in ctrl.plan.pool_cells:  # a cell-down repair's question, from the cells' starts
        assert ctrl.running_tasks(cells) == [t for t, st in enumerate(status) if st == RUNNING and ctrl.ran_on[t] in cells]


@pytest.mark.parametrize("policy", ["blind", "repair", "replan"])
@pytest.mark.parametrize("seed", [4, 5])
def test_indexes_agree_with_a_scan_after_every_event(policy, seed, monkeypatch):
    spec = hand.loop_floor()
    problem = build_problem(spec, orders_for(spec, 24), 24 * H)
    # Re-plans on lateness only: a re-plan every few hours would keep the host's clock running forever.
    config = ControlConfig.policy(policy, move_threshold_s=H, replan_every_s=None, replan_lateness_s=600.0)
    Checked.rng = random.Random(seed)
    monkeypatch.setattr(hand, "FloorController", Checked)
    plan, ctrl, done = hand.random_host(spec, list_schedule(problem), config, seed)
    assert isinstance(ctrl, Checked)
    assert done == set(range(plan.n_tasks))
    assert any(d.reason.startswith("buffer full") for d in ctrl.log) or policy != "blind"


@pytest.mark.parametrize("policy", ["blind", "repair", "replan"])
@pytest.mark.parametrize("seed", range(6))
def test_indexes_hold_when_cells_report_early_or_start_work_themselves(policy, seed, monkeypatch):
    """The same lockstep, with many early arrivals and hand-started tasks: the paths that move
    a unit that is there and ready between sequences and pools."""
    spec = hand.loop_floor()
    problem = build_problem(spec, orders_for(spec, 48), 48 * H)
    config = ControlConfig.policy(policy, move_threshold_s=H, replan_every_s=None, replan_lateness_s=600.0)
    monkeypatch.setattr(Checked, "rng", random.Random(100 + seed))
    monkeypatch.setattr(Checked, "early_ready", 0.4)
    monkeypatch.setattr(Checked, "started_by_hand", 0.3)
    monkeypatch.setattr(hand, "FloorController", Checked)
    plan, ctrl, done = hand.random_host(spec, list_schedule(problem), config, seed)
    assert done == set(range(plan.n_tasks))
    assert any(d.reason.startswith("reported") for d in ctrl.log) or policy != "blind"


@pytest.mark.parametrize("policy", ["blind", "repair"])
@pytest.mark.parametrize("seed", range(4))
def test_the_pick_memo_changes_no_decision_when_units_come_early(policy, seed, monkeypatch):
    """Units entering hours before their planned start, with no early-start allowance: work
    waits in the pools' help order and cells stay free with nothing to start, so the memo of a
    free cell's last pick (skipped picks on arrivals, shared pool results) is used most; the
    shadow picks every time."""
    spec = hand.loop_floor()
    problem = build_problem(spec, orders_for(spec, 36), 36 * H)
    config = ControlConfig.policy(policy, early_s=0.0, move_threshold_s=H, replan_every_s=None)
    monkeypatch.setattr(Checked, "rng", random.Random(200 + seed))
    monkeypatch.setattr(Checked, "early_ready", 0.3)
    monkeypatch.setattr(Checked, "started_by_hand", 0.0)
    monkeypatch.setattr(hand, "FloorController", Checked)
    plan, ctrl, done = hand.random_host(spec, list_schedule(problem), config, seed, early_s=6 * H)
    assert done == set(range(plan.n_tasks))


def test_a_controller_starts_from_the_plan_whatever_ran_before_on_it():
    """The state at time 0 is built once per plan and copied: running one controller must not
    change what the next one starts from."""
    spec = hand.loop_floor()
    schedule = list_schedule(build_problem(spec, orders_for(spec, 12), 12 * H))
    plan = control_plan(spec, schedule)
    fresh = FloorController(control_plan(spec, schedule))
    used = FloorController(plan)
    for t in sorted(range(plan.n_tasks), key=lambda t: plan.t_start[t]):
        if not plan.t_preds[t]:
            used.handle(hand.Ready(plan.t_start[t], t))
    assert used.starts > 0
    again = FloorController(plan)
    for name in ("status", "preds_left", "stamp", "seq", "cell", "start"):
        assert getattr(again, name) == getattr(fresh, name), name


def test_a_plan_copied_with_other_starts_sorts_its_own_open_before_order():
    """open_before's order by planned start is made once per plan: a copy with other starts
    (dataclasses.replace) must not read the original's."""
    import dataclasses

    spec = hand.loop_floor()
    schedule = list_schedule(build_problem(spec, orders_for(spec, 12), 12 * H))
    plan = control_plan(spec, schedule)
    replan = ControlConfig.policy("replan")
    FloorController(plan, replan).open_before(6 * H)  # the original's order is made
    later = dataclasses.replace(plan, t_start=[s + (5 * H if t % 2 else 0) for t, s in enumerate(plan.t_start)], start_state=None)
    ctrl = FloorController(later, replan)
    for limit in (H, 6 * H, 20 * H):
        assert ctrl.open_before(limit) == scan_open(ctrl, limit)


def test_a_decision_as_a_dict_is_a_copy_of_its_detail():
    """Moves from one cell share their detail dict: a consumer editing one's must not edit all."""
    shared = {"from": "a"}
    one, two = Decision(1.0, "move", "help", 5, 6, shared), Decision(2.0, "move", "help", 7, 6, shared)
    one.to_dict()["detail"]["from"] = "edited"
    assert two.to_dict()["detail"] == {"from": "a"}


def test_the_decision_log_reads_back_as_decisions():
    log = DecisionLog()
    decisions = [Decision(1.0, START, "plan", 3, 4), Decision(2.0, "move", "help", 5, 6, {"from": "a"})]
    for d in decisions:
        log.append(d)
    assert len(log) == 2 and list(log) == decisions and log[-1] == decisions[-1] and log[1:] == decisions[1:]


def assign_one_by_one(ctrl: FloorController, t: int, c: int, start: float) -> None:
    """One move as the controller made it before moves were applied in one pass: the reference
    _assign_all must match (bisect into the cell's sequence, never before its open part)."""
    old = ctrl.cell[t]
    ctrl.cell[t] = c
    ctrl.start[t] = start
    oc, cs = ctrl._cells[old], ctrl._cells[c]
    oc.wtok = oc.armed = cs.wtok = cs.armed = 0
    if ctrl.arrived[t]:
        ctrl._pools[ctrl._cpool[old]].top_ver += 1
        ctrl._pools[ctrl._cpool[c]].top_ver += 1
    ctrl._off_order.append(t)
    ctrl._stamps += 1
    ctrl.stamp[t] = ctrl._stamps
    ctrl.in_rework[t] = False
    pool = ctrl.waiting_pool[t]
    if pool >= 0 and ctrl.full[pool]:
        ctrl.buffer_heap[pool].append((ctrl.start[t], t))  # compared as a multiset below
    k = bisect.bisect_left(cs.seq, (start, ctrl._stamps, t))
    cs.seq.insert(max(k, cs.ptr), (start, ctrl._stamps, t))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_a_batch_of_moves_leaves_the_sequences_one_move_at_a_time_would(seed, rounds):
    """A re-plan's moves applied in one pass (_assign_all) leave every sequence, stamp, memo,
    help version and full-buffer entry as moving the tasks one by one does, also when cells have
    a consumed prefix (entries before the open part, where no move may land) and a task moves
    twice in a batch or back to its own cell."""
    rng = random.Random(seed)
    spec = hand.loop_floor()
    plan = control_plan(spec, list_schedule(build_problem(spec, orders_for(spec, 8), 8 * H)))
    batch, ref = FloorController(plan), FloorController(plan)
    pools = plan.cell_pool
    for ctrl in (batch, ref):
        r = random.Random(seed)
        for c, cs in enumerate(ctrl._cells):  # a consumed prefix: the first entries started
            for _ in range(r.randint(0, min(3, len(cs.seq)))):
                if cs.ptr < len(cs.seq):
                    ctrl.stamp[cs.seq[cs.ptr][2]] = 0
                    cs.ptr += 1
            cs.wtok = cs.armed = 7
        for t in r.sample(range(plan.n_tasks), plan.n_tasks // 3):
            ctrl.arrived[t] = True
        ctrl._set_full(0, True)
        for t in r.sample(range(plan.n_tasks), plan.n_tasks // 4):
            ctrl._wait_in(pools[ctrl.cell[t]], t)
    movable = [t for t in range(plan.n_tasks) if plan.t_cell[t] >= 0]
    for _ in range(rounds):
        moves = []
        for t in rng.sample(movable, rng.randint(1, min(12, len(movable)))) + rng.sample(movable, 1):
            twins = plan.pool_cells[pools[batch.cell[t]]]
            moves.append((t, rng.choice(twins), float(rng.choice([0, rng.randint(0, 8 * H)]))))
        batch._assign_all(moves)
        for move in moves:
            assign_one_by_one(ref, *move)
        for name in ("cell", "start", "stamp", "in_rework", "_off_order", "_stamps"):
            assert getattr(batch, name) == getattr(ref, name), name
        for c, (a, b) in enumerate(zip(batch._cells, ref._cells)):
            assert a.seq == b.seq and a.ptr == b.ptr, f"cell {c}: sequence"
            assert (a.wtok, a.armed) == (b.wtok, b.armed), f"cell {c}: memo"
        assert [p.top_ver for p in batch._pools] == [p.top_ver for p in ref._pools]
        assert [sorted(h) for h in batch.buffer_heap] == [sorted(h) for h in ref.buffer_heap]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["wait", "start", "retime", "block", "unblock", "fill", "drain"]), st.integers(0, 4),
                          st.integers(0, 1), st.integers(0, 5)), max_size=40))
def test_the_full_buffer_heap_follows_arrivals_starts_and_new_times(steps):
    """Units arrive in pools, start, get new planned starts (repair, re-plan) and wait for a
    predecessor again (rework), and buffers fill and drain (the heap is kept only while full,
    built from the waiting set when the buffer fills), in any order: the heap's choice is always
    the scan's."""
    spec = hand.loop_floor()
    plan = control_plan(spec, list_schedule(build_problem(spec, orders_for(spec, 8), 8 * H)))
    ctrl = FloorController(plan)
    tasks = [t for t in range(plan.n_tasks) if not plan.t_preds[t]][:5]  # units' first operations: ready unless blocked
    for kind, k, pool, value in steps:
        t, pool = tasks[k % len(tasks)], pool % len(plan.pool_names)
        if kind == "wait" and ctrl.status[t] == WAITING:
            ctrl._wait_in(pool, t)
        elif kind == "start" and ctrl.status[t] == WAITING:
            ctrl.status[t] = 1
            ctrl._leave_pool(t)
        elif kind == "retime":  # as a repair or re-plan re-times it: on its own cell, a new start
            ctrl._assign(t, ctrl.cell[t], float(value * 600))
        elif kind == "block":
            ctrl.preds_left[t] += 1
        elif kind == "unblock" and ctrl.preds_left[t] > 0:
            ctrl.preds_left[t] -= 1
        elif kind in ("fill", "drain"):
            ctrl._set_full(pool, kind == "fill")
        for p in range(len(plan.pool_names)):
            assert ctrl._earliest_waiting(p) == scan_earliest(ctrl, p)
    assert not any(ctrl.buffer_heap[p] for p in range(len(plan.pool_names)) if not ctrl.full[p]), "a heap kept for a pool with room"


def test_a_redone_predecessor_holds_back_a_successor_that_is_there():
    """build -> test (rework to build) and build -> pack: pack is there and ready, waiting for its
    planned start, when test fails its check; build is redone, so pack is no longer ready."""
    spec = hand.floor_spec(products=[{"name": "rack", "family": "rack", "category": "compute", "mw": 0.1, "routing": [
        {"id": "build", "capability": "assemble", "duration": "1h"},
        {"id": "test", "capability": "test", "duration": "1h", "predecessors": ["build"], "first_pass_yield": 0.5, "rework_to": "build"},
        {"id": "pack", "capability": "assemble", "duration": "1h", "predecessors": ["build"]}]}])
    plan = control_plan(spec, Schedule([Assignment("rack#00001", "build", "arm-001", 0, H),
                                        Assignment("rack#00001", "test", "tester-001", H, 2 * H),
                                        Assignment("rack#00001", "pack", "arm-002", 5 * H, 6 * H)], horizon=24 * H))
    ctrl = FloorController(plan, ControlConfig.policy("blind"))
    build, test, pack = (plan.task_of("rack#00001", op) for op in ("build", "test", "pack"))
    arm1, tester = plan.cell_ids.index("arm-001"), plan.cell_ids.index("tester-001")
    ctrl.handle(Ready(0, build))
    ctrl.handle(Completed(H, build, arm1))
    ctrl.handle(Ready(H, test))
    ctrl.handle(Ready(H, pack))  # there and ready; its planned start is 5 h
    check_indexes(ctrl)
    ctrl.handle(Failed(2 * H, test, tester))
    assert ctrl.preds_left[pack] == 1
    check_indexes(ctrl)
    assert not [d for d in ctrl.handle(Tick(5 * H)) if d.kind == START and d.task == pack]


def lockstep(plan, config, events):
    """Each event into a controller with the pick memo and one without: the same decisions."""
    fast, plain = FloorController(plan, config), FloorController(plan, config)
    plain._memo = False
    outs = []
    for event in events:
        out = fast.handle(event)
        assert [astuple(d) for d in out] == [astuple(d) for d in plain.handle(event)], event
        same_sequences(fast, plain)
        outs.append(out)
    return outs


def test_a_head_whose_start_has_come_starts_at_the_first_event_then_not_only_at_the_tick():
    """A free cell found its head there but early (the memo of that pick lasts until the head's
    planned start): another unit arriving for the cell at exactly that time starts the head."""
    spec = hand.floor_spec()
    plan = control_plan(spec, hand.sequence_plan(spec, 3))
    b1, b2, b3 = (plan.task_of(f"rack#{k:05d}", "build") for k in (1, 2, 3))
    arm = plan.cell_ids.index("arm-001")
    outs = lockstep(plan, ControlConfig.policy("blind"), [Ready(0.0, b1), Completed(0.5 * H, b1, arm), Ready(0.6 * H, b2), Ready(H, b3)])
    assert not outs[2]  # there, but its planned start is 1 h
    assert [(d.kind, d.task) for d in outs[3]] == [(START, b2)]


def test_a_help_candidate_made_ready_by_its_predecessor_is_taken_by_a_free_twin_at_its_next_event():
    """test r2 is there before its build is done and due; the other tester, free, looks at the
    pool's help order (r2 first, not startable) and finds nothing. Once the build completes (r2's
    own tester is busy but should free within help_wait_s, so r2 is not handed over then), the free
    tester's next pick takes r2: the memo of its last pick is void."""
    spec = hand.floor_spec(cells=[{"type": "arm", "count": 1}, {"type": "tester", "count": 2}])
    rows = [Assignment(f"rack#{k:05d}", "build", "arm-001", (k - 1) * H, k * H) for k in (1, 2, 3, 4)]
    rows += [Assignment("rack#00001", "test", "tester-001", H, 2 * H), Assignment("rack#00002", "test", "tester-001", 2 * H, 3 * H),
             Assignment("rack#00003", "test", "tester-002", 10 * H, 11 * H), Assignment("rack#00004", "test", "tester-002", 11 * H, 12 * H)]
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    b = {k: plan.task_of(f"rack#{k:05d}", "build") for k in (1, 2)}
    t = {k: plan.task_of(f"rack#{k:05d}", "test") for k in (1, 2, 3, 4)}
    arm, twin = plan.cell_ids.index("arm-001"), plan.cell_ids.index("tester-002")
    config = ControlConfig.policy("repair", early_s=0.0, lookahead=1, help_wait_s=1800.0)
    outs = lockstep(plan, config, [Ready(0.0, b[1]), Completed(H, b[1], arm), Ready(H, b[2]), Ready(H, t[1]),
                                   Ready(1.5 * H, t[2]), Ready(2.1 * H, t[3]), Completed(2.2 * H, b[2], arm), Ready(2.3 * H, t[4])])
    assert not [d for d in outs[-2] if d.kind == START]
    assert [(d.task, d.cell) for d in outs[-1] if d.kind == START] == [(t[2], twin)]


def test_a_changeover_moves_the_gate_of_a_waiting_head_after_the_cell_ran_other_work():
    """arm-002's head (a tray, planned at 5 h) is there early; arm-002 then helps with a rack.
    After that rack the head's gate counts the 1 h changeover back to trays (4 h, not 5 h): what
    the cell's window looked like before it worked must not stand."""
    spec = hand.floor_spec(
        demand={"rack": 2, "tray": 1},
        products=[{"name": name, "family": name, "category": "compute", "mw": 0.1, "routing": [
            {"id": "build", "capability": "assemble", "duration": "1h"}]} for name in ("rack", "tray")],
        cell_types=[{"name": "arm", "capabilities": {"assemble": 1.0}, "setup": "1h"}],
        cells=[{"type": "arm", "count": 2}])
    plan = control_plan(spec, Schedule([Assignment("rack#00001", "build", "arm-001", 0, H),
                                        Assignment("rack#00002", "build", "arm-001", H, 2 * H),
                                        Assignment("tray#00001", "build", "arm-002", 5 * H, 6 * H)], horizon=24 * H))
    r1, r2, head = (plan.task_of(job, "build") for job in ("rack#00001", "rack#00002", "tray#00001"))
    twin = plan.cell_ids.index("arm-002")
    config = ControlConfig.policy("repair", early_s=0.0, lookahead=1, help_wait_s=0.0)
    fast, plain = FloorController(plan, config), FloorController(plan, config)
    plain._memo = False
    for event in [Ready(0.0, head), Ready(0.0, r1), Ready(H, r2), Completed(2 * H, r2, twin)]:
        out = fast.handle(event)
        assert [astuple(d) for d in out] == [astuple(d) for d in plain.handle(event)], event
    assert fast.ran_on[r2] == twin and fast.family[twin] == plan.t_family[r2]  # it helped with the rack
    assert fast.next_wake == 4 * H == plain.next_wake
    assert [(d.task, d.cell) for d in starts(fast.handle(Tick(4 * H)))] == [(head, twin)]


def starts(decisions):
    return [d for d in decisions if d.kind == START]


def arm_one_then_a_long_job(racks: int):
    """Three arms: racks 1..racks-1 back to back on arm-001, hourly; on arm-002 a 5 h job, then
    the last rack (its planned cell busy: a free arm helps with it). Returns the plan, the racks'
    build tasks by number, the long job's, and arm-001's and arm-003's indexes."""
    spec = hand.floor_spec(
        demand={"rack": racks, "big": 1},
        products=[{"name": name, "family": "rack", "category": "compute", "mw": 0.1, "routing": [
            {"id": "build", "capability": "assemble", "duration": duration}]} for name, duration in (("rack", "1h"), ("big", "5h"))],
        cell_types=[{"name": "arm", "capabilities": {"assemble": 1.0}}],
        cells=[{"type": "arm", "count": 3}])
    rows = [Assignment(f"rack#{k:05d}", "build", "arm-001", (k - 1) * H, k * H) for k in range(1, racks)]
    rows += [Assignment("big#00001", "build", "arm-002", 0, 5 * H), Assignment(f"rack#{racks:05d}", "build", "arm-002", 5 * H, 6 * H)]
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    r = {k: plan.task_of(f"rack#{k:05d}", "build") for k in range(1, racks + 1)}
    return plan, r, plan.task_of("big#00001", "build"), plan.cell_ids.index("arm-001"), plan.cell_ids.index("arm-003")


@pytest.mark.parametrize("r4_there", [True, False])
def test_a_window_that_lost_its_head_to_a_twin_reads_the_next_task_as_a_rescan_would(r4_there):
    """arm-001 finds its window (r2, r3) not there, then helps with r6 (its cell busy); a twin
    takes r2 as it arrives. Without rescanning, arm-001's window is (r3, r4) at its next pick:
    r4 there starts by look-ahead (not as help for its own cell); r4 not there, the pick finds
    nothing, and the sequence's open pointer has moved past r2 as a rescan moves it."""
    plan, r, big, arm1, arm3 = arm_one_then_a_long_job(6)
    config = ControlConfig.policy("repair", early_s=6 * H, lookahead=2, help_wait_s=0.0)  # every start due at once
    events = [Ready(0.0, r[1]), Ready(0.0, big), Completed(0.5 * H, r[1], arm1), Ready(0.6 * H, r[6]), Ready(0.7 * H, r[2])]
    events += [Ready(0.8 * H, r[4])] if r4_there else []
    outs = lockstep(plan, config, events + [Completed(0.9 * H, r[6], arm1), Ready(H, r[3])])
    took = [(d.task, d.cell) for out in outs[3:5] for d in starts(out)]
    assert took == [(r[6], arm1), (r[2], arm3)]  # arm-001 helps, then a twin takes arm-001's head
    if r4_there:
        assert [(d.task, d.cell, d.reason.split(":")[0]) for d in starts(outs[-2])] == [(r[4], arm1, "look-ahead")]
    else:
        assert not outs[-2] and [(d.task, d.cell) for d in starts(outs[-1])] == [(r[3], arm1)]


def test_holes_a_twin_leaves_behind_a_busy_cells_head_are_dropped_at_the_pick_a_rescan_drops_them():
    """arm-001's head r2 is not there; while arm-001 helps with r23, twins take r3 to r21 from
    behind it. At arm-001's next pick its window (r2, r22) has 19 holes: the scanning controller
    drops them there, and so must the memo (later moves bisect the sequence, holes included)."""
    plan, r, big, arm1, arm3 = arm_one_then_a_long_job(23)
    config = ControlConfig.policy("repair", early_s=24 * H, lookahead=2, help_wait_s=0.0)  # every start due at once
    events = [Ready(0.0, r[1]), Ready(0.0, big), Completed(0.1 * H, r[1], arm1), Ready(0.1 * H, r[23])]
    for k in range(3, 22):
        events += [Ready(0.1 * H + 0.01 * k * H, r[k]), Completed(0.1 * H + 0.01 * k * H + 1, r[k], arm3)]
    outs = lockstep(plan, config, events + [Completed(0.5 * H, r[23], arm1)])
    assert [d.cell for out in outs[4:-1] for d in starts(out)] == [arm3] * 19  # the twin took r3 to r21
    assert not starts(outs[-1])  # r2 and r22 are not there
