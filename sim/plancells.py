"""Executing a plan, a cell is no SimPy process: it is a few callbacks on its own reusable event
(the plan-mode half of sim.floor.Floor, a mixin of it: it reads the floor's state and uses its
steps, `_take_up`, `_work_out`, `_ahead`, `_finish`, `_told` ...); the cell slot is that event
itself (what SimPy's loop reads of one: callbacks, _ok, _value). Handed work while waiting, a
cell starts at the event the process would have been resumed by (same time, same place in
SimPy's queue, so same-instant events keep their order); the operation's end is one event whose
callback finishes it and takes the next task the controller started for the cell. Only the rare
operations that must wait on the way (a long stop the controller hears of, a cell whose calendar
others read, a changeover, blocking downstream, an AGV) run as a generator, driven by hand from
its events in the same order a SimPy process would be (`PlanCells._drive`)."""
from __future__ import annotations

import heapq
import math
from functools import partial

import simpy

from sim.entities import EPS, CellRun, Task
from sim.layout import OpDef
from sim.observer import BUSY, IDLE, STARVED

NORMAL = simpy.events.NORMAL


class PlanCells:
    """The cells' callbacks executing a plan (`Floor` is one)."""

    def _wait(self, cell: CellRun) -> None:
        """The cell has no work: it waits for the controller to start some on it (ControlBridge._start)."""
        self.obs.state(cell.obs_id, STARVED if self.wip else IDLE)
        cell.idle = True
        if cell.waiting_slots is not None:
            heapq.heappush(cell.waiting_slots, cell.slot)

    def hand(self, cell: CellRun, task: Task) -> None:
        """Hand a waiting cell a task: it starts at an event now (where a process's wake-up would
        be), in the environment's queue of events due now when it has one
        (sim.replication.FloorEnvironment.schedule_now, inline)."""
        cell.idle = False
        cell.task = task
        cell.callbacks = self._on_handed
        env = self.env
        if self._soon is not None:
            self._soon.append((next(env._eid), env._now, cell))
        else:
            heapq.heappush(env._queue, (env._now, NORMAL, next(env._eid), cell))

    def _next(self, cell: CellRun) -> None:
        """The cell is free: the next task the controller started on it, or wait."""
        if cell.pending:
            cell.task = cell.pending.popleft()
            self._begin(cell)
        else:
            self._wait(cell)

    def _begin(self, cell: CellRun) -> None:
        """Take up the cell's task (handed work, its event now; or its next task set as
        `cell.task`): the common cases end in one event at the operation's end (_ended).
        An operation worked out ahead with nothing to wait for ends at once, and the cell's next
        task begins in this loop, not in a nested call: a run of zero-length operations on a
        cell would otherwise nest three calls per operation, up to a RecursionError. Same order
        as the nested calls, which were each the caller's last act."""
        env = self.env
        while True:
            task = cell.task
            duration = self._take_up(cell, task)
            setup = duration is None
            if not setup and cell.calendar is None and duration < cell.ttf_left:  # the common case: one event, at its end
                cell.ttf_left -= duration  # (a cell without failures has ttf_left inf: it stays inf)
                cell.started = now = env._now
                cell.callbacks = self._on_end
                heapq.heappush(env._queue, (now + duration, NORMAL, next(env._eid), cell))
            elif not setup and cell.calendar is None and cell.ahead and duration > EPS:
                # A failure on the way (busy-time clock), worked out now: `_work_out` without a
                # changeover, and `_ahead` without its test for a calendar (there is none).
                started = env._now
                at, left, stop = self._fails_ahead(cell, started, duration, BUSY, cell.log)
                if stop is not None:
                    self._drive(cell, self._after_stop(cell, task, BUSY, at, left, stop, started))
                    return
                cell.started = started
                cell.callbacks = self._on_end
                heapq.heappush(env._queue, (at, NORMAL, next(env._eid), cell))
            elif not setup and cell.ahead and EPS < duration < cell.ttf_left and env._now < cell.free_until and not cell.free_until - env._now < duration:
                # A cell with a calendar (a bay, planned windows) whose next window, as last read,
                # starts after this work: `_work_out`'s one segment (Floor._segment) inline, the
                # same float steps (burn-in bays' operations, most of them).
                cell.ttf_left -= duration
                cell.started = now = env._now
                cell.callbacks = self._on_end
                heapq.heappush(env._queue, (now + duration, NORMAL, next(env._eid), cell))
            elif cell.ahead:
                stopped, at, left, stop, started, waits = self._work_out(cell, task, setup, duration)
                if stopped is not None:
                    self._drive(cell, self._after_stop(cell, task, stopped, at, left, stop, started))
                    return
                cell.started = started
                if waits:
                    cell.callbacks = self._on_end
                    heapq.heappush(env._queue, (at, NORMAL, next(env._eid), cell))
                elif self._end(cell):  # no work to wait for: done at once, as the process did
                    continue  # the cell's next task, now
            else:
                self._drive(cell, self._process_rest(cell, task, setup, duration))
            return

    def _ended(self, cell: CellRun) -> None:
        """The operation's end (the cell's event): `_end` (inline: once per operation), then the next task."""
        log = cell.log
        if log:  # worked out ahead: its state changes, all up to now (`_told` at the operation's end)
            self.obs.states(cell.obs_id, log)
            log.clear()
        task, cell.task = cell.task, None
        blocked = self._finish(cell, task, cell.started)
        if blocked is not None:
            self._drive(cell, self._blocked(cell, task, blocked))
        elif cell.pending:
            cell.task = cell.pending.popleft()
            self._begin(cell)
        else:
            self._wait(cell)

    def _end(self, cell: CellRun) -> bool:
        """The cell's operation ends now: finish it; whether the cell takes up its next task now
        (set as `cell.task`, for the caller to begin), else it blocks or waits. (`_ended` has
        it inline.)"""
        if cell.log:  # an operation worked out ahead: its state changes up to now
            self._told(cell)
        task, cell.task = cell.task, None
        blocked = self._finish(cell, task, cell.started)
        if blocked is not None:
            self._drive(cell, self._blocked(cell, task, blocked))
        elif cell.pending:  # _next, inline
            cell.task = cell.pending.popleft()
            return True
        else:
            self._wait(cell)
        return False

    def _drive(self, cell: CellRun, gen, value=None) -> None:
        """Run an operation's generator until it waits, resuming it from the event it waits for
        (as simpy.Process does, without its wake-up event to start); when it is done, the cell
        takes its next task."""
        while True:
            try:
                ev = gen.send(value)
            except StopIteration:
                self._next(cell)
                return
            if ev.callbacks is not None:
                ev.callbacks.append(partial(self._resume, cell, gen))
                return
            value = ev._value  # already processed: go on at once

    def _resume(self, cell: CellRun, gen, ev: simpy.Event) -> None:
        self._drive(cell, gen, ev._value)


def _duration(cell: CellRun, op: OpDef, share: float) -> float:
    """An operation's work time on the cell: nominal x the station's factor x a draw from the
    cell's own stream x the share of the operation this task does."""
    duration = op.duration * op.factor[cell.station.index]
    shape = op.shape
    if shape.kind == 2:  # lognormal, the catalog's usual shape: inline
        duration *= math.exp(shape.sigma * cell.normal() - shape.half_var)
    elif shape.kind:
        duration *= cell.times.multiplier(shape)
    return duration * share
