"""The floor as SimPy processes: every cell (every slot of a multi-job cell) is one long-lived
process that takes the next operation from its station's shared queue (or its planned
sequence), changes over, works through failures and planned windows, then passes the unit on:
waiting for room in the next station's input buffer (blocked) and for an AGV. Units are data,
not processes; statistics go to the observer at every state change."""
from __future__ import annotations

import heapq
import math
from functools import partial
from typing import Callable

import simpy

from sim.calendar import DOWN as CAL_DOWN
from sim.calendar import Calendar, failure_windows, planned_windows
from sim.entities import DONE, QUEUED, WAITING, CellRun, Fleet, Station, Task, Unit
from sim.layout import Layout, OpDef
from sim.observer import BLOCKED, BUSY, DOWN, IDLE, OFF, SETUP, STARVED, Observer
from sim.streams import Shape, Stream

WAKE = object()  # a waiting cell is woken to look again (window starts, planned start reached)
_EPS = 1e-9


class Floor:
    """The floor model for one replication. `policy` is fifo | edd | sq; `plan` maps
    (unit key, op index) -> (cell name, planned start) when a schedule is executed."""

    def __init__(self, env: simpy.Environment, layout: Layout, observer: Observer, streams: Callable[[str], Stream],
                 policy: str = "fifo", transport: tuple[int, float, float] = (0, 0.0, 0.0),
                 plan: dict[tuple[int, int], tuple[str, float]] | None = None) -> None:
        self.env = env
        self.layout = layout
        self.obs = observer
        self.policy = policy
        self.stations = [Station(d) for d in layout.stations]
        if plan is not None:
            # A plan fixes each cell's order; with finite buffers a late unit holding the place a
            # cell's next planned unit needs deadlocks the line. The plan owns its WIP: executing
            # one, buffers are not enforced (and blocking is not modelled).
            for station in self.stations:
                station.places_free = math.inf
        self.yields = streams("yield")
        self.wip = 0
        self.units_done = 0
        self.next_key = 0
        self.on_finish: Callable[[Unit], None] | None = None
        self.on_first_start: Callable[[Unit], None] | None = None
        vehicles, travel, cv = transport
        self.fleet = Fleet(vehicles, travel, cv, streams("transport")) if vehicles > 0 else None
        self.plan = plan
        self.executed: list[tuple[str, str, str, float, float]] | None = None  # (job, op, cell, start, end) when recording
        # Planned operations already started (or voided by rework): routed as unplanned from now on.
        self._consumed: set[tuple[int, int]] = set()
        self.planned_ready: dict[tuple[int, int], Task] = {}
        self.cells: dict[str, CellRun] = {}
        for station in self.stations:
            self._build_cells(station, streams)
        if plan is not None:
            for (key, op), (cell_name, start) in plan.items():
                self.cells[cell_name].plan.append((key, op, start))
            for cell in self.cells.values():
                cell.plan.sort(key=lambda p: p[2])
        for cell in self.cells.values():
            env.process(self._planned_cell(cell) if plan is not None else self._cell(cell))

    # ----------------------------------------------------------------- construction
    def _build_cells(self, station: Station, streams: Callable[[str], Stream]) -> None:
        d = station.defn
        wall_clock_failures = d.mttf is not None and (d.fails_when == "always" or d.capacity > 1)
        for cell_id in d.cells:
            sources = []
            if d.windows:
                sources.append(("off", planned_windows(d.windows)))
            failures = streams(f"failures/{cell_id}") if d.mttf is not None else None
            if wall_clock_failures:
                sources.append((CAL_DOWN, failure_windows(d.mttf, d.mttr, d.repair_cv, failures)))
            # Slots of one bay share its calendar: a failed bay stops every unit in it.
            calendar = Calendar(sources) if sources else None
            for k in range(d.capacity):
                name = cell_id if d.capacity == 1 else f"{cell_id}/{k + 1}"
                cell = CellRun(name, station, self.obs.add_cell(station.index, STARVED))
                cell.times = streams(f"times/{name}")
                cell.calendar = calendar
                if d.mttf is not None and not wall_clock_failures:
                    cell.failures = failures
                    cell.mttf, cell.mttr = d.mttf, d.mttr
                    cell.repair_shape = Shape.of("gamma", d.repair_cv)
                    cell.ttf_left = d.mttf * failures.exponential()
                self.cells[name] = cell

    def close(self) -> None:
        """Tell the observer about operations still waiting when the run stops."""
        for station in self.stations:
            for _, _, task in station.heap:
                self.obs.still_waiting(station.index, task.since)
        for task in self.planned_ready.values():
            self.obs.still_waiting(self._route(task.unit, task.op).index, task.since)

    # ----------------------------------------------------------------- units
    def new_unit(self, product: int, due: float, name: str | None = None) -> Unit:
        defn = self.layout.products[product]
        unit = Unit(self.next_key, name or f"{defn.name}#{self.next_key + 1:05d}", defn, due, self.env.now)
        self.next_key += 1
        return unit

    def enter(self, unit: Unit):
        """Generator: let a unit onto the floor, waiting for room at its first stations. A unit
        held back by a full first buffer waits off the floor: it counts in WIP and cycle time
        only from when it has its places."""
        tasks = []
        for op in unit.product.roots:
            unit.status[op] = QUEUED
            station = self._route(unit, op)
            has_place = False
            if station.places_free != math.inf:
                if station.places_free > 0:
                    station.places_free -= 1
                else:
                    ev = self.env.event()
                    station.place_waiters.append(ev)
                    yield ev
                has_place = True
            tasks.append((station, op, has_place))
        self.wip += 1
        unit.released = self.env.now
        self.obs.released_unit(unit.product.index)
        for station, op, has_place in tasks:
            self._enqueue(station, Task(unit, op, unit.released, has_place))

    def enter_now(self, unit: Unit) -> None:
        """Let a unit on from a callback: at once when there is room, else by a short process."""
        if all(self._route(unit, op).places_free > 0 for op in unit.product.roots):
            for _ in self.enter(unit):
                raise AssertionError("room was checked")  # pragma: no cover
        else:
            self.env.process(self.enter(unit))

    # ----------------------------------------------------------------- queues
    def _route(self, unit: Unit, op: int) -> Station:
        if self.plan is not None:
            planned = self.plan.get((unit.key, op))
            if planned is not None and (unit.key, op) not in self._consumed:
                return self.cells[planned[0]].station
        options = unit.product.ops[op].options
        if len(options) == 1 or self.policy != "sq":
            return self.stations[options[0][0]]
        # Join the shortest queue: the station where the unit expects to start soonest, queue
        # and engaged slots per slot, scaled by how fast that station does this operation.
        best, best_load = None, math.inf
        for index, factor in options:
            st = self.stations[index]
            load = (len(st.heap) + st.engaged + 1) / st.slots * factor
            if load < best_load:
                best, best_load = st, load
        return best

    def _enqueue(self, station: Station, task: Task) -> None:
        key = (task.unit.key, task.op)
        if self.plan is not None and key in self.plan and key not in self._consumed:
            self.planned_ready[key] = task
            cell = self.cells[self.plan[key][0]]
            if cell.waiting_for == key and cell.wait_ev is not None:
                ev, cell.wait_ev = cell.wait_ev, None
                ev.succeed(WAKE)
            return
        while station.waiting:
            cell = station.waiting.popleft()
            if cell.wait_ev is not None:
                ev, cell.wait_ev = cell.wait_ev, None
                ev.succeed(task)
                return
        station.seq += 1
        order = task.unit.due if self.policy == "edd" else station.seq
        heapq.heappush(station.heap, (order, station.seq, task))

    def _take(self, station: Station) -> Task | None:
        if not station.heap:
            return None
        return heapq.heappop(station.heap)[2]

    def _give_place(self, station: Station) -> None:
        if station.place_waiters:
            station.place_waiters.popleft().succeed()
        else:
            station.places_free += 1

    # ----------------------------------------------------------------- cells
    def _cell(self, cell: CellRun):
        """Dispatch mode: take the next unit from the station's queue, forever."""
        station = cell.station
        while True:
            task = self._take(station)
            if task is None:
                if cell.calendar is None:  # the common case, inline: wait to be handed a task
                    self.obs.state(cell.obs_id, STARVED if self.wip else IDLE)
                    cell.wait_ev = ev = self.env.event()
                    station.waiting.append(cell)
                    task = yield ev
                else:
                    task = yield from self._wait_for_work(cell)
                    if task is None:
                        continue
            # The common case inline (no changeover, no window, no failure due, room downstream),
            # sparing a generator per operation; anything else goes the general way.
            setup = self._take_up(cell, task)
            duration = None if setup else self._work_time(cell, task)
            if duration is not None and cell.calendar is None and duration < cell.ttf_left:
                started = self.env.now
                yield self.env.timeout(duration)
                if cell.failures is not None:
                    cell.ttf_left -= duration
                blocked = self._finish(cell, task, started)
                if blocked is not None:
                    yield from self._blocked(cell, task, blocked)
            else:
                yield from self._process_rest(cell, task, setup, duration)

    def _planned_cell(self, cell: CellRun):
        """Plan mode: follow the planned sequence in order, never ahead of the planned start;
        rework (not in any plan) is served first, from the station's shared queue."""
        env, station = self.env, cell.station
        i = 0
        while True:
            task = self._take(station)
            if task is None and i < len(cell.plan):
                key_unit, op, start = cell.plan[i]
                key = (key_unit, op)
                task = self.planned_ready.get(key)
                # The plan's start is when work begins; a changeover comes before it.
                begin = start - (cell.setup if task is not None and cell.family not in (None, task.unit.product.family) else 0.0)
                if task is not None and env.now >= begin - _EPS:
                    del self.planned_ready[key]
                    self._consumed.add(key)
                    i += 1
                    task.planned = start
                else:
                    self.obs.state(cell.obs_id, IDLE if task is not None else STARVED)
                    ev = env.event()
                    cell.wait_ev, cell.waiting_for = ev, key
                    station.waiting.append(cell)
                    if task is not None:
                        env.timeout(begin - env.now).callbacks.append(partial(_wake, cell, ev))
                    got = yield ev
                    cell.wait_ev, cell.waiting_for = None, None
                    if got is WAKE:
                        continue
                    task = got
            elif task is None:
                task = yield from self._wait_for_work(cell)
                if task is None:
                    continue
            yield from self._process(cell, task)

    def _wait_for_work(self, cell: CellRun):
        """Wait for the station to hand this cell a task; sleep through planned windows and
        wall-clock failures rather than take work it could not start."""
        env = self.env
        calendar = cell.calendar
        if calendar is not None:
            start, end, kind = calendar.block(env.now)
            if start <= env.now:
                self.obs.state(cell.obs_id, DOWN if kind == CAL_DOWN else OFF)
                yield env.timeout(end - env.now)
                return None
        self.obs.state(cell.obs_id, STARVED if self.wip else IDLE)
        ev = env.event()
        cell.wait_ev = ev
        cell.station.waiting.append(cell)
        if calendar is not None and start < math.inf:
            env.timeout(start - env.now).callbacks.append(partial(_wake, cell, ev))
        got = yield ev
        cell.wait_ev = None
        return None if got is WAKE else got

    def _process(self, cell: CellRun, task: Task):
        """One operation on one cell: take it up, change over, work, pass the unit on."""
        yield from self._process_rest(cell, task, self._take_up(cell, task), None)

    def _process_rest(self, cell: CellRun, task: Task, setup: bool, duration: float | None):
        env = self.env
        if setup:
            self.obs.state(cell.obs_id, SETUP)
            yield from self._run(cell, cell.setup, SETUP)
        if duration is None:
            duration = self._work_time(cell, task)
        started = env.now
        if cell.calendar is None and duration < cell.ttf_left:
            yield env.timeout(duration)
            if cell.failures is not None:
                cell.ttf_left -= duration
        else:
            yield from self._run(cell, duration, BUSY)
        blocked = self._finish(cell, task, started)
        if blocked is not None:
            yield from self._blocked(cell, task, blocked)

    def _take_up(self, cell: CellRun, task: Task) -> bool:
        """The cell takes the task; whether it must change over first."""
        station, unit = cell.station, task.unit
        station.engaged += 1
        self.obs.waited(station.index, task.since)
        if self.on_first_start is not None and task.op == unit.product.roots[0] and unit.reworks == 0:
            self.on_first_start(unit)
        return cell.setup > 0 and cell.family is not None and cell.family != unit.product.family

    def _work_time(self, cell: CellRun, task: Task) -> float:
        """Start the work proper (after any changeover); its duration on this cell."""
        unit = task.unit
        op = unit.product.ops[task.op]
        cell.family = unit.product.family
        self.obs.state(cell.obs_id, BUSY)
        duration = op.duration * op.factor[cell.station.index]
        shape = op.shape
        if shape.kind == 2:  # lognormal, the catalog's usual shape: inline
            duration *= math.exp(shape.sigma * cell.times.normal() - shape.half_var)
        elif shape.kind:
            duration *= cell.times.multiplier(shape)
        if task.planned is not None:
            self.obs.start_delay(task.planned, self.env.now - task.planned)
        return duration

    def _finish(self, cell: CellRun, task: Task, started: float) -> tuple[list[int], bool] | None:
        """Complete the operation and pass the unit on; (ready, rework) when that must wait."""
        unit = task.unit
        op = unit.product.ops[task.op]
        if self.executed is not None:
            self.executed.append((unit.name, op.id, cell.cell_id, started, self.env.now))
        ready, rework = self._complete(unit, op)
        kept = False
        if ready:
            kept = self._pass_on_now(cell, unit, ready, rework, task.has_place)
            if kept is None:  # something downstream is full or no AGV is free: the cell blocks
                return ready, rework
        self._release(cell, task, kept)
        return None

    def _blocked(self, cell: CellRun, task: Task, blocked: tuple[list[int], bool]):
        kept = yield from self._pass_on(cell, task.unit, blocked[0], blocked[1], task.has_place)
        self._release(cell, task, kept)

    def _release(self, cell: CellRun, task: Task, kept: bool) -> None:
        if task.has_place and not kept:
            self._give_place(cell.station)
        cell.station.engaged -= 1

    def _run(self, cell: CellRun, work: float, state: int):
        """Work for `work` seconds of the cell's time: preempted by failures while working
        (busy-time clock) and by calendar windows, resuming where it stopped."""
        env, obs = self.env, self.obs
        calendar = cell.calendar
        while work > _EPS:
            chunk = work
            if calendar is not None:
                start, end, kind = calendar.block(env.now)
                if start <= env.now:
                    obs.state(cell.obs_id, DOWN if kind == CAL_DOWN else OFF)
                    yield env.timeout(end - env.now)
                    obs.state(cell.obs_id, state)
                    continue
                if start - env.now < chunk:
                    chunk = start - env.now
            if chunk < cell.ttf_left:
                yield env.timeout(chunk)
                work -= chunk
                if cell.failures is not None:
                    cell.ttf_left -= chunk
                continue
            # Works until the failure, then is repaired: one event for both, the observer told
            # afterwards when the repair began (working and in repair are both active states,
            # so no other cell's record depends on the moment).
            chunk = cell.ttf_left
            repair = cell.mttr * cell.failures.multiplier(cell.repair_shape)
            yield env.timeout(chunk + repair)
            work -= chunk
            obs.state(cell.obs_id, DOWN, at=env.now - repair)
            obs.state(cell.obs_id, state)
            cell.ttf_left = cell.mttf * cell.failures.exponential()

    def _complete(self, unit: Unit, op: OpDef) -> tuple[list[int], bool]:
        """Mark the operation done (or failed: back to its rework target); the operations that
        became ready, and whether they are rework."""
        if op.fpy < 1.0 and self.yields.uniform() >= op.fpy:
            return self._rework(unit, op), True
        unit.status[op.index] = DONE
        unit.ops_left -= 1
        if unit.ops_left == 0:
            self._unit_done(unit)
            return [], False
        ready = []
        for s in op.succs:
            if unit.status[s] == WAITING:
                unit.pending[s] -= 1
                if unit.pending[s] == 0:
                    unit.status[s] = QUEUED
                    ready.append(s)
        return ready, False

    def _rework(self, unit: Unit, op: OpDef) -> list[int]:
        ops = unit.product.ops
        redo = op.rework
        inside = op.in_rework
        unit.reworks += 1
        for o in redo:
            if unit.status[o] == DONE:
                unit.ops_left += 1
                for s in ops[o].succs:
                    if s not in inside and unit.status[s] == WAITING:
                        unit.pending[s] += 1
        for o in redo:
            unit.status[o] = WAITING
            unit.pending[o] = sum(1 for p in ops[o].preds if p in inside)
        target = redo[0]
        unit.pending[target] = 0
        unit.status[target] = QUEUED
        if self.plan is not None:
            self._consumed.update((unit.key, o) for o in redo)
        return [target]

    def _unit_done(self, unit: Unit) -> None:
        self.wip -= 1
        self.units_done += 1
        self.obs.finished_unit(unit.product.index, self.env.now - unit.released)
        if self.on_finish is not None:
            self.on_finish(unit)

    def _pass_on_now(self, cell: CellRun, unit: Unit, ready: list[int], rework: bool, holds_place: bool) -> bool | None:
        """`_pass_on` without a generator when nothing has to wait (most of the time); None when
        something would, having changed nothing."""
        here = cell.station
        kept = leaves = False
        moves = []
        direct = self.plan is None and self.policy != "sq"
        for op in ready:
            station = self.stations[unit.product.ops[op].options[0][0]] if direct else self._route(unit, op)
            has_place = False
            if station is here and holds_place and not kept:
                kept = has_place = True
            elif station.places_free != math.inf and station is not here and not rework:
                if station.places_free < 1 + sum(1 for m in moves if m[0] is station and m[2]):
                    return None
                has_place = True
            moves.append((station, op, has_place))
            leaves = leaves or station is not here
        fleet = self.fleet
        if fleet is not None and leaves and fleet.free <= 0:
            return None
        for station, op, has_place in moves:
            if has_place and station is not here:
                station.places_free -= 1
        if fleet is not None and leaves:
            fleet.free -= 1
            travel = fleet.travel * fleet.stream.multiplier(fleet.shape) if fleet.shape.kind else fleet.travel
            self.env.timeout(travel).callbacks.append(partial(self._deliver, unit, moves))
        else:
            now = self.env.now
            for station, op, has_place in moves:
                self._enqueue(station, Task(unit, op, now, has_place))
        return kept

    def _pass_on(self, cell: CellRun, unit: Unit, ready: list[int], rework: bool, holds_place: bool):
        """Blocking after service: hold the unit until each next station has a free place, then
        wait for an AGV. A next operation in the same station keeps the unit's place; rework
        travels in its own lane and needs none (so a rework loop cannot deadlock the line).
        Returns whether the unit's place here was kept."""
        env = self.env
        here = cell.station
        moves = []
        kept = leaves = False
        for op in ready:
            station = self._route(unit, op)
            has_place = False
            if station is here and holds_place and not kept:
                kept = has_place = True
            elif station.places_free != math.inf and station is not here and not rework:
                if station.places_free > 0:
                    station.places_free -= 1
                else:
                    self.obs.state(cell.obs_id, BLOCKED)
                    ev = env.event()
                    station.place_waiters.append(ev)
                    yield ev
                has_place = True
            moves.append((station, op, has_place))
            leaves = leaves or station is not here
        fleet = self.fleet
        if fleet is not None and leaves:
            if fleet.free > 0:
                fleet.free -= 1
            else:
                self.obs.state(cell.obs_id, BLOCKED)
                ev = env.event()
                fleet.waiters.append(ev)
                yield ev
            travel = fleet.travel * fleet.stream.multiplier(fleet.shape) if fleet.shape.kind else fleet.travel
            env.timeout(travel).callbacks.append(partial(self._deliver, unit, moves))
        else:
            for station, op, has_place in moves:
                self._enqueue(station, Task(unit, op, env.now, has_place))
        return kept

    def _deliver(self, unit: Unit, moves: list, _event=None) -> None:
        now = self.env.now
        for station, op, has_place in moves:
            self._enqueue(station, Task(unit, op, now, has_place))
        fleet = self.fleet
        if fleet.waiters:
            fleet.waiters.popleft().succeed()
        else:
            fleet.free += 1


def _wake(cell: CellRun, ev: simpy.Event, _event=None) -> None:
    if cell.wait_ev is ev:
        cell.wait_ev = None
        ev.succeed(WAKE)
