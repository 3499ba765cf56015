"""A cell's window memo kept after twins took tasks out of it (FloorController._window_kept):
the cell reads on past its last scan's end for as many live entries as it lost, and what it
decides must be what a rescan decides: which task starts on which cell and when, and when the
controller asks to be woken.

One small floor serves every case. Three arms and a tester; arm-001's sequence is racks 1-7,
hourly; arm-002 runs a long job and then has helper racks 12-14, which the free arm-001 takes
(its own cell busy) while keeping its window memo; arm-003 has only the fit of a kit whose prep
runs on the tester for the whole scenario. The kit's fit is there early, due and not ready: it
tops the arm pool's help order (the earliest planned start), so the help rule adds no wake-up
and starts nothing, and what the arms do follows from their windows alone (the help rule
would otherwise hide a late wake-up of the window behind its own). With a look-ahead of 2
and an early start of 1 h, rack k of arm-001 may start from (k - 2) h.

Each scenario runs in a host that ticks the controller whenever it asks (next_wake), beside a
controller without the pick memo (it scans at every pick) that hears the same events: the
memo must change no decision and no wake-up."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from scheduler.control import Completed, ControlConfig, FloorController, Ready, Tick, control_plan
from scheduler.control.events import MOVE, START
from scheduler.schedule import Assignment, Schedule
from tests.scheduler.test_control import floor_spec
from tests.scheduler.test_control_state import arm_one_then_a_long_job, astuple, lockstep, same_sequences, starts

H = 3600
INF = math.inf
RACKS = {1: "arm-001", 2: "arm-001", 3: "arm-001", 4: "arm-001", 5: "arm-001", 6: "arm-001", 7: "arm-001",
         11: "arm-002", 12: "arm-002", 13: "arm-002", 14: "arm-002"}


def window_floor():
    """The floor above: the plan, its tasks by name (r1..r7, w = rack 11 and h1..h3 = racks
    12-14 on arm-002, prep and fit of the kit) and the cells by name."""
    spec = floor_spec(
        demand={"rack": len(RACKS), "kit": 1},
        products=[{"name": "rack", "family": "rack", "category": "compute", "mw": 0.1, "routing": [
                      {"id": "build", "capability": "assemble", "duration": "1h"}]},
                  {"name": "kit", "family": "rack", "category": "compute", "mw": 0.1, "routing": [
                      {"id": "prep", "capability": "test", "duration": "30m"},
                      {"id": "fit", "capability": "assemble", "duration": "1h", "predecessors": ["prep"]}]}],
        cells=[{"type": "arm", "count": 3}, {"type": "tester", "count": 1}])
    rows = [Assignment("kit#00001", "prep", "tester-001", 0, H // 2), Assignment("kit#00001", "fit", "arm-003", H // 2, 3 * H // 2)]
    for k, cell in RACKS.items():
        start = (k - 1 if k < 10 else k - 11) * H
        rows.append(Assignment(f"rack#{k:05d}", "build", cell, start, start + H))
    plan = control_plan(spec, Schedule(rows, horizon=24 * H))
    task = {f"r{k}": plan.task_of(f"rack#{k:05d}", "build") for k in range(1, 8)}
    task.update(w=plan.task_of("rack#00011", "build"), **{f"h{k}": plan.task_of(f"rack#{11 + k:05d}", "build") for k in (1, 2, 3)})
    task.update(prep=plan.task_of("kit#00001", "prep"), fit=plan.task_of("kit#00001", "fit"))
    cell = {name: plan.cell_ids.index(name) for name in ("arm-001", "arm-002", "arm-003", "tester-001")}
    return plan, task, cell


@dataclass
class Run:
    """What a host saw: the controller's log, and after each event and tick when it asked to be
    woken; the differences from the controller without the memo, one line each."""
    ctrl: FloorController
    plan: object
    wakes: list = field(default_factory=list)  # (time of the event, next_wake after it)
    diffs: list = field(default_factory=list)

    def start(self, t: int) -> tuple | None:
        """(time, cell name, reason's first word) of t's start, or None."""
        for d in self.ctrl.log:
            if d.kind == START and d.task == t:
                return d.time, self.plan.cell_ids[d.cell], d.reason.split(":")[0]
        return None

    def wake_after(self, at: float) -> float:
        """next_wake after the last event at time `at`."""
        return [w for t, w in self.wakes if t == at][-1]


def run(events, until: float = 12 * H) -> Run:
    """Feed `events` (time order) to a controller with the pick memo and one without, ticking
    both whenever the memo's controller asks before the next event (and up to `until` after
    the last); record where they differ."""
    plan, _, _ = FLOOR
    config = ControlConfig.policy("repair", early_s=H, lookahead=2, help_wait_s=0.0)
    fast, plain = FloorController(plan, config), FloorController(plan, config)
    plain._memo = False
    out = Run(fast, plan)

    def feed(event):
        mine, theirs = [astuple(d)[:5] for d in fast.handle(event)], [astuple(d)[:5] for d in plain.handle(event)]
        if mine != theirs:
            out.diffs.append(f"{event}: {mine} with the memo, {theirs} scanning")
        if fast.next_wake != plain.next_wake:
            out.diffs.append(f"{event}: asks to be woken at {fast.next_wake} with the memo, {plain.next_wake} scanning")
        same_sequences(fast, plain)
        out.wakes.append((event.time, fast.next_wake))

    for event in [*events, Tick(until)]:
        while fast.next_wake < event.time:
            feed(Tick(fast.next_wake))
        if type(event) is not Tick:
            feed(event)
    return out


FLOOR = window_floor()
PLAN, T, C = FLOOR


def opening(*extra_at_0_1):
    """The common start: the tester preps the kit (long), arm-001 runs r1, arm-002 its long job
    w, and the kit's fit is there, not ready, on the free arm-003 (`extra_at_0_1`: units that
    arrive at 0.1 h). At 0.2 h arm-001 finishes r1 and finds its window (r2, r3) not there;
    at 0.3 h it helps with h1 (arm-002 busy); at 0.4 h r2 arrives and, arm-001 busy, the free
    twin arm-003 takes it: arm-001's window lost r2. At 0.5 h arm-001 finishes h1 and picks
    with its memo: it reads on one entry, r4."""
    events = [Ready(0.0, T["prep"]), Ready(0.0, T["r1"]), Ready(0.0, T["w"]), Ready(0.0, T["fit"])]
    events += [Ready(0.1 * H, T[name]) for name in extra_at_0_1]
    events += [Completed(0.2 * H, T["r1"], C["arm-001"]), Ready(0.3 * H, T["h1"]), Ready(0.4 * H, T["r2"]),
               Completed(0.5 * H, T["h1"], C["arm-001"])]
    return events


def check_opening(r: Run) -> None:
    assert r.start(T["h1"]) == (0.3 * H, "arm-001", "help"), "the free arm-001 helps with h1, its own cell busy"
    assert r.start(T["r2"]) == (0.4 * H, "arm-003", "help"), "r2 goes to the free twin arm-003, arm-001 being busy"
    assert PLAN.cell_ids[r.ctrl.cell[T["r2"]]] == "arm-003"


def test_a_ready_task_read_on_past_the_window_brings_the_wake_up_to_its_gate():
    """r4 is there from 0.1 h, beyond arm-001's window (r2, r3), its gate at 2 h. Once a twin
    took r2, arm-001's window is (r3, r4): at its next pick (0.5 h) it must ask to be woken
    at r4's gate, and start r4 then (look-ahead past r3, not there)."""
    r = run(opening("r4"))
    check_opening(r)
    assert r.start(T["r4"]) is None or r.start(T["r4"])[0] >= 2 * H, "r4 started before its gate"
    assert r.wake_after(0.5 * H) == 2 * H, "arm-001 must ask to be woken at 2 h, the gate of r4 read on past its window's end"
    assert r.start(T["r4"]) == (2 * H, "arm-001", "look-ahead"), "r4 must start on arm-001 at its gate"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_a_task_read_on_that_arrives_later_with_its_gate_ahead_brings_the_wake_up_forward():
    """r4, read on at 0.5 h (not there yet), arrives at 0.6 h with its gate at 2 h: it is in
    arm-001's window now, so the arrival must bring arm-001's wake-up to 2 h (r4 is not the
    pool's help candidate: only the window knows it)."""
    r = run(opening() + [Ready(0.6 * H, T["r4"])])
    check_opening(r)
    assert r.wake_after(0.5 * H) == INF, "arm-001's window (r3, r4) has nothing there at 0.5 h: no wake-up"
    assert r.wake_after(0.6 * H) == 2 * H, "r4 arrived in arm-001's window: the controller must ask to be woken at its gate"
    assert r.start(T["r4"]) == (2 * H, "arm-001", "look-ahead"), "r4 must start on arm-001 at its gate"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_a_task_read_on_that_gets_ready_while_its_cell_is_busy_starts_at_the_cells_next_pick():
    """r4, read on at 0.5 h (not there), arrives at 2.1 h, due, while arm-001 helps with h2
    and both twins are busy (no one takes it). When arm-001 finishes h2 at 2.2 h, r4 is due,
    ready and in its window (r3, r4): it must start there, by look-ahead."""
    r = run(opening() + [Ready(1.1 * H, T["h2"]), Ready(2.1 * H, T["r4"]), Completed(2.2 * H, T["h2"], C["arm-001"])])
    check_opening(r)
    assert r.start(T["h2"]) == (1.1 * H, "arm-001", "help"), "the free arm-001 helps with h2"
    assert r.start(T["r4"]) == (2.2 * H, "arm-001", "look-ahead"), "r4, due and ready in arm-001's window, must start when arm-001 frees"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_a_task_read_on_that_arrives_due_at_its_free_cell_starts_there_by_look_ahead():
    """r4, read on at 0.5 h (not there), arrives at 2.1 h, due, while arm-001 is free: it is in
    arm-001's window (r3, r4), so it starts at once by look-ahead past r3, as a rescan starts it
    (not as work beyond the look-ahead taken out of order)."""
    r = run(opening() + [Ready(2.1 * H, T["r4"])])
    check_opening(r)
    assert r.start(T["r4"]) == (2.1 * H, "arm-001", "look-ahead"), "r4, due in arm-001's window, must start by look-ahead"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_a_second_take_from_the_window_reads_on_from_where_the_first_read_ended():
    """Two takes from arm-001's window with a pick between: r2 (0.4 h; the pick at 0.5 h reads
    on r4, not there), then r3 (1.2 h, by arm-003 again, arm-001 helping with h2). The window
    is (r4, r5) now; r5 arrived due at 3.1 h with every arm busy. When arm-001 frees at 3.2 h
    it must start r5 (read on past r4, where the first read ended), not idle."""
    events = opening() + [Ready(1.1 * H, T["h2"]), Completed(1.15 * H, T["r2"], C["arm-003"]), Ready(1.2 * H, T["r3"]),
                          Ready(3.1 * H, T["r5"]), Completed(3.2 * H, T["h2"], C["arm-001"])]
    r = run(events)
    check_opening(r)
    assert r.start(T["r3"]) == (1.2 * H, "arm-003", "help"), "arm-003, free again, takes r3 from arm-001's window"
    assert r.start(T["r5"]) == (3.2 * H, "arm-001", "look-ahead"), "r5, due and ready in arm-001's window (r4, r5), must start"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_a_read_on_passes_over_a_task_a_twin_took_beyond_the_windows_end():
    """While arm-001 helps with h1 (until 2.2 h), twins take r2 (0.4 h, from its window) and r4
    (2.05 h, beyond it: arm-003 free again). r5 arrives at 2.1 h, its gate at 3 h. At 2.2 h
    arm-001's window is (r3, r5): the read-on passes over r4's hole to r5, so arm-001 asks to
    be woken at 3 h and starts r5 then."""
    events = opening()[:-1] + [Completed(1.0 * H, T["r2"], C["arm-003"]), Ready(2.05 * H, T["r4"]), Ready(2.1 * H, T["r5"]),
                               Completed(2.2 * H, T["h1"], C["arm-001"])]
    r = run(events)
    check_opening(r)
    assert r.start(T["r4"]) == (2.05 * H, "arm-003", "help"), "the free arm-003 takes r4, arm-001 busy"
    assert r.wake_after(2.2 * H) == 3 * H, "arm-001 must ask to be woken at 3 h, the gate of r5 read on past r4's hole"
    assert r.start(T["r5"]) == (3 * H, "arm-001", "look-ahead"), "r5 must start on arm-001 at its gate"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_holes_twins_leave_inside_a_long_window_are_dropped_at_the_pick_a_rescan_drops_them():
    """A look-ahead of 20: arm-001's window r2..r21, none there, and while it helps with r45 (its
    cell busy) a twin takes 17 of them. At arm-001's next pick the window has 17 holes (all lost
    to the twin, none past its end): the scanning controller drops them there, and so must the
    memo (the layout is what later moves bisect)."""
    plan, r, _, arm1, arm3 = arm_one_then_a_long_job(45)
    config = ControlConfig.policy("repair", early_s=24 * H, lookahead=20, help_wait_s=0.0)  # every start due at once
    events = [Ready(0.0, r[1]), Ready(0.0, plan.task_of("big#00001", "build")), Completed(0.1 * H, r[1], arm1), Ready(0.1 * H, r[45])]
    for k in range(3, 20):
        events += [Ready(0.1 * H + 0.01 * k * H, r[k]), Completed(0.1 * H + 0.01 * k * H + 1, r[k], arm3)]
    outs = lockstep(plan, config, events + [Completed(0.5 * H, r[45], arm1)])  # asserts the layout after every event
    assert [d.cell for out in outs[4:-1] for d in starts(out)] == [arm3] * 17, "the twin took r3 to r19"
    assert not starts(outs[-1]), "r2 and r20 on are not there"


