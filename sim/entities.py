"""What the floor model moves and works with: units (orders on the floor), tasks (one
operation waiting for a cell), stations (a cell type's shared queue and buffer), cell slots
and the AGV pool. Plain records with slots; behaviour lives in sim.floor."""
from __future__ import annotations

import math
from collections import deque
from typing import Callable

import simpy

from sim.calendar import Calendar
from sim.layout import ProductDef, StationDef
from sim.streams import Shape, Stream

WAITING, QUEUED, DONE = 0, 1, 2
EPS = 1e-9  # seconds of work below this are none (what float sums leave of a finished piece)


class Unit:
    """One order on the floor (a rack, a CDU ...): where each of its operations stands."""

    __slots__ = ("key", "name", "product", "due", "released", "pending", "status", "ops_left", "reworks", "held", "first")

    def __init__(self, key: int, name: str, product: ProductDef, due: float, now: float, state: tuple | None = None) -> None:
        self.key = key
        self.name = name
        self.product = product
        self.due = due
        self.released = now
        if state is None:  # nothing done yet
            self.pending = [len(op.preds) for op in product.ops]
            self.status = [WAITING] * len(product.ops)
            self.ops_left = len(product.ops)
        else:  # (pending, status, ops_left) to start from, copied: a plan's unit carried in half built
            pending, status, self.ops_left = state
            self.pending, self.status = pending.copy(), status.copy()
        self.reworks = 0
        self.held: dict[int, int] = {}  # station index -> this unit's operations sharing its one place there
        self.first = -1  # executing a plan: the plan's task id of its first operation (the others follow)


class Task:
    """One operation of one unit waiting for (or on) a cell."""

    __slots__ = ("unit", "op", "since", "has_place", "planned", "tid", "share")

    def __init__(self, unit: Unit, op: int, since: float, has_place: bool) -> None:
        self.unit = unit
        self.op = op
        self.since = since
        self.has_place = has_place
        self.planned: float | None = None  # planned start, when executing a plan
        self.tid = -1  # the plan's task id, when executing a plan (set when the unit is there)
        self.share = 1.0  # of the nominal work still to do: < 1 for work running at a plan's cut, on its first start


class Station:
    """The cells of one type: one shared input queue (a heap ordered by the dispatch rule), the
    free places of its input buffer, and the cells waiting for work."""

    __slots__ = ("defn", "index", "heap", "seq", "waiting", "places_free", "place_waiters", "engaged", "slots",
                 "places", "blocked_slots")

    def __init__(self, defn: StationDef) -> None:
        self.defn = defn
        self.index = defn.index
        self.heap: list = []
        self.seq = 0
        self.waiting: deque = deque()
        # A place is a buffer place or a cell: a unit holds one from entering the station until
        # its cell passes it on, so a cell blocked downstream still fills its own place.
        self.places = math.inf if defn.places is None else defn.places + defn.slots
        self.places_free = self.places
        self.place_waiters: deque = deque()
        self.engaged = 0  # slots holding a unit (working, changing over, down with it, blocked)
        self.slots = defn.slots
        self.blocked_slots = 0  # slots holding a finished unit that waits for a place downstream


class PlaceWait:
    """A unit waiting for a place at `wants`: on a slot of `at` (`cell`, blocking after service) or
    off the floor (`at` None: a held-back release, or a unit parked to break a deadlock). Kept only
    while it waits, so the floor can tell a deadlock when one forms."""

    __slots__ = ("unit", "wants", "at", "cell", "frees", "ev")

    def __init__(self, unit: Unit, wants: Station, at: Station | None, cell, frees: bool, ev: simpy.Event) -> None:
        self.unit = unit
        self.wants = wants
        self.at = at
        self.cell = cell
        self.frees = frees  # the unit leaving its slot frees its place at `at` (no next operation keeps it)
        self.ev = ev


