"""The floor's short ways for the common cases do what the general ways do, to the last bit:
an operation meeting busy-time failures worked out in one call (`Floor._fails_ahead`) against
the step through `_segment` it replaces, and one next operation passed on by `_pass_on_one`
against the general `_pass_on_now` (same answer, same places, vehicles, queues and trips)."""
import functools
import itertools
import math
import random
from types import SimpleNamespace

import pytest
import simpy

from sim.entities import EPS
from sim.floor import Floor, _Trip
from sim.layout import compile_layout
from sim.observer import BUSY, DOWN, SETUP, Observer
from sim.streams import Stream, stream_seed
from twin_cases import mini_floor


@functools.lru_cache(maxsize=1)
def _layout():
    return compile_layout(mini_floor())  # read only by the floor: one for every floor of this file


def _floor(seed: int = 0, transport: tuple[int, float, float] = (0, 0.0, 0.0)) -> Floor:
    layout = _layout()
    env = simpy.Environment()
    observer = Observer(env, 86400.0, 3600.0, [s.slots for s in layout.stations], len(layout.products))
    return Floor(env, layout, observer, lambda source: Stream(stream_seed(seed, 0, source)), transport=transport)


def _failing_cells(floor: Floor) -> list:
    return [c for c in floor.cells.values() if c.failures is not None and c.calendar is None]


def _stepped(floor: Floor, cell, at: float, work: float, state: int, notice: float):
    """The way `_ahead` worked out failures before: one `_segment` per chunk."""
    log = []
    while work > EPS:
        stop, chunk, repair = floor._segment(cell, at, work)
        assert stop is None  # no calendar
        if repair is None:
            at += chunk
            work -= chunk
        elif repair >= notice:
            return at, work - chunk, (chunk, repair), log
        else:
            at += chunk + repair
            work -= chunk
            log.append((DOWN, at - repair))
            log.append((state, at))
    return at, 0.0, None, log


@pytest.mark.parametrize("notice", [math.inf, 900.0])
def test_failures_worked_out_in_one_call_as_segment_by_segment(notice):
    one, stepped = _floor(), _floor()  # the same streams
    one.control = SimpleNamespace(notice_s=notice)  # what _fails_ahead reads of a plan's bridge
    rng = random.Random(7)
    pairs = list(zip(_failing_cells(one), _failing_cells(stepped)))
    assert len(pairs) >= 5
    stops = 0
    for a, b in pairs:
        at = 0.0
        for _ in range(40):  # operations one after another: the time to failure carries over
            work, state = rng.choice([rng.uniform(0, 3 * a.mttf), rng.uniform(0, 0.1), 0.0]), rng.choice([BUSY, SETUP])
            log: list = []
            got = one._fails_ahead(a, at, work, state, log)
            want = _stepped(stepped, b, at, work, state, notice)
            assert got == want[:3] and log == want[3]
            assert a.ttf_left == b.ttf_left
            stops += got[2] is not None
            at = got[0] + rng.uniform(0, 100.0)
    assert (stops > 0) == (notice < math.inf)


def _snapshot(floor: Floor) -> tuple:
    # A trip of one move carries it in its own fields (`moves` None), as `_arrive` reads it.
    queue = [(t, p, e.unit.key, [(s.index, op, place) for s, op, place in (e.moves or [(e.station, e.op, e.has_place)])])
             for t, p, _, e in sorted(floor.env._queue, key=lambda x: x[:3]) if isinstance(e, _Trip)]
    heaps = [[(t.unit.key, t.op, t.since, t.has_place) for _, _, t in sorted(st.heap, key=lambda x: x[:2])]
             for st in floor.stations]
    return ([st.places_free for st in floor.stations], heaps, queue, floor.fleet.free if floor.fleet else None)


def _case(floor: Floor, product: int, op: int, here: int, free: float, held: bool, fleet_free: int):
    """A unit of `product` finishing on a cell of station `here`, its next operation `op`."""
    unit = floor.new_unit(product, 1e6)
    target = floor.stations[floor.layout.products[product].ops[op].options[0][0]]
    cell = next(c for c in floor.cells.values() if c.station.index == here)
    target.places_free = free
    if held:
        unit.held[target.index] = 1
    if floor.fleet is not None:
        floor.fleet.free = fleet_free
    return cell, unit


