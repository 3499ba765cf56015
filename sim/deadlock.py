"""Blocking deadlocks on the floor: the units waiting for a place, a check (run only when a unit
blocks or a place or cell frees with units waiting) whether a cycle of them has closed, and the
way a floor breaks one, by parking one unit of the cycle off the floor.

With finite buffers, units can each hold a place and wait for a place held by the next (a plan
swapping two units between two stations without buffer places; the scheduler frees a machine at
an operation's end). A floor breaks such a cycle by taking one unit off its cell onto a parking
place / AGV off the floor; the twin does the same, when the cycle closes."""
from __future__ import annotations

from typing import Callable

import simpy

from scheduler.control.controller import RUNNING
from sim.entities import QUEUED, CellRun, PlaceWait, Station, Unit


class Deadlocks:
    """The floor's units waiting for a place and the deadlocks among them (`cells`: the floor's
    cell slots by name; `control`: the plan's bridge, None under a dispatch rule)."""

    def __init__(self, env: simpy.Environment, cells: dict[str, CellRun], control=None) -> None:
        self.env = env
        self.cells = cells
        self.control = control
        self.waits: dict[simpy.Event, PlaceWait] = {}  # units waiting for a place, by their wait event
        self.resolved = 0  # blocking deadlocks broken: a unit parked off the floor (or parked work queued, _queue_parked)
        self._cells_of: dict[int, list[int]] = {}  # executing a plan: station index -> its cells' plan indices
        self.parked_moves: dict[simpy.Event, list] = {}  # a parked unit's wait -> its moves held back (see _queue_parked)
        self.queue_held: Callable[[Unit, list], list] | None = None  # the floor's _queue_held
        # Executing a plan strictly in its order (blind: look-ahead 1, no help, no routing): a free
        # cell starts only the head of its sequence (see _behind_head).
        config = control.ctrl.config if control is not None else None
        self.strict = config is not None and config.lookahead == 1 and not config.pool_help and not config.route

    def add(self, wait: PlaceWait) -> PlaceWait:
        """A unit starts waiting for a place: a deadlock may close through the place it wants."""
        self.waits[wait.ev] = wait
        if wait.at is not None:
            wait.at.blocked_slots += 1
        self.check(wait.wants)
        return wait

    def drop(self, wait: PlaceWait) -> None:
        if self.waits.pop(wait.ev, None) is not None and wait.at is not None:
            wait.at.blocked_slots -= 1

    def wait_off_floor(self, unit: Unit, station: Station, ev: simpy.Event, moves: list | None = None):
        """Generator: a unit off the floor (held back at release, or parked) waits for a place
        (`moves`: a parked unit's next operations held back with it, see `_queue_parked`)."""
        if not unit.held and not self.strict:
            # Holds no place (a held-back release, most often): it cannot close a cycle. (Under
            # blind it can: cells wait for its work, the heads of their sequences; _behind_head.)
            yield ev
            return
        if moves is not None:
            self.parked_moves[ev] = moves
        wait = self.add(PlaceWait(unit, station, None, None, False, ev))
        yield ev
        self.drop(wait)
        self.parked_moves.pop(ev, None)

    def check(self, station: Station) -> None:
        """If no place of `station` can ever free (a deadlock has just closed through it), park one
        unit of the deadlock off the floor: its cell is free again and its place there goes to
        the next unit waiting for it. It keeps its turn for the place it waits for."""
        stuck = self._deadlock(station)
        if not stuck:
            return
        on_slot = [w for w in stuck if w.at is not None]
        # The search gathers every unit waiting behind `station`, also ones off the cycle: a place
        # freed where the cycle does not pass breaks nothing, and nothing checks again.
        wants = _wants(stuck)
        victim = next((w for w in on_slot if w.frees and _on_cycle(w, wants)),
                      next((w for w in on_slot if w.frees), on_slot[0] if on_slot else None))
        # Only units off the floor (held-back releases; parked units, each holding a place the
        # other waits for: seen in random plans under blind, rare): no cell to clear.
        if victim is None:
            self._queue_parked(stuck)
            return
        waiters = victim.wants.place_waiters
        parking = self.env.event()
        waiters[waiters.index(victim.ev)] = parking
        self.drop(victim)
        victim.ev.succeed(parking)
        self.resolved += 1

    def _queue_parked(self, stuck: list[PlaceWait]) -> None:
        """A deadlock of units off the floor only: a parked unit holding a place it took off the
        floor (its work there held back with it, until it has its last place) has that work
        queued there now. The cells can run it: the unit then blocks on a slot (a deadlock the
        floor breaks by parking) or moves on. (Queued at once whenever a parked unit gets a
        place, rather than only here, it changed other runs: seed 1207 of the sweep stopped.)"""
        for w in stuck:
            moves = self.parked_moves.get(w.ev)
            if moves and any(has_place for *_, has_place in moves):
                held = list(moves)
                moves[:] = [move for move in held if not move[2]]  # before queuing: a check it starts sees them gone
                self.queue_held(w.unit, held)
                self.resolved += 1
                return

    def _deadlock(self, start: Station) -> list[PlaceWait] | None:
        """The waiting units of a deadlock through `start`, or None while a place there can still
        free. A full station is stuck when every unit holding a place there waits for a place at a
        stuck station; units holding one without waiting (queued, on their way) count as stuck only
        when every cell that could take them holds a stuck unit. Every condition is an 'all', so
        the search stops at the first unit that can still move."""
        waits = None
        seen = {start.index}
        todo = [start]
        stuck: list[PlaceWait] = []
        while todo:
            s = todo.pop()
            # A free place, or a cell here at work (it will free a place or a cell, or wait, and
            # each of those checks again): not stuck.
            if s.places_free > 0 or s.engaged > s.blocked_slots:
                return None
            if waits is None:
                waits = [w for w in self.waits.values() if not w.ev.triggered]  # a granted or parked wait moves
            holders = [w for w in waits if s.index in w.unit.held]
            others = s.places - len({w.unit.key for w in holders})  # queued, on their way, working
            chain = holders
            if others > 0:
                # Units holding a place here without waiting move once a cell here takes them: in
                # dispatch mode, a free cell takes them at once.
                if s.engaged < s.slots and self.control is None:
                    return None
                if self.control is not None:
                    behind = self._stuck_behind(s, waits)
                else:  # every cell here holds a waiting unit
                    behind = [w for w in waits if w.at is s]
                    if len(behind) < s.slots:
                        behind = None
                if behind is None:
                    return None
                chain = holders + behind
            for w in chain:
                stuck.append(w)
                if w.wants.index not in seen:
                    seen.add(w.wants.index)
                    todo.append(w.wants)
        return stuck

    def _stuck_behind(self, s: Station, waits: list[PlaceWait]) -> list[PlaceWait] | None:
        """Executing a plan, with no cell of `s` working: the units holding a place at `s` without
        waiting themselves are work the controller hands to cells. Each is stuck when every open
        task of it is: handed to a cell whose slots all hold a waiting unit, or not handed yet and
        either waiting for another task of its unit (a redo) or with every slot of its station
        holding a waiting unit. Returns the waits those depend on, or None when one can move."""
        control = self.control
        waiting = {w.unit.key for w in waits}
        on_slot = {id(w.cell): w for w in waits if w.cell is not None}
        tasks: dict[int, list] = {}  # unit key -> its open tasks (task, cell it is handed to or -1)
        for task in control.ready_tasks.values():
            if task.unit.key not in waiting:
                tasks.setdefault(task.unit.key, []).append((task, -1))
        for c, queue in enumerate(control.pending):
            for task in queue:
                if task.unit.key not in waiting:
                    tasks.setdefault(task.unit.key, []).append((task, c))
        holding = [k for k, ts in tasks.items() if s.index in ts[0][0].unit.held]
        if len(holding) < s.places - len({w.unit.key for w in waits if s.index in w.unit.held}):
            return None  # a unit holds a place here and is on its way or at work
        behind: list[PlaceWait] = []

        def blocked(slots) -> bool:
            if all(id(slot) in on_slot for slot in slots):
                behind.extend(on_slot[id(slot)] for slot in slots)
                return True
            return False

        for key in holding:
            unit_tasks = tasks[key]
            unit = unit_tasks[0][0].unit
            if sum(1 for st in unit.status if st == QUEUED) > len(unit_tasks):
                return None  # one of its operations is at work or on its way
            for task, c in unit_tasks:
                if c >= 0:
                    if not blocked(control.slots[c]):
                        return None
                elif control.startable(task):
                    station = control.station(unit, task.op)
                    if not blocked([slot for c2 in self._cells(station) for slot in control.slots[c2]]):
                        head = self._behind_head(task, station, waits)
                        if head is None:
                            return None
                        behind.extend(head)
        return behind

    def _behind_head(self, task, station: Station, waits: list[PlaceWait]) -> list[PlaceWait] | None:
        """Following the plan strictly (blind: look-ahead 1, no help, no routing), a free cell starts
        only the head of its sequence: a ready task planned behind a head whose unit is held back
        (it waits for a place, with no operation at work or arrived anywhere: its next operations
        go on only with it, see `Floor._pass_on`) cannot start while that wait lasts, free cell or
        not. Returns that unit's waits (the task is stuck if they are), or None when the task may
        start: another control, a full station (a free cell takes its earliest ready task then),
        its cell at work or down, the task at the head, or a head that can get ready otherwise."""
        control = self.control
        ctrl = control.ctrl
        if not self.strict or station.place_waiters:
            return None
        tid = task.tid
        c = ctrl.cell[tid]
        if c < 0 or ctrl.in_rework[tid] or control.pending[c]:
            return None
        cell = ctrl._cells[c]
        if not cell.up or cell.running:  # (a slot holding a unit that waits ran a task already done)
            return None  # a slot at work: its end is a new pick (and a new check)
        head = next(ctrl.queue(c), -1)
        if head < 0 or head == tid or control.floor.fleet is not None:
            return None  # with AGVs, a unit's next operations may be on a trip: they arrive
        held_back = [w for w in waits if 0 <= w.unit.first <= head < w.unit.first + len(w.unit.status)]
        if not held_back:
            return None
        first = held_back[0].unit.first
        tasks = range(first, first + len(held_back[0].unit.status))
        if any(ctrl.status[t] == RUNNING or t in control.ready_tasks for t in tasks):
            return None  # at work, handed to a cell, or arrived: it may go on without its waits
        return held_back

    def _cells(self, s: Station) -> list[int]:
        cells = self._cells_of.get(s.index)
        if cells is None:
            cells = self._cells_of[s.index] = sorted({cell.index for cell in self.cells.values() if cell.station is s})
        return cells


def _wants(stuck: list[PlaceWait]) -> dict[int, set[int]]:
    """Station -> the stations the stuck units holding a place there (or sitting there) want."""
    wants: dict[int, set[int]] = {}
    for w in stuck:
        for s in (*w.unit.held, w.at.index if w.at is not None else -1):
            wants.setdefault(s, set()).add(w.wants.index)
    return wants


def _on_cycle(victim: PlaceWait, wants: dict[int, set[int]]) -> bool:
    """Whether the place `victim` frees at its station is one the cycle waits for: its station
    is reached again from the station it wants (`wants`: see _wants)."""
    home, seen, todo = victim.at.index, set(), [victim.wants.index]
    while todo:
        s = todo.pop()
        if s == home:
            return True
        if s not in seen:
            seen.add(s)
            todo.extend(wants.get(s, ()))
    return False
