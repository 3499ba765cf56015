"""The floor's short ways for the common cases do what the general ways do, to the last bit:
an operation meeting busy-time failures worked out in one call (`Floor._fails_ahead`) against
the step through `_segment` it replaces, and one next operation passed on by `_pass_on_one`
against the general `_pass_on_now` (same answer, same places, vehicles, queues and trips)."""
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


def _floor(seed: int = 0) -> Floor:
    layout = compile_layout(mini_floor())
    env = simpy.Environment()
    observer = Observer(env, 86400.0, 3600.0, [s.slots for s in layout.stations], len(layout.products))
    return Floor(env, layout, observer, lambda source: Stream(stream_seed(seed, 0, source)))


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
    queue = [(t, p, e.unit.key, [(s.index, op, place) for s, op, place in e.moves])
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


def test_one_next_operation_passed_on_as_the_general_way_does():
    probe = _floor()
    product = next(p for p in probe.layout.products if len(p.ops) >= 3)
    checked = 0
    for op, here_same, free, held, rework, holds, fleet_free in itertools.product(
            range(1, len(product.ops)), (True, False), (0, 1, math.inf), (False, True), (False, True), (False, True), (0, 2)):
        floors = [_floor(), _floor()]
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
    assert checked > 100