@pytest.mark.parametrize("transport", [(0, 0.0, 0.0), (2, 180.0, 0.3)])  # no AGVs; AGVs with lognormal trips
def test_one_next_operation_passed_on_as_the_general_way_does(transport):
    probe = _floor()
    product = next(p for p in probe.layout.products if len(p.ops) >= 3)
    checked = trips = 0
    for op, here_same, free, held, rework, holds, fleet_free in itertools.product(
            range(1, len(product.ops)), (True, False), (0, 1, math.inf), (False, True), (False, True), (False, True), (0, 2)):
        floors = [_floor(transport=transport), _floor(transport=transport)]
        target = product.ops[op].options[0][0]
        here = target if here_same else (target + 1) % len(probe.stations)
        results = []
        for floor, way in zip(floors, ("one", "general")):
            cell, unit = _case(floor, product.index, op, here, free, held, fleet_free)
            if way == "one":
                kept = floor._pass_on_one(cell, unit, op, rework, holds)
            else:
                kept = floor._pass_on_now(cell, unit, [op], rework, holds)
            results.append((kept, dict(unit.held), _snapshot(floor)))
        assert results[0] == results[1], (op, here_same, free, held, rework, holds, fleet_free)
        checked += 1
        trips += len(results[0][2][2])
    assert checked > 100
    assert (trips > 0) == (transport[0] > 0)


def test_a_trip_of_one_move_arrives_as_a_trip_of_its_list():
    """`_arrive` queues a unit carried by a one-move trip (`_pass_on_one`'s) as the same move in
    a list (`_send`'s): the same task at the same station, the vehicle freed the same way."""
    out = []
    for one in (True, False):
        floor = _floor(transport=(2, 180.0, 0.3))
        product = next(p for p in floor.layout.products if len(p.ops) >= 3)
        station = floor.stations[product.ops[1].options[0][0]]
        unit = floor.new_unit(product.index, 1e6)
        trip = _Trip()
        trip.callbacks, trip._ok, trip.unit = [floor._arrive], True, unit
        if one:
            trip.moves, trip.station, trip.op, trip.has_place = None, station, 1, True
        else:
            trip.moves = [(station, 1, True)]
        floor.fleet.free = 0
        floor._arrive(trip)
        out.append(([(t.unit.key, t.op, t.since, t.has_place) for _, _, t in station.heap], floor.fleet.free))
    assert out[0] == out[1] and out[0][0] and out[0][1] == 1



def test_a_cell_without_busy_time_failures_never_reaches_its_time_to_failure():
    """PlanCells._begin takes an operation's work off `ttf_left` without asking whether the cell
    fails on the busy-time clock: one that does not keeps it at inf, which work never changes."""
    floor = _floor()
    plain = [c for c in floor.cells.values() if c.failures is None]
    assert plain and all(c.ttf_left == math.inf for c in plain)
    for cell in plain:
        for work in (0.0, EPS, 1.0, 1e12):
            cell.ttf_left -= work
        assert cell.ttf_left == math.inf


def test_work_before_a_calendar_cells_next_window_is_one_segment():
    """PlanCells._begin runs an operation of a cell with a calendar (bays, planned windows) as one
    event at now + work when the cell's next window, as last read (`free_until`), starts after
    the work and no busy-time failure comes first: what `_ahead` works out then, to the bit."""
    floor = _floor()
    cells = [c for c in floor.cells.values() if c.calendar is not None]
    assert cells
    rng = random.Random(11)
    fast = slow = 0
    for cell in cells:
        at = rng.uniform(0.0, 3600.0)
        for _ in range(60):
            work = rng.choice([rng.uniform(0.0, 3 * 3600.0), rng.uniform(0.0, 60.0), rng.uniform(0.0, 2 * EPS)])
            one_segment = EPS < work < cell.ttf_left and at < cell.free_until and not cell.free_until - at < work
            ttf, log = cell.ttf_left, list(cell.log)
            got = floor._ahead(cell, at, work, BUSY)
            if one_segment:
                assert got == (at + work, 0.0, None) and cell.log == log
                assert cell.ttf_left == (ttf - work if cell.failures is not None else ttf)
                fast += 1
            else:
                slow += 1
            at = got[0] + rng.choice([0.0, rng.uniform(0.0, 600.0)])
    assert fast > 50 and slow > 10