def test_a_window_read_on_once_does_not_read_on_again_at_the_next_pick():
    """After the read-on at 0.5 h the window is (r3, r4) and owes nothing. r5 arrives at 0.6 h,
    beyond it (gate 3 h); arm-001 helps with h2 and frees at 1.3 h: its pick must not read r5 into
    the window, so it asks for no wake-up (neither does the scanning controller)."""
    r = run(opening() + [Ready(0.6 * H, T["r5"]), Ready(1.1 * H, T["h2"]), Completed(1.3 * H, T["h2"], C["arm-001"])])
    check_opening(r)
    assert r.start(T["h2"]) == (1.1 * H, "arm-001", "help")
    assert r.wake_after(1.3 * H) == INF, "arm-001's window (r3, r4) has nothing there: r5, beyond it, must not bring a wake-up"
    assert r.start(T["r5"]) is None
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)


def test_a_unit_whose_cell_is_busy_goes_to_the_lowest_free_twin_as_the_free_cells_change():
    """Hand-overs on arrival (its own cell busy) go to the lowest-numbered free twin of the pool,
    read from the idle heap, whose entries of cells busy since are dropped on the way: r2 at
    0.4 h to arm-003 (arm-001 and arm-002 busy), h2 at 1.1 h to arm-001 (free again, busy
    arm-003 above it), r3 at 1.2 h to arm-003 (free again), h3 at 2.5 h to arm-003 (arm-001
    busy, arm-003 free again and lowest). No cell ever runs two tasks."""
    events = opening() + [Ready(1.1 * H, T["h2"]), Completed(1.15 * H, T["r2"], C["arm-003"]), Ready(1.2 * H, T["r3"]),
                          Completed(2.4 * H, T["r3"], C["arm-003"]), Ready(2.5 * H, T["h3"])]
    r = run(events)
    check_opening(r)
    took = [(d.time, PLAN.task_name(d.task), PLAN.cell_ids[d.cell]) for d in r.ctrl.log if d.kind == MOVE]
    assert took == [(0.3 * H, "rack#00012/build", "arm-001"), (0.4 * H, "rack#00002/build", "arm-003"),
                    (1.1 * H, "rack#00013/build", "arm-001"), (1.2 * H, "rack#00003/build", "arm-003"),
                    (2.5 * H, "rack#00014/build", "arm-003")], took
    done_at = {e.task: e.time for e in events if type(e) is Completed}
    begun = [d for d in r.ctrl.log if d.kind == START]
    for d in begun:  # every task takes one slot, and every cell has one
        busy = [e.task for e in begun if e.cell == d.cell and e.time <= d.time and e.task != d.task
                and done_at.get(e.task, INF) > d.time]
        assert not busy, f"{PLAN.task_name(d.task)} started on {PLAN.cell_ids[d.cell]}, which runs {PLAN.task_name(busy[0])}"
    assert not r.diffs, "the memo changed what the controller does:\n" + "\n".join(r.diffs)