class CellRun:
    """The run-time state of one cell slot."""

    # Slots lie in this order: first what an operation's start and end read and write (SimPy's
    # loop, sim.plancells, Floor._take_up/_finish), side by side, so a cell that has gone cold
    # (1,485 of them on the 1 GW floor, each touched twice an operation) costs two or three cache
    # lines, not its five; then failures, then what only set-up and rare paths read.
    __slots__ = ("callbacks", "_ok", "task", "started", "ttf_left", "calendar", "station", "obs_id", "setup", "family",
                 "normal", "log", "pending", "idle", "index", "waiting_slots", "slot", "ahead", "free_until",
                 "failures", "mttf", "mttr", "repair_draw", "failure_draw",
                 "_value", "name", "cell_id", "times", "wait_ev", "watched", "windows")

    def __init__(self, name: str, station: Station, obs_id: int) -> None:
        self.name = name
        self.cell_id = name.split("/", 1)[0]
        self.station = station
        self.obs_id = obs_id
        self.times: Stream | None = None
        self.normal: Callable[[], float] | None = None  # times.normal, bound (a draw of the operations' usual shape)
        self.failures: Stream | None = None
        self.ttf_left = math.inf
        self.mttf = 0.0
        self.mttr = 0.0
        # Its failure stream's draws, bound once (Stream.draw_of): a repair's multiplier, the next time to failure.
        self.repair_draw: Callable[[], float] | None = None
        self.failure_draw: Callable[[], float] | None = None
        self.calendar: Calendar | None = None
        self.free_until = -math.inf  # no calendar window starts before this (the next one's start when last read)
        self.family: str | None = None
        self.wait_ev: simpy.Event | None = None
        self.setup = _setup_of(station.defn)
        self.ahead = True  # the operation is worked out when it starts (False: step by step, the reference way)
        self.watched = False  # the controller bridge hears of its calendar's stops (through a reader of its own)
        # (kind, iterator) per source of its calendar while the floor is built: readers copy them
        # (sim.floor.Floor.calendar_of); None after.
        self.windows: list | None = []
        self.log: list[tuple[int, float]] = []  # state changes worked out ahead, not yet told to the observer
        self.index = -1  # the cell's index in an executed plan (its slots share it)
        self.slot = 0  # which slot of its cell
        self.waiting_slots: list[int] | None = None  # executing a plan, a bay's slots waiting for work (a heap, shared)
        # Executing a plan, a cell is no process (sim.plancells): it is its own reusable event in
        # SimPy's queue (the hand-over, then the operation's end: what SimPy's loop reads of an
        # event, as sim.floor._Trip), and keeps the task on it, when its work started, and
        # whether it waits for work.
        self.callbacks: list | None = None
        self._ok = True
        self._value = None
        self.task = None
        self.started = 0.0
        self.idle = False
        self.pending = None  # executing a plan, the tasks started on the cell that no slot has taken yet (the bridge's)


def _setup_of(defn: StationDef) -> float:
    # Setups apply to single-job cells; a bay holding many units has no one product on it.
    return defn.setup if defn.capacity == 1 else 0.0


class Fleet:
    """The AGV pool: a count of free vehicles and the cells waiting for one."""

    __slots__ = ("free", "waiters", "travel", "shape", "stream", "sigma", "half_var", "normal")

    def __init__(self, vehicles: int, travel: float, cv: float, stream: Stream) -> None:
        self.free = vehicles
        self.waiters: deque = deque()
        self.travel = travel
        self.shape = shape = Shape.of("lognormal", cv)
        self.stream = stream
        # A trip's lognormal multiplier, exp(sigma z - sigma^2 / 2) (Stream.multiplier), on the
        # stream's normal draw bound once; None: every trip takes `travel`.
        self.sigma, self.half_var = shape.sigma, shape.half_var
        self.normal: Callable[[], float] | None = stream.normal if shape.kind == 2 else None
        # (Floor._send draws a trip's travel time from these, inline.)
