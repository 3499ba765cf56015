"""Executing a plan in the twin: the plan's units (carried-in ones half built) released at their
planned times, and the bridge between the SimPy floor and the floor controller
(scheduler.control), which decides what every cell runs. The bridge turns floor happenings
into controller events and Start decisions into work handed to cell slots; it keeps what the
report needs per replication (delivered by the horizon, decisions, decision times)."""
from __future__ import annotations

import heapq
from array import array
import math
import time
import weakref
from time import perf_counter
from collections import deque
from functools import partial

from scheduler.control import CellDown, CellUp, ControlPlan, Failed, FloorController, PoolFull, Tick
from scheduler.control.events import START
from sim.entities import DONE, WAITING, Unit
from sim.layout import Layout


class ControlBridge:
    def __init__(self, plan: ControlPlan, controller: FloorController, layout: Layout) -> None:
        self.plan = plan
        self.ctrl = controller
        self.layout = layout
        # The controller only acts on stops at least this long; shorter ones are not reported
        # (it would record them and do nothing: a failed single-job cell is busy anyway).
        self.notice_s = controller.config.move_threshold_s if controller.config.repair else math.inf
        self.ready_tasks: dict[int, object] = {}
        self.pending: list[deque] = [deque() for _ in plan.cell_ids]  # per cell: started tasks no slot has taken yet
        self.cell_index = {cid: i for i, cid in enumerate(plan.cell_ids)}
        # Each event's decision time, as raw doubles: ~150,000 a week, which as a list would keep
        # as many float objects alive among the floor's and the controller's own.
        self.handle_s = array("d")
        self._timed = self.handle_s.append
        # The controller's entries for the two events of every operation, bound once.
        self._on_ready, self._on_completed = controller.on_ready, controller.on_completed
        self.down_s: list[float] = []
        self.down_cpu_s = 0.0  # CPU seconds of the cell-down decisions (the repairs), for the speed benchmark
        self.min_places_free = math.inf
        # Per task: 1 not started yet, 2 not started yet and running across the plan's cut (it does
        # its planned share of the work, once), 0 started before (a re-run is rework, not the plan's start).
        # Made once per plan and copied per replication.
        self._first = bytearray(plan.derived("first_starts", (plan.t_scale,), lambda: bytes(1 if scale >= 1.0 else 2 for scale in plan.t_scale)))
        # The planned starts, contiguous, read once per start; only read, so made once per plan and
        # shared by its bridges (from ~75,000 float objects, a read of ~2 MB a replication made again).
        self._planned = plan.derived("planned_starts", (plan.t_start,), lambda: array("d", plan.t_start))
        self._wake_at = math.inf
        self.floor = None

    def attach(self, floor) -> None:
        self.floor = floor
        self.env = floor.env
        by_name = {st.defn.name: st for st in floor.stations}
        self.station_of_pool = [by_name.get(name) for name in self.plan.pool_names]
        self.pool_of_station = {st.index: self.plan.pool_names.index(st.defn.name) for st in floor.stations}
        self.slots: list[list] = [[] for _ in self.plan.cell_ids]
        for cell in floor.cells.values():
            cell.index = self.cell_index[cell.cell_id]
            self.slots[cell.index].append(cell)
        self.only_slot = [slots[0] if len(slots) == 1 else None for slots in self.slots]
        self.station_of_cell = [slots[0].station for slots in self.slots]
        for slots in self.slots:
            if len(slots) > 1:  # a bay: its waiting slots by number, so a start finds the first without a scan
                heap: list[int] = []
                for k, slot in enumerate(slots):
                    slot.waiting_slots, slot.slot = heap, k
        if self.notice_s < math.inf:
            for cell in floor.cells.values():
                d = cell.station.defn
                wall_clock = d.mttf is not None and (d.fails_when == "always" or d.capacity > 1)
                # A repaired plan's downtime (StationDef.cell_down) is told as a failure is.
                told = wall_clock or cell.cell_id in d.cell_down
                if told:
                    cell.watched = True
                if told and cell.name in (cell.cell_id, f"{cell.cell_id}/1"):  # one watcher per cell: slots share its calendar
                    self.env.process(self._watch_calendar(cell, floor.calendar_of(cell)))

    # ------------------------------------------------------------------ floor -> controller
    def station(self, unit: Unit, op: int):
        return self.station_of_pool[self.ctrl.pool_of(unit.first + op)]

    def ready(self, station, task) -> None:
        """The unit is at `station` for the task (the station `station()` named): the floor's
        `_enqueue` executing a plan. The two events of every operation (this and `finished`) go
        in without an event record, each carried out here, inline (as `_carry_out`, one call
        fewer): ~75,000 of each a week, so the controller's two entries are bound once."""
        task.tid = tid = task.unit.first + task.op
        self.ready_tasks[tid] = task
        if station.places_free < self.min_places_free:
            self.min_places_free = station.places_free
        began = perf_counter()
        decisions = self._on_ready(self.env._now, tid)
        self._timed(perf_counter() - began)
        for row in decisions:  # (time, kind, reason, task, cell, detail): the controller's log rows
            if row[1] is START:
                self._start(row[3], row[4])
        if self.ctrl.next_wake < self._wake_at:
            self._wake()
        if station.blocked_slots:  # it may have joined units no cell can take: a deadlock can close here
            self.floor.check_deadlock(station)

    def finished(self, cell, task, rework: bool) -> None:
        began = perf_counter()
        if rework:
            decisions = self.ctrl.handle_rows(Failed(self.env._now, task.tid, cell.index))
        else:
            decisions = self._on_completed(self.env._now, task.tid, cell.index)
        self._timed(perf_counter() - began)
        for row in decisions:
            if row[1] is START:
                self._start(row[3], row[4])
        if self.ctrl.next_wake < self._wake_at:
            self._wake()

    def full(self, station, is_full: bool) -> None:
        self._handle(PoolFull(self.env.now, self.pool_of_station[station.index], is_full))

    def cell_down(self, cell, up_at: float, _event=None) -> None:
        began, cpu = perf_counter(), time.process_time()
        self._handle(CellDown(self.env.now, self.cell_index[cell.cell_id], up_at))
        self.down_s.append(perf_counter() - began)
        self.down_cpu_s += time.process_time() - cpu

    def cell_up(self, cell) -> None:
        self._handle(CellUp(self.env.now, self.cell_index[cell.cell_id]))

    def startable(self, task) -> bool:
        """Whether the controller counts every predecessor of the task done (a sibling of a redone
        operation waits for the redo)."""
        return self.ctrl.preds_left[task.tid] == 0

    def _watch_calendar(self, slot, calendar):
        """Wall-clock failures (bays): tell the controller of each long stop as it begins
        (`calendar`: a reader of the slot's windows of its own)."""
        from sim.calendar import DOWN

        env = self.env
        while True:
            start, end, kind = calendar.block(env.now)
            if start == math.inf:
                return
            if start > env.now:
                yield env.timeout(start - env.now)
            if kind == DOWN and end - start >= self.notice_s:
                self.cell_down(slot, end)
                yield env.timeout(end - env.now)
                self.cell_up(slot)
            else:
                yield env.timeout(max(end - env.now, 1e-6))

    # ------------------------------------------------------------------ controller -> floor
    def _handle(self, event) -> None:
        began = perf_counter()
        self._carry_out(self.ctrl.handle_rows(event), began)

    def _carry_out(self, decisions, began: float) -> None:
        """Record the decision time since `began`, start what the controller started, and ask
        for a Tick when it wants one sooner than already asked."""
        self._timed(perf_counter() - began)
        for row in decisions:  # (time, kind, reason, task, cell, detail): the controller's log rows
            if row[1] is START:
                self._start(row[3], row[4])
        if self.ctrl.next_wake < self._wake_at:
            self._wake()

    def _wake(self) -> None:
        """The controller wants a Tick sooner than already asked."""
        self._wake_at = wake = self.ctrl.next_wake
        self.env.timeout(max(0.0, wake - self.env.now)).callbacks.append(partial(self._tick, wake))

    def _tick(self, at: float, _event=None) -> None:
        if at != self._wake_at:  # superseded by an earlier wake-up that has already run
            return
        self._wake_at = math.inf
        self._handle(Tick(self.env.now))

    def _start(self, tid: int, c: int) -> None:
        task = self.ready_tasks.pop(tid)
        first = self._first[tid]
        if first:  # the plan's start of the task (planned stays None for a re-run: rework)
            task.planned = self._planned[tid]
            self._first[tid] = 0
            if first == 2:
                task.share = self.plan.t_scale[tid]
        # The first waiting slot, lowest number first (a slot's durations are its own stream).
        slot = self.only_slot[c]
        if slot is None:  # a bay: a slot leaves the heap only here, when it is handed work
            slots = self.slots[c]
            heap = slots[0].waiting_slots
            slot = slots[heapq.heappop(heap)] if heap else None
        if slot is not None and slot.idle:
            self.floor.hand(slot, task)
            return
        self.pending[c].append(task)
        station = self.station_of_cell[c]
        if station.blocked_slots:  # handed to a cell that may hold a unit waiting downstream: a deadlock can close here
            self.floor.check_deadlock(station)

    def record(self) -> dict:
        """This replication's controller figures, for the report."""
        out = self.ctrl.summary()
        out["decision_s"] = self.handle_s
        out["cell_down_decision_s"] = self.down_s
        out["cell_down_cpu_s"] = self.down_cpu_s
        out["min_places_free"] = self.min_places_free
        return out


