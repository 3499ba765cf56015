"""The floor in SimPy: every cell (every slot of a multi-job cell) takes the next operation from
its station's shared queue (or, executing a plan, what the floor controller hands it), changes
over, works through failures and planned windows, then passes the unit on: waiting for room in
the next station's input buffer (blocked) and for an AGV. Under a dispatch rule a cell is one
long-lived process; executing a plan it is callbacks on one reusable event (sim.plancells).
Units are data, not processes; statistics go to the observer at every state change."""
from __future__ import annotations

import heapq
import math
from copy import copy
from functools import partial
from itertools import tee
from typing import Callable

import simpy

from sim.calendar import DOWN as CAL_DOWN
from sim.calendar import Calendar, failure_windows, planned_windows
from sim.deadlock import Deadlocks
from sim.entities import DONE, EPS, QUEUED, WAITING, CellRun, Fleet, PlaceWait, Station, Task, Unit
from sim.layout import Layout, OpDef
from sim.observer import BLOCKED, BUSY, DOWN, IDLE, OFF, SETUP, STARVED, Observer
from sim.plancells import NORMAL, PlanCells, _duration
from sim.streams import Shape, Stream

INF = math.inf
WAKE = object()  # a waiting cell is woken to look again (window starts, planned start reached)


class Floor(PlanCells):
    """The floor model for one replication. `policy` is fifo | edd | sq; `control` (a
    sim.execution.ControlBridge) hands the cells their work when a plan is executed."""

    def __init__(self, env: simpy.Environment, layout: Layout, observer: Observer, streams: Callable[[str], Stream],
                 policy: str = "fifo", transport: tuple[int, float, float] = (0, 0.0, 0.0), control=None) -> None:
        self.env = env
        self.layout = layout
        self.obs = observer
        self.policy = policy
        self.stations = [Station(d) for d in layout.stations]
        self.yields = streams("yield")
        self.wip = 0
        self.units_done = 0
        self.next_key = 0
        self.on_finish: Callable[[Unit], None] | None = None
        self.on_first_start: Callable[[Unit], None] | None = None
        vehicles, travel, cv = transport
        self.fleet = Fleet(vehicles, travel, cv, streams("transport")) if vehicles > 0 else None
        self.control = control
        self.executed: list[tuple[str, str, str, float, float]] | None = None  # (job, op, cell, start, end) when recording
        self.cells: dict[str, CellRun] = {}
        self.deadlocks = Deadlocks(env, self.cells, control)
        # Public (the bridge calls it): bound here, not wrapped, as _enqueue calls it when a unit blocks.
        self.check_deadlock = self.deadlocks.check
        self.deadlocks.queue_held = self._queue_held  # a deadlock of parked units: their held-back work is queued
        # A plan's cells' event callbacks (see _begin): lists SimPy only iterates, shared by all.
        self._on_handed, self._on_end, self._on_arrival = [self._begin], [self._ended], [self._arrive]
        self._soon = getattr(env, "soon", None)  # a FloorEnvironment's queue of events due now (see hand)
        for station in self.stations:
            self._build_cells(station, streams)
        if control is not None:
            control.attach(self)
            self._enqueue = control.ready  # a unit at a station for a task is the controller's to place
        for cell in self.cells.values():
            cell.windows = None  # every reader is made: the copies alone hold what some reader has still to see
            if control is None:
                env.process(self._cell(cell))
            else:  # executing a plan, a cell is no process: it waits to be handed work (see hand)
                cell.callbacks, cell._ok, cell._value = None, True, None  # the cell's own event: see sim.plancells
                cell.pending = control.pending[cell.index]
                self._wait(cell)

    @property
    def deadlocks_resolved(self) -> int:
        """Units parked off the floor to break a blocking deadlock (sim.deadlock)."""
        return self.deadlocks.resolved

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
            if cell_id in d.cell_down:  # a repaired plan's downtime: the cell is down then
                sources.append((CAL_DOWN, iter(d.cell_down[cell_id])))
            # Slots of one bay see the same windows (a failed bay stops every unit in it), each
            # through its own reader of them: a slot works its operations out ahead, reading its
            # calendar past windows the other slots (and the bridge's watcher) have still to see.
            windows = [(kind, tee(it, 1)[0]) for kind, it in sources]
            for k in range(d.capacity):
                name = cell_id if d.capacity == 1 else f"{cell_id}/{k + 1}"
                cell = CellRun(name, station, self.obs.add_cell(station.index, STARVED))
                cell.times = streams(f"times/{name}")
                cell.normal = cell.times.normal  # its work times' normal draws, bound (no draw is made here)
                cell.windows = windows
                cell.calendar = self.calendar_of(cell)
                if d.mttf is not None and not wall_clock_failures:
                    cell.failures = failures
                    cell.mttf, cell.mttr = d.mttf, d.mttr
                    cell.repair_draw = failures.draw_of(Shape.of("gamma", d.repair_cv))
                    cell.failure_draw = failures.exponential
                    cell.ttf_left = d.mttf * failures.exponential()
                self.cells[name] = cell

    @staticmethod
    def calendar_of(cell: CellRun) -> Calendar | None:
        """A new reader of the cell's calendar, from its first window on (None: the cell has none).
        Only while the floor is built (the bridge's watchers are made then too)."""
        if cell.windows is None:
            raise RuntimeError(f"{cell.name}: a calendar's readers are made while the floor is built")
        if not cell.windows:
            return None
        return Calendar([(kind, copy(it)) for kind, it in cell.windows])

    def close(self) -> None:
        """Tell the observer about operations still waiting when the run stops, and what the
        operations under way had worked out ahead up to now."""
        for cell in self.cells.values():
            self._told(cell)
        for station in self.stations:
            for _, _, task in station.heap:
                self.obs.still_waiting(station.index, task.since)
        if self.control is not None:
            for task in self.control.ready_tasks.values():
                self.obs.still_waiting(self._route(task.unit, task.op).index, task.since)

    def dismantle(self) -> None:
        """After the run (and `close`): end every process still suspended and drop the pending
        events. Processes, their events and the floor refer to each other, so without this the
        whole floor is left to a full garbage collection, which on a 10 GW floor costs seconds
        (more than ten times the 1 GW floor's); broken up, it is freed as its last reference goes."""
        env = self.env
        pending = [entry[-1] for entry in env._queue]  # SimPy keeps scheduled events in Environment._queue
        if self._soon is not None:  # and a FloorEnvironment those due now in `soon`
            pending += [ev for _, _, ev in self._soon]
            self._soon.clear()
        pending += [cell.wait_ev for cell in self.cells.values() if cell.wait_ev is not None]
        for station in self.stations:
            pending += station.place_waiters
        if self.fleet is not None:
            pending += self.fleet.waiters
        for ev in pending:
            callbacks, ev.callbacks = ev.callbacks, None
            for callback in callbacks or ():
                process = getattr(callback, "__self__", None)
                if isinstance(process, simpy.events.Process) and process.is_alive:
                    process._generator.close()
                elif isinstance(callback, partial) and callback.func == self._resume:  # an operation driven by hand
                    callback.args[1].close()
        for cell in self.cells.values():
            cell.callbacks = cell.task = None
        for station in self.stations:
            station.waiting.clear()  # its idle cells (under a dispatch rule), which refer to it
        self._on_handed = self._on_end = self._on_arrival = None  # they hold the floor's own methods
        self.deadlocks.queue_held = None  # the floor's own method too: floor -> deadlocks -> floor
        env._queue.clear()
        if self.control is not None:
            self.control.floor = None
        self.on_finish = self.on_first_start = None

    # ----------------------------------------------------------------- units
    def new_unit(self, product: int, due: float, name: str | None = None, state: tuple | None = None) -> Unit:
        """A new unit (`state`: its (pending, status, ops_left) to start from, see Unit)."""
        defn = self.layout.products[product]
        unit = Unit(self.next_key, name or f"{defn.name}#{self.next_key + 1:05d}", defn, due, self.env.now, state)
        self.next_key += 1
        return unit

    def enter(self, unit: Unit, ops: list[int] | None = None):
        """Generator: let a unit onto the floor, waiting for room at its first stations (`ops`:
        the operations it starts with, when not the routing's roots: a unit carried in). A unit
        held back by a full first buffer waits off the floor: it counts in WIP and cycle time
        only from when it has its places."""
        tasks = []
        for op in (unit.product.roots if ops is None else ops):
            unit.status[op] = QUEUED
            station = self._route(unit, op)
            has_place = False
            if station.places_free != math.inf:
                if not unit.held.get(station.index):
                    if station.places_free > 0:
                        station.places_free -= 1
                    else:
                        ev = self.env.event()
                        self._wait_for_place(station, ev)
                        yield from self.deadlocks.wait_off_floor(unit, station, ev)
                unit.held[station.index] = unit.held.get(station.index, 0) + 1
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
        if self.control is not None:
            return self.control.station(unit, op)
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
        """The unit is at `station` for the task (executing a plan, the bridge's `ready` stands in for this)."""
        while station.waiting:
            cell = station.waiting.popleft()
            if cell.wait_ev is not None:
                ev, cell.wait_ev = cell.wait_ev, None
                ev.succeed(task)
                return
        station.seq += 1
        order = task.unit.due if self.policy == "edd" else station.seq
        heapq.heappush(station.heap, (order, station.seq, task))
        if station.blocked_slots:
            self.check_deadlock(station)

    def _take(self, station: Station) -> Task | None:
        if not station.heap:
            return None
        return heapq.heappop(station.heap)[2]

    def _give_place(self, station: Station) -> None:
        if station.place_waiters:
            station.place_waiters.popleft().succeed()
            if not station.place_waiters and self.control is not None:
                self.control.full(station, False)
        else:
            station.places_free += 1

    def _wait_for_place(self, station: Station, ev) -> None:
        station.place_waiters.append(ev)
        if len(station.place_waiters) == 1 and self.control is not None:
            self.control.full(station, True)

    # ----------------------------------------------------------------- cells
    def _cell(self, cell: CellRun):
        """Dispatch mode: take the next operation from the station's queue and run it, forever."""
        station, env = cell.station, self.env
        while True:
            task = self._take(station)
            if task is None:
                if cell.calendar is None:  # the common case, inline: wait to be handed a task
                    self.obs.state(cell.obs_id, STARVED if self.wip else IDLE)
                    cell.wait_ev = ev = env.event()
                    station.waiting.append(cell)
                    task = yield ev
                else:
                    task = yield from self._wait_for_work(cell)
                    if task is None:
                        continue
            # The common case inline (no changeover, no window, no failure due, room downstream),
            # sparing a generator per operation; a cell whose calendar only it reads works out
            # the rest ahead (one timeout per operation); anything else goes the general way.
            duration = self._take_up(cell, task)
            setup = duration is None
            if not setup and cell.calendar is None and duration < cell.ttf_left:
                started = env.now
                yield env.timeout(duration)
                if cell.failures is not None:
                    cell.ttf_left -= duration
                blocked = self._finish(cell, task, started)
                if blocked is not None:
                    yield from self._blocked(cell, task, blocked)
            elif cell.ahead:
                yield from self._operation(cell, task, setup, duration)
            else:
                yield from self._process_rest(cell, task, setup, duration)

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

    def _process_rest(self, cell: CellRun, task: Task, setup: bool, duration: float | None):
        """One operation taken up (`_take_up`): change over, work through failures and windows,
        pass the unit on (`duration` when the work has already started)."""
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

    def _operation(self, cell: CellRun, task: Task, setup: bool, duration: float | None):
        """`_process_rest` computed ahead: the changeover, the work, the planned windows and the
        failures it meets are worked out when the operation starts (`_work_out`), and the cell
        waits once, to the same float time the step-by-step way reaches (the same additions, in
        the same order, the same draws from the cell's own streams). Only a stop the controller
        must hear of as it begins makes the cell wait on the way (`_after_stop`). State changes
        after now are told to the observer when the operation ends (all are active states: no
        other cell's record depends on them in between)."""
        stopped, at, left, stop, started, waits = self._work_out(cell, task, setup, duration)
        if stopped is not None:
            yield from self._after_stop(cell, task, stopped, at, left, stop, started)
            return
        if waits:
            yield _at(self.env, at)
        self._told(cell)
        blocked = self._finish(cell, task, started)
        if blocked is not None:
            yield from self._blocked(cell, task, blocked)

    def _work_out(self, cell: CellRun, task: Task, setup: bool, duration: float | None) -> tuple:
        """The operation worked out ahead, from now: (None, end, 0, None, started, waits) when
        nothing makes it wait on the way (`waits`: whether the step-by-step way would have
        waited at all; zero work does not), else (SETUP or BUSY, time, work left, stop, started
        or None, True) at the first stop the controller must hear of as it begins."""
        at = self.env._now
        waits = False
        if setup:
            waits = True
            self.obs.state(cell.obs_id, SETUP)
            at, left, stop = self._ahead(cell, at, cell.setup, SETUP)
            if stop is not None:
                return SETUP, at, left, stop, None, True
            duration = self._work_time(cell, task, at)
        started = at
        if setup and cell.calendar is None and duration < cell.ttf_left:
            at += duration  # as _process_rest: one timeout, even of zero length
            if cell.failures is not None:
                cell.ttf_left -= duration
        else:
            waits = waits or duration > EPS
            at, left, stop = self._ahead(cell, at, duration, BUSY)
            if stop is not None:
                return BUSY, at, left, stop, started, True
        return None, at, 0.0, None, started, waits

    def _after_stop(self, cell: CellRun, task: Task, state: int, at: float, left: float, stop: tuple,
                    started: float | None):
        """The rest of an operation worked out ahead from a long stop on (`_work_out`'s stop)."""
        while stop is not None:
            at = yield from self._long_stop(cell, at, stop, state)
            at, left, stop = self._ahead(cell, at, left, state)
        if state == SETUP:
            duration = self._work_time(cell, task, at)
            started = at
            if cell.calendar is None and duration < cell.ttf_left:
                at += duration
                if cell.failures is not None:
                    cell.ttf_left -= duration
            else:
                at, left, stop = self._ahead(cell, at, duration, BUSY)
                while stop is not None:
                    at = yield from self._long_stop(cell, at, stop, BUSY)
                    at, left, stop = self._ahead(cell, at, left, BUSY)
        yield _at(self.env, at)
        self._told(cell)
        blocked = self._finish(cell, task, started)
        if blocked is not None:
            yield from self._blocked(cell, task, blocked)

    def _ahead(self, cell: CellRun, at: float, work: float, state: int) -> tuple[float, float, tuple | None]:
        """`_run` without waiting: from time `at`, work `work` seconds of the cell's time through
        windows and failures. (end, 0, None), or (time, work left, (chunk, repair)) at a failure
        whose repair the controller must hear of when it begins."""
        log = cell.log
        if cell.calendar is None:  # failures on the busy-time clock only: `_segment`'s steps, inline
            return self._fails_ahead(cell, at, work, state, log)
        while work > EPS:
            stop, chunk, repair = self._segment(cell, at, work)
            if stop is not None:  # a planned window or a wall-clock stop: blocked for `chunk`
                log.append((stop, at))
                at += chunk
                log.append((state, at))
            elif repair is None:
                at += chunk
                work -= chunk
            elif self.control is not None and repair >= self.control.notice_s:
                return at, work - chunk, (chunk, repair)
            else:
                at += chunk + repair
                work -= chunk
                log.append((DOWN, at - repair))
                log.append((state, at))
        return at, 0.0, None

    def _fails_ahead(self, cell: CellRun, at: float, work: float, state: int, log: list) -> tuple[float, float, tuple | None]:
        """`_ahead` for a cell without calendar: the same float steps and draws as through
        `_segment` (a third of a week's operations meet a failure: one call for them all)."""
        notice = self.control.notice_s if self.control is not None else math.inf
        ttf = cell.ttf_left
        while work > EPS:
            if work < ttf:  # the rest of the work, before the next failure
                if cell.failures is not None:
                    ttf -= work
                at += work
                break
            chunk = ttf
            repair = cell.mttr * cell.repair_draw()
            ttf = cell.mttf * cell.failure_draw()
            if repair >= notice:
                cell.ttf_left = ttf
                return at, work - chunk, (chunk, repair)
            at += chunk + repair
            work -= chunk
            log.append((DOWN, at - repair))
            log.append((state, at))
        cell.ttf_left = ttf
        return at, 0.0, None

    def _segment(self, cell: CellRun, at: float, work: float) -> tuple[int | None, float, float | None]:
        """The next stretch of `work` seconds of work from time `at` (both ways of running an
        operation step through these): (DOWN or OFF, wait, None) when a calendar window blocks
        the cell for `wait`; (None, chunk, None) when it works `chunk` seconds; (None, chunk, repair)
        when it fails after `chunk` seconds of work and is repaired in `repair` (the time to the
        next failure is drawn already)."""
        calendar = cell.calendar
        chunk = work
        if calendar is not None:
            # The next window's start, as last read, holds until then: a cell's time only moves
            # on, and nothing can start before the earliest next window of every source.
            start = cell.free_until
            if at >= start:
                start, end, kind = calendar.block(at)
                if start <= at:
                    return (DOWN if kind == CAL_DOWN else OFF), end - at, None
                cell.free_until = start
            if start - at < chunk:
                chunk = start - at
        if chunk < cell.ttf_left:
            if cell.failures is not None:
                cell.ttf_left -= chunk
            return None, chunk, None
        chunk = cell.ttf_left
        repair = cell.mttr * cell.repair_draw()
        cell.ttf_left = cell.mttf * cell.failure_draw()
        return None, chunk, repair

    def _long_stop(self, cell: CellRun, at: float, stop: tuple[float, float], state: int):
        """A failure the controller hears of as it begins (with the real repair end as the
        technician's estimate: it may move the cell's waiting work); returns the time the cell
        works again."""
        env = self.env
        chunk, repair = stop
        if at != env.now:
            yield _at(env, at)
        self._told(cell)
        env.timeout(chunk).callbacks.append(partial(self.control.cell_down, cell, env.now + chunk + repair))
        yield env.timeout(chunk + repair)
        self.control.cell_up(cell)
        self.obs.state(cell.obs_id, DOWN, at=env.now - repair)
        self.obs.state(cell.obs_id, state)
        return env.now

    def _told(self, cell: CellRun) -> None:
        """Tell the observer the state changes an operation worked out ahead, up to now (all of
        them, except when the run stops during the operation)."""
        log = cell.log
        if log:
            now = self.env._now
            if log[-1][1] <= now:
                self.obs.states(cell.obs_id, log)
                log.clear()
            else:
                k = 0
                while k < len(log) and log[k][1] <= now:
                    k += 1
                self.obs.states(cell.obs_id, log[:k])
                del log[:k]

    def _take_up(self, cell: CellRun, task: Task) -> float | None:
        """The cell takes the task and, unless it must change over first (None; `_work_time`
        starts the work after the changeover), starts the work now: its duration on this cell.
        The observer hears of the wait, the work's start and its delay in one call (each goes to
        a log of its own, and nothing in between writes to the log of waits)."""
        station, unit = cell.station, task.unit
        product = unit.product
        station.engaged += 1
        if self.on_first_start is not None and task.op == product.roots[0] and unit.reworks == 0:
            self.on_first_start(unit)
        if cell.setup > 0 and cell.family is not None and cell.family != product.family:
            self.obs.waited(station.index, task.since)
            return None
        self.obs.started(cell.obs_id, station.index, task.since, task.planned)
        cell.family = product.family
        op = product.ops[task.op]
        shape = op.shape
        if shape.kind == 2:  # _duration inline for the catalog's usual shape (the same products, in the same order)
            return op.duration * op.factor[station.index] * math.exp(shape.sigma * cell.normal() - shape.half_var) * task.share
        return _duration(cell, op, task.share)

    def _work_time(self, cell: CellRun, task: Task, at: float | None = None) -> float:
        """Start the work proper after a changeover (at `at` when worked out ahead); its
        duration on this cell."""
        unit = task.unit
        cell.family = unit.product.family
        if at is None:
            at = self.env._now
            self.obs.state(cell.obs_id, BUSY)
        else:
            cell.log.append((BUSY, at))
        if task.planned is not None:
            self.obs.start_delay(task.planned, at - task.planned)
        return _duration(cell, unit.product.ops[task.op], task.share)

    def _finish(self, cell: CellRun, task: Task, started: float) -> tuple[list[int], bool] | None:
        """Complete the operation and pass the unit on; (ready, rework) when that must wait."""
        unit = task.unit
        op = unit.product.ops[task.op]
        if self.executed is not None:
            self.executed.append((unit.name, op.id, cell.cell_id, started, self.env._now))
        # Mark the operation done (or failed: back to its rework target); the operations that
        # became ready, and whether they are rework.
        rework = op.fpy < 1.0 and self.yields.uniform() >= op.fpy
        if rework:
            ready = self._rework(unit, op)
        else:
            status = unit.status
            status[op.index] = DONE
            unit.ops_left = left = unit.ops_left - 1
            ready = []
            if left == 0:
                self._unit_done(unit)
            else:
                pending = unit.pending
                for s in op.succs:
                    if status[s] == WAITING:
                        pending[s] = n = pending[s] - 1
                        if n == 0:
                            status[s] = QUEUED
                            ready.append(s)
        if self.control is not None:
            self.control.finished(cell, task, rework)
        kept = False
        if ready:
            if len(ready) == 1:  # most often
                kept = self._pass_on_one(cell, unit, ready[0], rework, task.has_place)
            else:
                kept = self._pass_on_now(cell, unit, ready, rework, task.has_place)
            if kept is None:  # something downstream is full or no AGV is free: the cell blocks
                return ready, rework
        station = cell.station
        if task.has_place and not kept:  # `_release`, inline: the unit gives its place here up
            held = unit.held
            index = station.index
            n = held[index] - 1
            if n:
                held[index] = n
            else:  # its last operation here is done: the place is free
                del held[index]
                if station.place_waiters:
                    self._give_place(station)
                else:
                    station.places_free += 1
                station.engaged -= 1
                if held:
                    self._check_held(unit, station)
                return None
        station.engaged -= 1
        if station.place_waiters:  # a cell freed, no place: work queued here may be stuck behind others
            self.check_deadlock(station)
        if unit.held:
            self._check_held(unit, station)
        return None

    def _check_held(self, unit: Unit, here: Station) -> None:
        """The unit's work at `here` ended: a station elsewhere where it holds a place, for work
        queued there, counted that place as one that can still free while this work went on (a
        unit at work moves); now that it holds the place only for queued work, a deadlock can
        close there, and only this check sees it. (`here` has its own check.)"""
        for index in list(unit.held):
            station = self.stations[index]
            if station is not here and station.place_waiters:
                self.check_deadlock(station)

    def _blocked(self, cell: CellRun, task: Task, blocked: tuple[list[int], bool]):
        kept = yield from self._pass_on(cell, task.unit, blocked[0], blocked[1], task.has_place)
        self._release(cell, task, kept)

    def _release(self, cell: CellRun, task: Task, kept: bool) -> None:
        if task.has_place and not kept:
            held = task.unit.held
            index = cell.station.index
            held[index] -= 1
            if not held[index]:  # the unit's last operation here is done: its place is free
                del held[index]
                station = cell.station
                if station.place_waiters:
                    self._give_place(station)
                else:  # _give_place, inline when nobody waits for the place
                    station.places_free += 1
                station.engaged -= 1
                return
        station = cell.station
        station.engaged -= 1
        if station.place_waiters:  # a cell freed, no place: work queued here may be stuck behind others
            self.check_deadlock(station)

    def _run(self, cell: CellRun, work: float, state: int):
        """Work for `work` seconds of the cell's time: preempted by failures while working
        (busy-time clock) and by calendar windows, resuming where it stopped."""
        env, obs = self.env, self.obs
        while work > EPS:
            stop, chunk, repair = self._segment(cell, env.now, work)
            if stop is not None:
                obs.state(cell.obs_id, stop)
                yield env.timeout(chunk)
                obs.state(cell.obs_id, state)
            elif repair is None:
                yield env.timeout(chunk)
                work -= chunk
            elif self.control is not None and repair >= self.control.notice_s:
                yield from self._long_stop(cell, env.now, (chunk, repair), state)
                work -= chunk
            else:
                # Works until the failure, then is repaired: one event for both, the observer
                # told afterwards when the repair began (working and in repair are both active
                # states, so no other cell's record depends on the moment).
                yield env.timeout(chunk + repair)
                work -= chunk
                obs.state(cell.obs_id, DOWN, at=env.now - repair)
                obs.state(cell.obs_id, state)

    def _rework(self, unit: Unit, op: OpDef) -> list[int]:
        """Send the unit back through the failed operation's rework set; the operations ready now.
        Idempotent, as the controller's redo (scheduler.control): an operation of the set that is
        not done (queued, running, or waiting, e.g. a sibling target or one an overlapping redo
        sent back) merges with the redo where it is, never a second copy in a queue (the first
        would keep its place forever); the failed one and the done ones go back. Predecessor counts
        are re-derived from the statuses, never incremented, so overlapping redos count once."""
        ops = unit.product.ops
        status, pending = unit.status, unit.pending
        unit.reworks += 1
        back = [o for o in op.rework if o == op.index or status[o] == DONE]
        touched = dict.fromkeys(back)
        for o in back:
            if status[o] == DONE:
                unit.ops_left += 1
            status[o] = WAITING
            touched.update(dict.fromkeys(ops[o].succs))
        for o in touched:
            if status[o] == WAITING:
                pending[o] = sum(1 for p in ops[o].preds if status[p] != DONE)
        # The target, and any redone operation not after it (a rework_to that is not an
        # ancestor of the failed step leaves the failed step waiting on nothing redone).
        ready = [o for o in back if pending[o] == 0]
        for o in ready:
            status[o] = QUEUED
        return ready

    def _unit_done(self, unit: Unit) -> None:
        self.wip -= 1
        self.units_done += 1
        self.obs.finished_unit(unit.product.index, self.env._now - unit.released)
        if self.on_finish is not None:
            self.on_finish(unit)

    def _pass_on_now(self, cell: CellRun, unit: Unit, ready: list[int], rework: bool, holds_place: bool) -> bool | None:
        """`_pass_on` without a generator when nothing has to wait (most of the time); None when
        something would, having changed nothing. (`_pass_on_one` for one next operation.)"""
        here, held = cell.station, unit.held
        kept = leaves = False
        moves = []
        takes = []  # stations where the unit takes a new place (True) or shares the one it holds (False)
        took = []  # their stations
        for op in ready:
            station = self._station(unit, op)
            has_place = False
            if station is here and holds_place and not kept:
                kept = has_place = True
            elif station.places_free != math.inf and not rework:
                if held.get(station.index) or station in took:
                    has_place = True  # one unit, one place: its parallel operations there share it
                    takes.append((station, False))
                    took.append(station)
                elif station is not here:
                    if station.places_free < 1:
                        return None
                    has_place = True
                    takes.append((station, True))
                    took.append(station)
            moves.append((station, op, has_place))
            leaves = leaves or station is not here
        fleet = self.fleet
        if fleet is not None and leaves and fleet.free <= 0:
            return None
        for station, new in takes:
            if new:
                station.places_free -= 1
            held[station.index] = held.get(station.index, 0) + 1
        if fleet is not None and leaves:
            fleet.free -= 1
            self._send(unit, moves)
        else:
            now = self.env._now
            for station, op, has_place in moves:
                self._enqueue(station, Task(unit, op, now, has_place))
        return kept

    def _pass_on_one(self, cell: CellRun, unit: Unit, op: int, rework: bool, holds_place: bool) -> bool | None:
        """`_pass_on_now` for one next operation (two thirds of a week's completions), without
        its lists: the same checks, then the same changes."""
        control = self.control
        if control is not None:  # ControlBridge.station, inline
            station = control.station_of_pool[control.ctrl.pool_of(unit.first + op)]
        else:
            station = self._station(unit, op)
        here = cell.station
        kept = has_place = False
        held = 0  # the unit's operations sharing its place there, +1 (1: it takes a new place); 0: none taken
        if station is here and holds_place:
            kept = has_place = True
        elif station.places_free != INF and not rework:
            held = unit.held.get(station.index)
            if held:  # shares the place it holds there
                has_place, held = True, held + 1
            elif station is not here:
                if station.places_free < 1:
                    return None
                has_place, held = True, 1
            else:
                held = 0
        fleet = self.fleet
        leaves = fleet is not None and station is not here
        if leaves and fleet.free <= 0:
            return None
        if held:  # (a unit's count of a place is never 0: it is deleted then)
            if held == 1:
                station.places_free -= 1
            unit.held[station.index] = held
        env = self.env
        if leaves:  # `_send`, inline, for one move: carried on the trip itself, no list
            fleet.free -= 1
            normal = fleet.normal
            travel = fleet.travel * math.exp(fleet.sigma * normal() - fleet.half_var) if normal is not None else fleet.travel
            trip = _Trip()
            trip.callbacks, trip._ok, trip.unit, trip.moves, trip.station, trip.op, trip.has_place = (
                self._on_arrival, True, unit, None, station, op, has_place)
            heapq.heappush(env._queue, (env._now + travel, NORMAL, next(env._eid), trip))
        else:
            self._enqueue(station, Task(unit, op, env._now, has_place))
        return kept

    def _station(self, unit: Unit, op: int) -> Station:
        """`_route` without a call for the common cases (the plan's station; a single option)."""
        control = self.control
        if control is not None:
            return control.station_of_pool[control.ctrl.pool_of(unit.first + op)]
        if self.policy != "sq":
            return self.stations[unit.product.ops[op].options[0][0]]
        return self._route(unit, op)

    def _send(self, unit: Unit, moves: list) -> None:
        """An AGV (counted taken already) carries the unit to its next stations: it is queued
        there when the trip ends (`_arrive`). The trip is a light entry in SimPy's queue, as a
        timeout of its travel time would be."""
        fleet = self.fleet
        normal = fleet.normal  # the trip's travel time: lognormal around the fleet's mean
        travel = fleet.travel * math.exp(fleet.sigma * normal() - fleet.half_var) if normal is not None else fleet.travel
        trip = _Trip()
        trip.callbacks, trip._ok, trip.unit, trip.moves = self._on_arrival, True, unit, moves
        env = self.env
        heapq.heappush(env._queue, (env._now + travel, NORMAL, next(env._eid), trip))

    def _pass_on(self, cell: CellRun | None, unit: Unit, ready: list[int], rework: bool, holds_place: bool,
                 parked: tuple | None = None):
        """Blocking after service: hold the unit until each next station has a free place, then
        wait for an AGV. A next operation in the same station keeps the unit's place; rework
        travels in its own lane and needs none (so a rework loop cannot deadlock the line).
        Returns whether the unit's place here was kept. A unit parked off the floor to break a
        deadlock goes on in its own process (`cell` None, `parked` where it stopped: the
        operation, its station, the moves so far, whether it kept its place, its wait event)."""
        env = self.env
        here = cell.station if cell is not None else None
        moves, kept, leaves, first, ev = [], False, False, 0, None
        if parked is not None:
            first, parked_at, moves, kept, ev = parked
            leaves = True  # off the floor: every next station is a trip
        for i in range(first, len(ready)):
            op = ready[i]
            station = parked_at if i == first and parked is not None else self._route(unit, op)
            has_place = False
            if station is here and holds_place and not kept:
                kept = has_place = True
            elif station.places_free != math.inf and not rework and (station is not here or unit.held.get(station.index)):
                if not unit.held.get(station.index):
                    if ev is not None:  # parked: wait off the floor where it waited on its cell
                        yield from self.deadlocks.wait_off_floor(unit, station, ev, moves)
                        ev = None
                    elif station.places_free > 0:
                        station.places_free -= 1
                    elif cell is None:
                        ev = env.event()
                        self._wait_for_place(station, ev)
                        yield from self.deadlocks.wait_off_floor(unit, station, ev, moves)
                        ev = None
                    else:
                        self.obs.state(cell.obs_id, BLOCKED)
                        ev = env.event()
                        self._wait_for_place(station, ev)
                        # Leaving frees its place here only if no next operation keeps it here.
                        frees = (holds_place and not kept and unit.held.get(here.index) == 1
                                 and not any(s == here.index for j in ready[i + 1:] for s, _ in unit.product.ops[j].options))
                        wait = self.deadlocks.add(PlaceWait(unit, station, here, cell, frees, ev))
                        got = yield ev
                        self.deadlocks.drop(wait)
                        if got is not None:  # parked to break a deadlock: the cell is free, the unit goes on off the floor
                            moves = self._queue_held(unit, moves)
                            env.process(self._pass_on(None, unit, ready, rework, False, (i, station, moves, kept, got)))
                            return kept
                        ev = None
                    if unit.held.get(station.index):
                        # Granted while waiting, but a parallel branch of the unit took a place
                        # there meanwhile: one unit, one place (its operations share it, and only
                        # the last to leave gives it up), so the second goes back.
                        self._give_place(station)
                elif ev is not None:  # parked in the line here, and a branch of the unit has taken a place here since
                    self._leave_line(station, ev)
                    ev = None
                unit.held[station.index] = unit.held.get(station.index, 0) + 1
                has_place = True
            moves.append((station, op, has_place))
            leaves = leaves or station is not here
        fleet = self.fleet
        if fleet is not None and leaves:
            if fleet.free > 0:
                fleet.free -= 1
            else:
                if cell is not None:
                    self.obs.state(cell.obs_id, BLOCKED)
                ev = env.event()
                fleet.waiters.append(ev)
                yield ev
            self._send(unit, moves)
        else:
            for station, op, has_place in moves:
                self._enqueue(station, Task(unit, op, env.now, has_place))
        return kept

    def _leave_line(self, station: Station, ev: simpy.Event) -> None:
        """A parked unit's wait for a place at `station` it shares now (a parallel branch of it took
        one there since it was parked) leaves the line: left there, the next place freed there
        would go to a wait nobody waits on, and be lost for good. (Granted already: given back.)"""
        if ev.triggered:
            self._give_place(station)
            return
        waiters = station.place_waiters
        waiters.remove(ev)
        if not waiters and self.control is not None:
            self.control.full(station, False)

    def _queue_held(self, unit: Unit, moves: list) -> list:
        """A unit parked off the floor: the next operations it has its places for already (one that
        keeps its place where it was, one that shares a place it holds) are queued there now, not
        when it has its last place. Held back, they would hold those places with no work queued for
        them: the cell it left free, with the unit's place, for nothing, and another unit waiting
        for that place (a cycle of two, each keeping its place for its next operation) stuck for
        good, the parked units off the floor where no check can break it. Returns the other moves."""
        now = self.env.now
        for station, op, has_place in moves:
            if has_place:
                self._enqueue(station, Task(unit, op, now, has_place))
        return [move for move in moves if not move[2]]

    def _arrive(self, trip: _Trip) -> None:
        """An AGV trip ends: the unit is queued at its next stations, the vehicle is free."""
        unit, now, moves = trip.unit, self.env._now, trip.moves
        if moves is None:  # one move (`_pass_on_one`)
            self._enqueue(trip.station, Task(unit, trip.op, now, trip.has_place))
        else:
            for station, op, has_place in moves:
                self._enqueue(station, Task(unit, op, now, has_place))
        fleet = self.fleet
        if fleet.waiters:
            fleet.waiters.popleft().succeed()
        else:
            fleet.free += 1


def _at(env: simpy.Environment, at: float) -> simpy.Event:
    """An event at absolute time `at`: a timeout would add now + (at - now), which can differ
    from `at` in the last bit. Pushed into SimPy's queue as Environment.schedule does."""
    ev = simpy.Event(env)
    ev._ok, ev._value = True, None
    heapq.heappush(env._queue, (at, simpy.events.NORMAL, next(env._eid), ev))
    return ev


class _Trip:
    """An AGV trip in SimPy's queue: what Environment.step reads of an event (its callbacks, and
    that it did not fail; lighter than a Timeout), and the unit and its moves (station,
    operation, has a place); a trip of one move (most) holds it in `station`, `op`, `has_place`,
    with `moves` None."""

    __slots__ = ("callbacks", "_ok", "unit", "moves", "station", "op", "has_place")


def _wake(cell: CellRun, ev: simpy.Event, _event=None) -> None:
    if cell.wait_ev is ev:
        cell.wait_ev = None
        ev.succeed(WAKE)