def plan_units(env, floor, plan: ControlPlan, layout: Layout) -> list[Unit]:
    """Create the plan's units in plan order (unit key = job index), mark what a carried-in unit
    had done before the plan, and let each onto the floor at the planned start of its first open
    operations (less the changeover the plan puts before it)."""
    jobs, releases = _plan_tables(plan, layout)
    units = []
    names, first = plan.jobs, plan.job_first
    for j, (index, due, state) in enumerate(jobs):
        unit = floor.new_unit(index, due, names[j], state)
        if unit.key != j:
            raise AssertionError("plan units must be the floor's first units")
        unit.first = first[j]
        units.append(unit)

    def run():
        for at, j, start_ops in releases:
            if at > env.now:
                yield env.timeout(at - env.now)
            yield from floor.enter(units[j], start_ops)

    env.process(run())
    return units


# What plan_units reads from a plan is the same in every replication: worked out once per plan
# (a plan is made for one spec, so one set of products and changeovers), like the controller's
# start state. Keyed by the plan object, dropped with it.
_per_plan: dict[int, tuple] = {}


def _plan_tables(plan: ControlPlan, layout: Layout) -> tuple[list, list]:
    """Per job (product index, due, its unit's state at the start: (pending, status, ops_left)
    with what a carried-in unit had done before the plan marked done), and the releases (time,
    job, operations it starts with) in the order units go on the floor."""
    key = (tuple(p.name for p in layout.products), tuple((st.name, st.setup) for st in layout.stations))
    cached = _per_plan.get(id(plan))
    if cached is not None and cached[0]() is plan and cached[1] == key:
        return cached[2]
    setup = {st.name: st.setup for st in layout.stations}
    jobs, releases = [], []
    for j in range(len(plan.jobs)):
        product = layout.products[layout.product_index[plan.job_product[j]]]
        first = plan.job_first[j]
        ops = range(len(product.ops))
        due = max(plan.t_end[first + k] for k in ops if not plan.t_done[first + k])
        done = [k for k in ops if plan.t_done[first + k]]
        pending = [len(op.preds) for op in product.ops]
        for k in done:
            for s in product.ops[k].succs:
                pending[s] -= 1
        start_ops = [k for k in ops if not plan.t_done[first + k] and pending[k] == 0]
        at = min(plan.t_start[first + k] - setup[plan.pool_names[plan.cell_pool[plan.t_cell[first + k]]]] for k in start_ops)
        status = [WAITING] * len(product.ops)
        for k in done:
            status[k] = DONE
        jobs.append((product.index, due, (pending, status, len(product.ops) - len(done))))
        releases.append((max(0.0, at), j, start_ops))
    releases.sort(key=lambda r: (r[0], r[1]))
    tables = (jobs, releases)
    _per_plan[id(plan)] = (weakref.ref(plan, lambda _, k=id(plan): _per_plan.pop(k, None)), key, tables)
    return tables


def execution_summary(plan: ControlPlan, traces: list, spec, control: str) -> dict:
    """What the replications say about the plan: planned against delivered MW per category by
    the horizon, deployable GW for the horizon and as a weekly rate, controller figures."""
    import numpy as np

    from plant.demand import WEEK_S
    from plant.spec import deployable_gw
    from sim.statistics import t_interval

    horizon = max(plan.horizon, 1)
    per_week = WEEK_S / horizon
    planned = plan.planned_mw_by_category()
    cats = sorted(set(planned) | set(spec.target.mw))
    delivered = [{c: t.control["delivered_mw_by_category"].get(c, 0.0) for c in cats} for t in traces]

    def gw(mw: dict) -> float:  # deployable GW/week of what a horizon delivers, at the weekly rate
        return deployable_gw({c: v * per_week for c, v in mw.items()}, spec.target)

    weekly = [gw(d) for d in delivered]
    total_planned = sum(planned.values())
    ratio = [sum(d.values()) / total_planned for d in delivered] if total_planned > 0 else [math.nan] * len(traces)
    handle = np.concatenate([np.asarray(t.control.get("decision_s", []), dtype=float) for t in traces]) * 1000
    down = np.concatenate([np.asarray(t.control.get("cell_down_decision_s", []), dtype=float) for t in traces]) * 1000
    down_cpu = np.concatenate([np.asarray(t.control.get("cell_down_cpu_each_s", []), dtype=float) for t in traces]) * 1000
    out = {
        "control": control,
        "horizon_h": round(horizon / 3600, 3),
        "planned_mw_by_category": {c: round(planned.get(c, 0.0), 4) for c in cats},
        "delivered_mw_by_category": {c: round(float(np.mean([d[c] for d in delivered])), 4) for c in cats},
        "delivered_mw_by_category_ci": {c: t_interval([d[c] for d in delivered]).to_dict(4) for c in cats},
        "delivered_over_planned": t_interval(ratio).to_dict(4),
        "planned_gw_horizon": round(gw(planned) / per_week, 6),
        "planned_gw_per_week": round(gw(planned), 6),
        "delivered_gw_horizon": t_interval([g / per_week for g in weekly]).to_dict(6),
        "delivered_gw_per_week": t_interval(weekly).to_dict(6),
        "_gw_per_replication": weekly,
        "units": traces[0].control["units"],
        "units_finished": t_interval([t.control["units_finished"] for t in traces]).to_dict(2),
        "finish_h": t_interval([t.control["last_finish_s"] / 3600 for t in traces]).to_dict(3),
        # Blocking deadlocks broken by parking a unit off the floor (sim.deadlock.Deadlocks.check).
        "deadlocks_resolved_per_replication": float(np.mean([t.control.get("deadlocks_resolved", 0) for t in traces])),
    }
    if control != "rule":
        starts = [t.control["starts"] for t in traces]
        out.update({
            "share_on_planned_cell": t_interval([t.control["on_planned_cell"] / max(s, 1) for t, s in zip(traces, starts)]).to_dict(4),
            "decisions_per_replication": _mean_counts([t.control["decisions"] for t in traces]),
            "decision_reasons_per_replication": _mean_counts([t.control["reasons"] for t in traces]),
            "replans_per_replication": float(np.mean([t.control["replans"] for t in traces])),
            "replan_cpu_s_per_replication": round(float(np.mean([t.control["replan_cpu_s"] for t in traces])), 4),
            "decision_ms": {"p50": _pct(handle, 50), "p95": _pct(handle, 95), "max": _pct(handle, 100), "n": int(handle.size)},
            "cell_down_decision_ms": {"p50": _pct(down, 50), "p95": _pct(down, 95), "max": _pct(down, 100), "n": int(down.size)},
            "cell_down_cpu_ms": {"p50": _pct(down_cpu, 50), "p95": _pct(down_cpu, 95), "max": _pct(down_cpu, 100), "n": int(down_cpu.size)},
            "buffers_respected": bool(min(t.control["min_places_free"] for t in traces) >= 0),
        })
    return out


def _pct(values, q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(values, q)), 4) if len(values) else None


def _mean_counts(counts: list[dict]) -> dict:
    keys = sorted({k for c in counts for k in c})
    return {k: round(sum(c.get(k, 0) for c in counts) / len(counts), 2) for k in keys}
